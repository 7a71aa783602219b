"""Canonical weights on disk: one ``.npz`` holding the arrays and the spec they belong to.

Layout (see :meth:`lenet.spec.Arch.weight_shapes`): conv ``(out, in, kh, kw)``,
dense ``(in, out)``, biases 1-D, float32.  Any backend can load a file any
other backend wrote.  Writes are atomic.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .spec import Arch, SpecError

_ARCH_KEY = "__arch__"
_META_KEY = "__meta__"


class WeightsError(ValueError):
    """Weights that do not fit the architecture, or a weight file that cannot be read."""


def check_weights(arch: Arch, weights: dict, source: str = "weights") -> dict[str, np.ndarray]:
    """Return ``weights`` as float32 arrays after checking every name and shape against ``arch``."""
    expected = arch.weight_shapes()
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        raise WeightsError(f"{source}: does not fit {arch.name}: missing {missing}, unexpected {extra}")
    out = {}
    for name, shape in expected.items():
        w = np.asarray(weights[name])
        if w.shape != tuple(shape):
            raise WeightsError(f"{source}: '{name}' has shape {w.shape}, {arch.name} expects {tuple(shape)}")
        if not np.isfinite(w).all():
            raise WeightsError(f"{source}: '{name}' holds NaN or infinite values")
        out[name] = np.ascontiguousarray(w, dtype=np.float32)
    return out


def save(path: str | os.PathLike, arch: Arch, weights: dict, meta: dict | None = None) -> Path:
    """Write ``weights`` for ``arch`` (plus a JSON-able ``meta``) to ``path`` atomically."""
    path = Path(path)
    weights = check_weights(arch, weights)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **weights, **{_ARCH_KEY: np.array(arch.to_json()),
                                      _META_KEY: np.array(json.dumps(meta or {}, sort_keys=True))})
    return path


def load(path: str | os.PathLike) -> tuple[Arch, dict[str, np.ndarray], dict]:
    """Read ``(arch, weights, meta)`` from a file written by :func:`save`."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weight file")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise WeightsError(f"{path}: not a readable .npz weight file ({e})") from e
    if _ARCH_KEY not in arrays:
        raise WeightsError(f"{path}: has no '{_ARCH_KEY}' entry; it was not written by lenet.weights.save")
    try:
        arch = Arch.from_dict(json.loads(str(arrays.pop(_ARCH_KEY))))
        meta = json.loads(str(arrays.pop(_META_KEY, np.array("{}"))))
    except (json.JSONDecodeError, SpecError) as e:
        raise WeightsError(f"{path}: unreadable architecture description ({e})") from e
    return arch, check_weights(arch, arrays, source=str(path)), meta


def require_same_arch(expected: Arch, found: Arch, source: str) -> None:
    """Raise a clear error when a weight file was written for another architecture."""
    if expected.to_dict() != found.to_dict():
        raise WeightsError(
            f"{source}: holds weights for {found.name} (input {found.input_shape}, "
            f"{found.num_classes} classes), but the model is {expected.name} "
            f"(input {expected.input_shape}, {expected.num_classes} classes)"
        )
