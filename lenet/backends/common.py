"""Helpers every backend uses, so that no backend copies another (NumPy only)."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import numpy as np

from ..io import weights as wio
from ..spec import Arch
from ..training import TrainConfig, training_arrays
from . import Capabilities, InferenceOnly, Model


class InputShapeError(ValueError):
    """Input that does not match the architecture's ``(N, C, H, W)``."""


def check_input(arch: Arch, x) -> np.ndarray:
    """Return ``x`` as C-contiguous float32 ``(N, C, H, W)``, or raise naming the expected shape."""
    x = np.asarray(x)
    if x.ndim != 4 or tuple(x.shape[1:]) != arch.input_shape:
        raise InputShapeError(
            f"{arch.name} expects input of shape (N, {', '.join(map(str, arch.input_shape))}) "
            f"(NCHW float32), got {x.shape}"
        )
    if not np.issubdtype(x.dtype, np.number):
        raise InputShapeError(f"{arch.name} expects numeric input, got dtype {x.dtype}")
    return np.ascontiguousarray(x, dtype=np.float32)


def check_labels(arch: Arch, x: np.ndarray, y) -> np.ndarray:
    """Return ``y`` as int64 ``(N,)`` matching ``x``'s N, with every label in ``0..num_classes-1``."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x):
        raise InputShapeError(f"{arch.name}: expected {len(x)} labels of shape ({len(x)},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise InputShapeError(f"{arch.name}: labels must be integers, got dtype {y.dtype}")
    if len(y) and (y.min() < 0 or y.max() >= arch.num_classes):
        raise InputShapeError(f"{arch.name}: labels must lie in 0..{arch.num_classes - 1}, "
                              f"got {y.min()}..{y.max()}")
    return np.ascontiguousarray(y, dtype=np.int64)


def training_set(arch: Arch, x_train, y_train, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """What a trainer converts once: ``x_train`` and ``y_train`` checked against ``arch``, then laid out for
    ``config`` by :func:`lenet.training.training_arrays` (with ``hflip``, their mirror images appended)."""
    x = check_input(arch, x_train)
    return training_arrays(x, check_labels(arch, x, y_train), config)


def batch_slices(n: int, batch_size: int):
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def check_mode(name: str, caps: Capabilities, phase: str, mode: str | None) -> str:
    """``mode`` if ``caps`` declares it for ``phase`` (``"train"``/``"infer"``); None means the default (the first)."""
    modes = caps.modes(phase)
    if not modes:
        raise InferenceOnly(f"the {name} backend is inference-only: it declares no training modes; train the "
                            f"weights with {caps.weights_from!r} and load them (set_weights / load)")
    if mode is None:
        return modes[0]
    if mode not in modes:
        what = "training" if phase == "train" else "inference"
        raise ValueError(f"unknown {what} mode {mode!r} for the {name} backend; choose one of {list(modes)}")
    return mode


def check_thread_count(n) -> int:
    """``n`` as a positive int, or a ValueError naming it."""
    if isinstance(n, bool) or int(n) != n or int(n) < 1:
        raise ValueError(f"thread count must be a positive integer, got {n!r}")
    return int(n)


def cold_start(mode: str) -> contextlib.AbstractContextManager:
    """For a first-call measurement in ``mode``: nothing to forget (backends without compile caches)."""
    return contextlib.nullcontext()


def warm_up(mode: str) -> None:
    """Pay one-time process costs of ``mode`` before first-call measurements: none here."""


def mode_unavailable(mode: str, device: str) -> str | None:
    """Why ``mode`` cannot run on ``device`` here; None: every declared mode runs wherever the backend does."""
    return None


def compress(technique: str, level: str, model: Model, context):
    """A backend without native compression: the runner uses the canonical techniques only."""
    raise ValueError(f"the {model.backend} backend declares no native {technique!r}")


def load_artifact(kind: str, file: str, aux: str | None):
    raise ValueError(f"unknown compressed artifact kind {kind!r} for this backend")


def save_model(model: Model, path: str | os.PathLike, get_weights: Callable[[Model], dict],
               meta: dict | None = None) -> None:
    wio.save(path, model.arch, get_weights(model), {"backend": model.backend, **(meta or {})})


def load_model(path: str | os.PathLike, build: Callable[..., Model],
               set_weights: Callable[[Model, dict], None], device: str = "cpu",
               arch: Arch | None = None) -> Model:
    """Build the architecture stored in ``path`` (or check it against ``arch``) and load its weights."""
    found, weights, _ = wio.load(path)
    if arch is not None:
        wio.require_same_arch(arch, found, str(path))
    model = build(found, seed=0, device=device)
    set_weights(model, weights)
    return model
