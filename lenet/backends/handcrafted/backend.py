"""The handcrafted backend's contract (:class:`lenet.backends.Backend`): NumPy only.

Model, training and weights live in :mod:`.model`, the measurement hooks in
:mod:`.measurement`, the native int8 engine in :mod:`.int8` (its compression hook).
"""
from ...counting import count
from .. import Artifact, Model
from ..common import cold_start as cold_start  # the contract's defaults: no compile caches, one mode
from ..common import mode_unavailable as mode_unavailable
from ..common import warm_up as warm_up
from . import CAPABILITIES as CAPABILITIES
from . import NAME as NAME
from . import int8
from .measurement import count_flops, make_forward, peak_memory, reset_peak_memory
from .model import (
    Net,
    Trainer,
    build,
    devices,
    get_weights,
    load,
    predict,
    save,
    set_threads,
    set_weights,
    thread_counts,
    train,
    trainer,
    versions,
)

__all__ = [
    "Net", "Trainer", "build", "devices", "get_weights", "load", "predict", "save", "set_threads", "set_weights",
    "thread_counts", "train", "trainer", "versions", "make_forward", "count_flops", "reset_peak_memory",
    "peak_memory", "compress", "load_artifact",
]


def compress(technique: str, level: str, model: Model, context) -> Artifact:
    """The NumPy int8 engine (:mod:`.int8`): int32 accumulation, fixed-point requantization."""
    if technique != "int8-static":
        raise ValueError(f"the {NAME} backend declares no native {technique!r}")
    q = int8.quantize(model.arch, get_weights(model), context.calib)
    path = q.save(context.workdir / "int8-static.npz")
    return Artifact(q.predict, q.make_forward, path, {"kind": "handcrafted-int8", "file": path},
                    {"runtime": "handcrafted NumPy int8 (int32 accumulation, fixed-point requant)",
                     "mac_dtype": "int8", "int8_macs": count(model.arch).macs,
                     "calibration_images": len(context.calib), "int8_param_bytes": q.param_bytes()})


def load_artifact(kind: str, file: str, aux: str | None):
    """(arch, make_forward) of a saved :class:`.int8.Int8Model`."""
    if kind != "handcrafted-int8":
        raise ValueError(f"unknown compressed artifact kind {kind!r} for the {NAME} backend")
    q = int8.Int8Model.load(file)
    return q.arch, q.make_forward
