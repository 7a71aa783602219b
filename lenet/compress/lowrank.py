"""Low-rank factorisation by truncated SVD -> a NEW Arch with two thinner layers in place of one (NumPy only).

Dense ``W (in, out) = U S V^T``; keeping the ``r`` largest singular values,
``W_r = (U_r sqrt(S_r)) (sqrt(S_r) V_r^T)`` is two dense layers ``in -> r``
(no bias) and ``r -> out`` (the original bias) with no activation between:
``Dense(r), Dense(out)`` in the spec.  By Eckart-Young, ``W_r`` is the best
rank-``r`` approximation: ``||W - W_r||_2 = s_{r+1}`` and
``||W - W_r||_F = sqrt(sum_{i>r} s_i^2)``.  It saves MACs only when
``r (in + out) < in * out``.

Conv (channel SVD): ``W (out, in, k, k)`` as the ``(out, in*k*k)`` matrix,
factorised the same way, becomes ``Conv(r, k)`` (same stride and padding)
followed by a 1x1 ``Conv(out, 1)``: ``r (in k^2 + out)`` MACs per output
pixel instead of ``out in k^2``.

The singular values are split evenly (``sqrt(S)`` on each side) so that the
two factors have the same scale, which fine-tuning prefers.  The classifier
is never factorised.
"""
from __future__ import annotations

import numpy as np

from ..io.weights import check_weights
from ..spec import Arch, Conv, Dense


def _matrix(layer, w: np.ndarray) -> np.ndarray:
    return w.reshape(w.shape[0], -1) if isinstance(layer, Conv) else w


def max_useful_rank(arch: Arch, i: int) -> int:
    """Largest rank at which factorising layer ``i`` still saves MACs (0 if none does)."""
    layer = arch.layers[i]
    shape = arch.weight_shapes()[f"{i}.weight"]
    if isinstance(layer, Conv):
        out, kk = shape[0], int(np.prod(shape[1:]))
        return max(0, -(-out * kk // (kk + out)) - 1)
    n_in, n_out = shape
    return max(0, -(-n_in * n_out // (n_in + n_out)) - 1)


def plan(arch: Arch, rank: int, conv: bool = False) -> dict[int, int]:
    """``{layer index: rank}`` for every hidden dense layer (and conv, if ``conv``) where ``rank`` saves MACs."""
    out = {}
    params = arch.param_layers()
    for i in params[:-1]:
        layer = arch.layers[i]
        if isinstance(layer, Dense) or (conv and isinstance(layer, Conv)):
            if 1 <= rank <= max_useful_rank(arch, i):
                out[i] = int(rank)
    return out


def svd_factors(w: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(A, B, s)`` with ``A @ B`` the best rank-``rank`` approximation of the 2-D ``w``; ``s`` all singular values."""
    u, s, vt = np.linalg.svd(np.asarray(w, np.float64), full_matrices=False)
    if not 1 <= rank <= len(s):
        raise ValueError(f"rank must lie in 1..{len(s)} for a {w.shape} matrix, got {rank}")
    root = np.sqrt(s[:rank])
    return u[:, :rank] * root, root[:, None] * vt[:rank], s


def factorize(arch: Arch, weights: dict, ranks: dict[int, int], name: str | None = None
              ) -> tuple[Arch, dict[str, np.ndarray]]:
    """Replace each layer ``i`` in ``ranks`` by its rank-``ranks[i]`` factorisation.

    Returns the new arch (layers after each split shift by one index) and its
    canonical weights.
    """
    weights = check_weights(arch, weights)
    params = arch.param_layers()
    for i in ranks:
        if i not in params or i == params[-1]:
            raise ValueError(f"layer {i} of {arch.name} is not a hidden conv or dense layer")
    layers, new = [], {}
    for i, layer in enumerate(arch.layers):
        j = len(layers)
        if i not in ranks:
            layers.append(layer)
            if f"{i}.weight" in weights:
                new[f"{j}.weight"], new[f"{j}.bias"] = weights[f"{i}.weight"], weights[f"{i}.bias"]
            continue
        r, w, b = ranks[i], weights[f"{i}.weight"], weights[f"{i}.bias"]
        a, bb, _ = svd_factors(_matrix(layer, w), r)
        if isinstance(layer, Dense):
            # W (in, out) ~ a (in, r) @ bb (r, out): x @ W = (x @ a) @ bb
            layers += [Dense(r), Dense(layer.units)]
            new[f"{j}.weight"], new[f"{j + 1}.weight"] = a, bb
        else:
            # W (out, in*k*k) ~ a (out, r) @ bb (r, in*k*k): conv with bb's rows, then a 1x1 conv with a
            out, cin, k, _ = w.shape
            layers += [Conv(r, k, stride=layer.stride, padding=layer.padding), Conv(out, 1)]
            new[f"{j}.weight"] = bb.reshape(r, cin, k, k)
            new[f"{j + 1}.weight"] = a.reshape(out, r, 1, 1)
        new[f"{j}.bias"] = np.zeros(r, np.float32)
        new[f"{j + 1}.bias"] = b
    tag = "-".join(f"{i}r{r}" for i, r in sorted(ranks.items()))
    new_arch = Arch(name or f"{arch.name}-svd{tag}", arch.input_shape, arch.num_classes, tuple(layers))
    return new_arch, check_weights(new_arch, {k: np.asarray(v, np.float32) for k, v in new.items()})


def reconstruct(arch_lr: Arch, weights_lr: dict, j: int) -> np.ndarray:
    """The product of the factor pair starting at layer ``j`` of a factorised arch, in the original layout."""
    first = arch_lr.layers[j]
    a, b = weights_lr[f"{j}.weight"], weights_lr[f"{j + 1}.weight"]
    if isinstance(first, Dense):
        return a @ b
    out, r = b.shape[0], b.shape[1]
    return (b.reshape(out, r) @ a.reshape(r, -1)).reshape(out, *a.shape[1:])


def truncation_error(w: np.ndarray, rank: int, layer=None) -> dict:
    """Eckart-Young errors of the best rank-``rank`` approximation: spectral ``s_{r+1}``, Frobenius tail."""
    m = w.reshape(w.shape[0], -1) if (layer is not None and isinstance(layer, Conv)) or w.ndim == 4 else w
    s = np.linalg.svd(np.asarray(m, np.float64), compute_uv=False)
    return {"spectral": float(s[rank]) if rank < len(s) else 0.0, "frobenius": float(np.sqrt((s[rank:] ** 2).sum()))}
