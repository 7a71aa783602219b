"""Canonical weights <-> Keras variables, exactly and at no runtime cost.

The Keras model takes NHWC, so two layouts differ from the canonical one:

- conv kernel: canonical ``(out, in, kh, kw)`` <-> Keras ``(kh, kw, in, out)``;
- the first dense layer after a ``Flatten`` of a ``(C, H, W)`` map: Keras
  flattens channels-last, in ``(H, W, C)`` order, while the canonical rows
  follow ``(C, H, W)`` (``torch.flatten`` on NCHW); the rows are permuted.
"""
from __future__ import annotations

import numpy as np

from ...io.weights import check_weights
from ...spec import Arch, Conv, Dense, Flatten
from .. import Model


def layer_name(i: int, kind: str) -> str:
    """The Keras name of the layer that spec layer ``i`` becomes (``kind``: conv, dense, pad, pool, act, flatten)."""
    return f"spec{i}_{kind}"


def _layouts(arch: Arch) -> dict[str, tuple]:
    """For each canonical key: (Keras layer name, variable, conversion).

    Conversion is ``"conv"``, ``("flat", (C, H, W))`` for the first dense
    layer after a Flatten of a feature map, or ``None`` (same layout).
    """
    out, flat_from = {}, None
    for i, (layer, in_shape) in enumerate(zip(arch.layers, arch.input_shapes())):
        if isinstance(layer, Flatten) and len(in_shape) == 3:
            flat_from = in_shape
        elif isinstance(layer, Conv):
            out[f"{i}.weight"] = (layer_name(i, "conv"), "kernel", "conv")
            out[f"{i}.bias"] = (layer_name(i, "conv"), "bias", None)
        elif isinstance(layer, Dense):
            out[f"{i}.weight"] = (layer_name(i, "dense"), "kernel", ("flat", flat_from) if flat_from else None)
            out[f"{i}.bias"] = (layer_name(i, "dense"), "bias", None)
            flat_from = None
    return out


def _to_keras(w: np.ndarray, conv) -> np.ndarray:
    if conv == "conv":
        return w.transpose(2, 3, 1, 0)  # (out, in, kh, kw) -> (kh, kw, in, out)
    if conv:
        c, h, wd = conv[1]
        return w.reshape(c, h, wd, -1).transpose(1, 2, 0, 3).reshape(c * h * wd, -1)  # rows (C,H,W) -> (H,W,C)
    return w


def _to_canonical(w: np.ndarray, conv) -> np.ndarray:
    if conv == "conv":
        return w.transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
    if conv:
        c, h, wd = conv[1]
        return w.reshape(h, wd, c, -1).transpose(2, 0, 1, 3).reshape(c * h * wd, -1)  # rows (H,W,C) -> (C,H,W)
    return w


def get_weights(model: Model) -> dict[str, np.ndarray]:
    """Canonical float32 weights (copies): conv ``(out, in, kh, kw)``, dense ``(in, out)`` in (C, H, W) row order."""
    out = {}
    for key, (layer, var, conv) in _layouts(model.arch).items():
        w = getattr(model.net.get_layer(layer), var).numpy()
        out[key] = np.array(_to_canonical(w, conv), dtype=np.float32, order="C", copy=True)
    return out


def set_weights(model: Model, weights: dict, source: str = "weights") -> None:
    """Load canonical ``weights`` (checked against the arch first; raises WeightsError naming the problem)."""
    weights = check_weights(model.arch, weights, source)
    for key, (layer, var, conv) in _layouts(model.arch).items():
        getattr(model.net.get_layer(layer), var).assign(np.ascontiguousarray(_to_keras(weights[key], conv)))
