"""Canonical weights <-> the Sequential's parameters.

Layer ``i`` of the spec is module ``i`` of the Sequential, so the state-dict
keys are the canonical keys (``"<i>.weight"``, ``"<i>.bias"``).  The only
layout difference from the canonical weights is the dense weight: torch keeps
``(out, in)``, canonical is ``(in, out)``; :func:`get_weights` and
:func:`set_weights` transpose it.
"""
from __future__ import annotations

import numpy as np
import torch

from ...io.weights import check_weights
from ...spec import Arch, Dense
from .. import Model


def _is_dense(arch: Arch, key: str) -> bool:
    return key.endswith(".weight") and isinstance(arch.layers[int(key.split(".")[0])], Dense)


def get_weights(model: Model) -> dict[str, np.ndarray]:
    """Canonical float32 weights (dense ``(in, out)``): copies, never views of the live parameters."""
    state = model.net.state_dict()
    out = {}
    for key in model.arch.weight_shapes():
        w = state[key].detach().cpu().numpy()  # on the CPU this shares memory with the live parameter
        out[key] = np.array(w.T if _is_dense(model.arch, key) else w, dtype=np.float32, order="C", copy=True)
    return out


def set_weights(model: Model, weights: dict, source: str = "weights") -> None:
    """Load canonical ``weights`` (checked against the arch first; raises WeightsError naming the problem)."""
    weights = check_weights(model.arch, weights, source)
    params = dict(model.net.named_parameters())
    with torch.no_grad():
        for key, w in weights.items():
            if _is_dense(model.arch, key):
                w = w.T
            params[key].copy_(torch.from_numpy(np.ascontiguousarray(w)))

