"""Backends by name, imported lazily.

Each backend module offers the same functions::

    build(arch, seed=0, device="cpu") -> Model
    trainer(model, x_train, y_train, config) -> object with step(idx, lr)
    train(model, data, config, progress=True) -> History
    predict(model, x, batch_size=1024) -> np.ndarray logits (n, classes)
    get_weights(model) -> canonical dict;  set_weights(model, weights)
    save(model, path);  load(path, device="cpu") -> Model
    set_threads(n);  thread_counts() -> dict;  versions() -> dict
    devices() -> list of usable device names ("cpu", "cuda"/"gpu")

and, for measurement (lenet.measure.timing, bench/):

    make_forward(model, x) -> zero-argument callable: the forward pass on
        ``x`` already converted to the framework's tensor on the model's device;
        each call returns only once the result is computed (GPU synchronised)
    count_flops(model, batch_size) -> {counter: {"value", "convention", "per",
        "batch_size"}} from the framework's own counters ({} if it has none)
    reset_peak_memory(model);  peak_memory(model) -> device bytes or None (CPU)

No backend imports another; only the one that owns a framework imports it.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..spec import Arch

# name -> (module, framework module that must be importable, extra to install)
_REGISTRY = {
    "handcrafted": ("lenet.backends.handcrafted", "numpy", None),
    "torch": ("lenet.backends.torch_backend", "torch", "torch"),
    "keras": ("lenet.backends.keras_backend", "tensorflow", "tf"),
}
BACKENDS = tuple(_REGISTRY)


class BackendUnavailable(ImportError):
    """The backend's framework is not installed."""


class DeviceError(ValueError):
    """A device that a backend cannot use here (absent, unknown, or not one the backend runs on)."""


@dataclass
class Model:
    """A built network: the spec it came from, the framework object, where it runs."""

    arch: Arch
    net: Any
    backend: str
    device: str = "cpu"


def is_available(name: str) -> bool:
    if name not in _REGISTRY:
        return False
    return importlib.util.find_spec(_REGISTRY[name][1]) is not None


def available_backends() -> list[str]:
    return [name for name in BACKENDS if is_available(name)]


def get_backend(name: str) -> ModuleType:
    """Import and return the backend module ``name``, with a clear error if it cannot be had."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown backend {name!r}; choose one of {list(BACKENDS)}")
    module, framework, extra = _REGISTRY[name]
    if not is_available(name):
        raise BackendUnavailable(
            f"backend {name!r} needs {framework}, which is not installed: "
            f"pip install 'lenet-bench[{extra}]'"
        )
    mod = importlib.import_module(module)
    from ..measure.threads import requested

    mod.set_threads(requested())
    return mod


def loaded_backends() -> list[ModuleType]:
    """Backend modules already imported in this process (for the thread knob)."""
    return [sys.modules[m] for m, _, _ in _REGISTRY.values() if m in sys.modules]
