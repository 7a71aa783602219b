"""Structured pruning: whole conv filters and dense neurons removed by L1 norm -> a NEW, smaller Arch (NumPy only).

For every conv or dense layer except the classifier, the ``fraction`` of its
outputs (filters or neurons) with the smallest L1 norm of their incoming
weights is removed: the layer's weight and bias lose those rows, and the next
layer with parameters loses the matching inputs.  Between the two only
per-channel layers can stand (activations, pooling, Flatten), so removing a
channel removes it everywhere; after a Flatten of a ``(C, H, W)`` map the
next dense layer loses the ``H * W`` rows of each removed channel (rows are in
``(C, H, W)`` order, see :mod:`lenet.spec`).

Unlike masking, this changes the spec: ``Conv(6)`` becomes ``Conv(3)``, so
:func:`lenet.counting.count` gives the new, smaller MACs, and every backend
runs the result because it is only a spec plus canonical weights.  Removing
a filter changes the function (its output was not zero), hence the
fine-tuning afterwards.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..io.weights import check_weights
from ..spec import Arch, Conv, Dense, Flatten


def kept_count(n: int, fraction: float) -> int:
    """Outputs kept when ``fraction`` of ``n`` is removed: ``n - round(fraction * n)``, at least 1."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must lie in [0, 1), got {fraction}")
    return max(1, n - int(round(fraction * n)))


def l1_norms(layer, w: np.ndarray) -> np.ndarray:
    """L1 norm of each output's incoming weights: per conv filter (out, in, k, k), per dense column (in, out)."""
    return np.abs(w).sum(axis=(1, 2, 3)) if isinstance(layer, Conv) else np.abs(w).sum(axis=0)


def structured_prune(arch: Arch, weights: dict, fraction: float, name: str | None = None
                     ) -> tuple[Arch, dict[str, np.ndarray], dict[int, np.ndarray]]:
    """Remove ``fraction`` of every hidden layer's outputs by L1 norm.

    Returns ``(new_arch, new_weights, kept)`` where ``kept[i]`` lists, for
    layer ``i``, the indices of the outputs that remain (ascending).  Layer
    indices, and so the canonical keys, are unchanged.
    """
    weights = check_weights(arch, weights)
    params = arch.param_layers()
    layers = list(arch.layers)
    new = {k: w.copy() for k, w in weights.items()}
    kept: dict[int, np.ndarray] = {}
    in_shapes = arch.input_shapes()
    for pos, i in enumerate(params[:-1]):  # the classifier keeps one output per class
        layer, j = arch.layers[i], params[pos + 1]
        n_out = layer.out_channels if isinstance(layer, Conv) else layer.units
        k = kept_count(n_out, fraction)
        order = np.argsort(-l1_norms(layer, weights[f"{i}.weight"]), kind="stable")
        keep = np.sort(order[:k])
        kept[i] = keep
        if isinstance(layer, Conv):
            new[f"{i}.weight"] = new[f"{i}.weight"][keep]
            layers[i] = replace(layer, out_channels=k)
        else:
            new[f"{i}.weight"] = new[f"{i}.weight"][:, keep]
            layers[i] = replace(layer, units=k)
        new[f"{i}.bias"] = new[f"{i}.bias"][keep]
        # the next layer with parameters loses the matching inputs
        nxt = arch.layers[j]
        if isinstance(nxt, Conv):
            new[f"{j}.weight"] = new[f"{j}.weight"][:, keep]
        else:
            flat = next((in_shapes[t] for t in range(i + 1, j) if isinstance(arch.layers[t], Flatten)), None)
            if flat is not None and len(flat) == 3:
                hw = flat[1] * flat[2]
                rows = (keep[:, None] * hw + np.arange(hw)[None, :]).ravel()
            else:
                rows = keep
            new[f"{j}.weight"] = new[f"{j}.weight"][rows]
    pct = int(round(fraction * 100))
    new_arch = Arch(name or f"{arch.name}-l1struct{pct}", arch.input_shape, arch.num_classes, tuple(layers))
    return new_arch, check_weights(new_arch, new), kept


def expand_to(arch_small: Arch, weights_small: dict, arch: Arch, kept: dict[int, np.ndarray]) -> dict:
    """The small model's weights placed back into ``arch``'s shapes, zeros where outputs were removed.

    The expanded network computes the same function only where the removed
    units contribute nothing; it is used by tests and by ``masked`` views.
    """
    out = {k: np.zeros(s, np.float32) for k, s in arch.weight_shapes().items()}
    params = arch.param_layers()
    in_shapes = arch.input_shapes()
    for pos, i in enumerate(params):
        layer = arch.layers[i]
        rows_out = kept.get(i)
        w, b = weights_small[f"{i}.weight"], weights_small[f"{i}.bias"]
        prev = params[pos - 1] if pos else None
        cols_in = kept.get(prev) if prev is not None else None
        if isinstance(layer, Conv):
            o_idx = rows_out if rows_out is not None else np.arange(layer.out_channels)
            i_idx = cols_in if cols_in is not None else np.arange(in_shapes[i][0])
            out[f"{i}.weight"][np.ix_(o_idx, i_idx)] = w
        elif isinstance(layer, Dense):
            o_idx = rows_out if rows_out is not None else np.arange(layer.units)
            if cols_in is None:
                i_idx = np.arange(in_shapes[i][0])
            else:
                flat = next((in_shapes[t] for t in range(prev + 1, i) if isinstance(arch.layers[t], Flatten)), None)
                if flat is not None and len(flat) == 3:
                    hw = flat[1] * flat[2]
                    i_idx = (cols_in[:, None] * hw + np.arange(hw)[None, :]).ravel()
                else:
                    i_idx = cols_in
            out[f"{i}.weight"][np.ix_(i_idx, o_idx)] = w
        out[f"{i}.bias"][o_idx] = b
    return out
