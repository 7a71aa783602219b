"""Backends by name: the registry, the contract every backend keeps, and what each one declares it can do.

A backend is a package ``lenet/backends/<name>/``.  Its ``__init__.py`` imports
no framework and declares :data:`CAPABILITIES` (a :class:`Capabilities`), so
that callers (the bench's parametrization, the compression runner, the CLI)
read what a backend can do without importing its framework and never probe
with ``hasattr``.  Its ``backend`` module is the implementation, a module
satisfying :class:`Backend`, and is imported only by :func:`get_backend`.

No backend imports another; only the one that owns a framework imports it.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..spec import Arch

# name -> package; one line per backend
_REGISTRY = {
    "handcrafted": "lenet.backends.handcrafted",
    "torch": "lenet.backends.torch",
    "keras": "lenet.backends.keras",
    "onnxruntime": "lenet.backends.onnxruntime",
    "jax": "lenet.backends.jax",
}
BACKENDS = tuple(_REGISTRY)


class BackendUnavailable(ImportError):
    """The backend's framework is not installed."""


class DeviceError(ValueError):
    """A device that a backend cannot use here (absent, unknown, or not one the backend runs on)."""


class InferenceOnly(NotImplementedError):
    """Training asked of a backend that declares itself inference-only (``Capabilities.trains`` is False)."""


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, declared as data beside it.

    ``infer_modes`` / ``train_modes``: execution modes of ``make_forward`` and
    ``trainer`` (the first is the default; ``train_modes`` is empty for an
    inference-only backend).  ``devices``: the device kinds it can run on
    (``"cpu"``, ``"gpu"``), whether or not one is present here.
    ``flop_counters``: names of the framework's own FLOP counters
    (:func:`count_flops` keys; empty: the analytic count is the only one).
    ``compression``: techniques of :mod:`lenet.compress.runner` the backend
    runs natively through its ``compress`` hook, with their levels.
    ``weights_from``: for an inference-only backend, the backend whose
    training produces the weights it runs.  ``tuned``: phase -> the mode
    the framework's own performance guide recommends (docs/tuned-modes.md
    cites each); a phase not named runs tuned in its default mode.
    ``no_instruction_count``: why counting its instructions under valgrind
    (``--instrument instructions``, :mod:`lenet.measure.instructions`) is
    impractical; None: it is counted.
    """

    framework: str  # the module that must be importable
    extra: str | None  # the pyproject extra that installs it
    infer_modes: tuple[str, ...]
    train_modes: tuple[str, ...] = ()
    devices: tuple[str, ...] = ("cpu",)
    flop_counters: tuple[str, ...] = ()
    compression: dict[str, tuple[str, ...]] = field(default_factory=dict)
    weights_from: str | None = None
    tuned: dict[str, str] = field(default_factory=dict)
    no_instruction_count: str | None = None

    def __post_init__(self):
        for phase, mode in self.tuned.items():
            if mode not in self.modes(phase):
                raise ValueError(f"tuned {phase} mode {mode!r} is not one of the declared {self.modes(phase)}")

    @property
    def trains(self) -> bool:
        return bool(self.train_modes)

    @property
    def counts_instructions(self) -> bool:
        return self.no_instruction_count is None

    def modes(self, phase: str) -> tuple[str, ...]:
        """The modes of ``phase`` (``"train"`` or ``"infer"``)."""
        if phase not in ("train", "infer"):
            raise ValueError(f"phase must be 'train' or 'infer', got {phase!r}")
        return self.train_modes if phase == "train" else self.infer_modes

    def default_mode(self, phase: str) -> str | None:
        """The mode a call without one runs (the first declared); None if the phase has none."""
        return next(iter(self.modes(phase)), None)

    def tuned_mode(self, phase: str) -> str | None:
        """The mode the framework's experts run for ``phase``: ``tuned[phase]``, else the default."""
        return self.tuned.get(phase, self.default_mode(phase))


@dataclass
class Model:
    """A built network: the spec it came from, the framework object, where it runs."""

    arch: Arch
    net: Any
    backend: str
    device: str = "cpu"


@dataclass
class Artifact:
    """A model compressed by a backend's native technique, ready to measure.

    ``predict(x)`` gives logits for NCHW float32 ``x``; ``make_forward(x)`` a
    zero-argument timed callable on ``x`` converted once.  ``probe`` is what
    :mod:`lenet.measure.probe` needs to rebuild it in a fresh process
    (``{"kind", "file", "aux"}``, passed back to the backend's
    ``load_artifact``).  ``extra`` goes into the benchmark record.
    """

    predict: Callable[[np.ndarray], np.ndarray]
    make_forward: Callable[[np.ndarray], Callable[[], Any]]
    file: Path
    probe: dict
    extra: dict = field(default_factory=dict)
    dense_bytes: int | None = None  # None: what the runner counts for the technique
    weights: dict | None = None  # canonical weights after the technique (pruning), for the techniques after it


@runtime_checkable
class Backend(Protocol):
    """The functions every ``lenet.backends.<name>.backend`` module offers.

    ``trainer``/``train`` of an inference-only backend raise :class:`InferenceOnly`.
    """

    NAME: str
    CAPABILITIES: Capabilities

    def build(self, arch: Arch, seed: int = 0, device: str = "cpu") -> Model: ...
    def trainer(self, model: Model, x_train, y_train, config, mode: str | None = None): ...
    def train(self, model: Model, data, config, progress: bool = True, mode: str | None = None): ...
    def predict(self, model: Model, x, batch_size: int = 1024) -> np.ndarray: ...
    def get_weights(self, model: Model) -> dict[str, np.ndarray]: ...
    def set_weights(self, model: Model, weights: dict) -> None: ...
    def save(self, model: Model, path) -> None: ...
    def load(self, path, device: str = "cpu", arch: Arch | None = None) -> Model: ...
    def set_threads(self, n: int) -> dict: ...
    def thread_counts(self) -> dict: ...
    def versions(self) -> dict: ...
    def devices(self) -> list[str]: ...
    def make_forward(self, model: Model, x, mode: str | None = None) -> Callable[[], Any]: ...
    def cold_start(self, mode: str) -> AbstractContextManager: ...
    def warm_up(self, mode: str) -> None: ...
    def count_flops(self, model: Model, batch_size: int) -> dict: ...
    def reset_peak_memory(self, model: Model) -> None: ...
    def peak_memory(self, model: Model) -> int | None: ...
    def compress(self, technique: str, level: str, model: Model, context) -> Artifact: ...
    def load_artifact(self, kind: str, file: str, aux: str | None) -> tuple[Arch, Callable]: ...


def _check_name(name: str) -> str:
    if name not in _REGISTRY:
        raise ValueError(f"unknown backend {name!r}; choose one of {list(BACKENDS)}")
    return _REGISTRY[name]


def capabilities(name: str) -> Capabilities:
    """What backend ``name`` declares it can do (imports no framework)."""
    return importlib.import_module(_check_name(name)).CAPABILITIES


def is_available(name: str) -> bool:
    if name not in _REGISTRY:
        return False
    return importlib.util.find_spec(capabilities(name).framework) is not None


def available_backends() -> list[str]:
    return [name for name in BACKENDS if is_available(name)]


def install_hint(name: str) -> str:
    extra = capabilities(name).extra
    return f"pip install 'lenet-bench[{extra}]'" if extra else "pip install lenet-bench"


def get_backend(name: str) -> ModuleType:
    """Import and return the implementation of backend ``name``, with a clear error if it cannot be had."""
    package = _check_name(name)
    if not is_available(name):
        raise BackendUnavailable(f"backend {name!r} needs {capabilities(name).framework}, which is not installed: "
                                 f"{install_hint(name)}")
    mod = importlib.import_module(f"{package}.backend")
    from ..measure.threads import requested

    mod.set_threads(requested())
    return mod


def loaded_backends() -> list[ModuleType]:
    """Backend implementations already imported in this process (for the thread knob)."""
    return [sys.modules[f"{p}.backend"] for p in _REGISTRY.values() if f"{p}.backend" in sys.modules]


def trainer_for(name: str) -> str:
    """The backend that trains the weights ``name`` runs: itself, or its declared ``weights_from``."""
    caps = capabilities(name)
    return name if caps.trains else caps.weights_from
