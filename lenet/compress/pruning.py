"""Unstructured magnitude pruning on canonical weights: masks, layer-wise or global (NumPy only).

A *mask* is a boolean array per prunable weight (``True`` = kept).  Only conv
and dense **weights** are pruned; biases are tiny (236 of LeNet-5's 61,706
parameters) and stay dense, as in ``torch.nn.utils.prune`` recipes.

``scope="layer"``
    each weight tensor loses exactly ``round(sparsity * size)`` of its
    smallest-magnitude entries, so every layer has the requested sparsity.
``scope="global"``
    the ``round(sparsity * total)`` smallest magnitudes over all prunable
    weights together are removed, so the *overall* sparsity is the requested
    one and layers with many small weights (dense-1) lose more.

Ties at the threshold are broken by position (a stable argsort), so the count
is exact.  A masked model is still a dense model: the zeros are stored and
every multiply still runs (see :mod:`lenet.compress.sparse` for storage that
drops them).
"""
from __future__ import annotations

import numpy as np

from ..spec import Arch

SCOPES = ("layer", "global")


def prunable_keys(arch: Arch) -> list[str]:
    """Canonical keys of the conv and dense weights (not biases), in layer order."""
    return [k for k in arch.weight_shapes() if k.endswith(".weight")]


def _check_sparsity(sparsity: float) -> float:
    s = float(sparsity)
    if not 0.0 <= s < 1.0:
        raise ValueError(f"sparsity must lie in [0, 1), got {sparsity}")
    return s


def _smallest_mask(values: np.ndarray, n_prune: int) -> np.ndarray:
    """Flat boolean mask keeping all but the ``n_prune`` smallest ``values`` (stable on ties)."""
    keep = np.ones(values.size, bool)
    if n_prune > 0:
        keep[np.argsort(values, kind="stable")[:n_prune]] = False
    return keep


def magnitude_masks(weights: dict, sparsity: float, scope: str = "layer", keys: list[str] | None = None) -> dict:
    """Masks ``{key: bool array}`` removing the smallest ``|w|`` at ``sparsity`` (0.5 = half the weights)."""
    s = _check_sparsity(sparsity)
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    keys = list(keys) if keys is not None else [k for k in weights if k.endswith(".weight")]
    if scope == "layer":
        return {k: _smallest_mask(np.abs(weights[k]).ravel(), int(round(s * weights[k].size))).reshape(weights[k].shape)
                for k in keys}
    flat = np.concatenate([np.abs(weights[k]).ravel() for k in keys])
    keep = _smallest_mask(flat, int(round(s * flat.size)))
    out, start = {}, 0
    for k in keys:
        n = weights[k].size
        out[k] = keep[start:start + n].reshape(weights[k].shape)
        start += n
    return out


def apply_masks(weights: dict, masks: dict) -> dict:
    """Copies of ``weights`` with the masked-out entries set to exactly 0 (unmasked keys copied unchanged)."""
    out = {}
    for k, w in weights.items():
        w = np.array(w, dtype=np.float32, copy=True)
        if k in masks:
            w[~masks[k]] = 0.0
        out[k] = w
    return out


def masks_from_zeros(weights: dict, keys: list[str] | None = None) -> dict:
    """The masks that keep exactly the non-zero entries (to re-derive a pruned model's masks)."""
    keys = list(keys) if keys is not None else [k for k in weights if k.endswith(".weight")]
    return {k: np.asarray(weights[k]) != 0 for k in keys}


def sparsity_of(weights: dict, keys: list[str] | None = None) -> dict:
    """Fraction of exact zeros: ``{"layers": {key: s}, "overall": s}`` over ``keys`` (default: every weight)."""
    keys = list(keys) if keys is not None else [k for k in weights if k.endswith(".weight")]
    layers = {k: float(np.count_nonzero(np.asarray(weights[k]) == 0) / weights[k].size) for k in keys}
    total = sum(weights[k].size for k in keys)
    zeros = sum(int(np.count_nonzero(np.asarray(weights[k]) == 0)) for k in keys)
    return {"layers": layers, "overall": zeros / total if total else 0.0}


def nonzero_params(weights: dict) -> int:
    """Non-zero entries over every array (weights and biases)."""
    return int(sum(np.count_nonzero(np.asarray(w)) for w in weights.values()))


def masks_hold(weights: dict, masks: dict) -> bool:
    """True when every masked-out entry of ``weights`` is exactly zero."""
    return all(not np.any(np.asarray(weights[k])[~m]) for k, m in masks.items())
