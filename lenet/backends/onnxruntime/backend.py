"""ONNX Runtime backend (see :mod:`lenet.backends.onnxruntime`): the contract of :class:`lenet.backends.Backend`.

A model (:class:`OrtNet`) holds the canonical weights, the ONNX graph built
from them (:func:`.graph.to_onnx`) and one ``InferenceSession`` per mode,
made on first use.  Sessions run on the CPU execution provider, or on the
CUDA provider for ``device="cuda"`` when onnxruntime has it.  The thread knob
sets ``SessionOptions.intra_op_num_threads`` and ``inter_op_num_threads`` of
every session made afterwards, and :func:`set_threads` remakes the sessions
of models alive then, so the count in force is always the requested one.

Timed calls run through an IO binding: the input is bound (copied to the
device) once, outside the timed call, and each call runs the session on it.
Training is not offered: the backend is inference-only by declaration, and
``trainer``/``train`` raise :class:`lenet.backends.InferenceOnly`.
"""
from __future__ import annotations

import os
import weakref

import numpy as np
import onnx
import onnxruntime as ort

from ...init import init_weights
from ...spec import Arch
from .. import DeviceError, Model
from ..common import batch_slices, check_input, check_mode, check_thread_count, load_model, save_model
from ..common import cold_start as cold_start  # the contract's defaults: no compile caches, every mode runs
from ..common import mode_unavailable as mode_unavailable
from ..common import warm_up as warm_up
from . import CAPABILITIES, NAME
from .graph import INPUT, OUTPUT, to_onnx

_LEVELS = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
           "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}
_threads = {"intra": 1, "inter": 1}
_alive: weakref.WeakSet = weakref.WeakSet()  # nets whose sessions follow the thread knob

def devices() -> list[str]:
    """``"cpu"``, plus ``"cuda"`` when onnxruntime was built with the CUDA execution provider."""
    return ["cpu"] + (["cuda"] if "CUDAExecutionProvider" in ort.get_available_providers() else [])


def _device(device: str) -> str:
    name = "cuda" if str(device).lower() == "gpu" else str(device).lower()
    if name not in ("cpu", "cuda"):
        raise DeviceError(f"unknown device {device!r} for the onnxruntime backend; choose one of {devices()}")
    if name not in devices():
        raise DeviceError(f"device {device!r} requested but onnxruntime has no CUDA execution provider here "
                          f"(providers: {ort.get_available_providers()}); install onnxruntime-gpu or use 'cpu'")
    return name


def session_options(mode: str) -> ort.SessionOptions:
    """Options of a session in ``mode`` (a graph-optimization level) with the threads in force."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = _LEVELS[mode]
    opts.intra_op_num_threads = _threads["intra"]
    opts.inter_op_num_threads = _threads["inter"]
    opts.log_severity_level = 3  # errors only: ORT logs graph-rewrite notes at warning level
    return opts


def providers(device: str) -> list[str]:
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]


def new_session(content: bytes, mode: str, device: str) -> ort.InferenceSession:
    return ort.InferenceSession(content, session_options(mode), providers=providers(device))


class OrtNet:
    """Canonical weights, their ONNX graph and the sessions running it (one per mode, made on first use)."""

    def __init__(self, arch: Arch, weights: dict, device: str):
        self.arch, self.device = arch, device
        self.sessions: dict[str, ort.InferenceSession] = {}
        self.set_weights(weights)
        _alive.add(self)

    def set_weights(self, weights: dict, source: str = "weights") -> None:
        self.onnx_model = to_onnx(self.arch, weights, source)  # checks names and shapes first
        self.content = self.onnx_model.SerializeToString()
        self.weights = {k: np.array(v, dtype=np.float32, copy=True) for k, v in weights.items()}
        self.sessions.clear()

    def session(self, mode: str) -> ort.InferenceSession:
        if mode not in self.sessions:
            self.sessions[mode] = new_session(self.content, mode, self.device)
        return self.sessions[mode]


def _net(model: Model) -> OrtNet:
    if model.backend != NAME or not isinstance(model.net, OrtNet):
        raise TypeError(f"not an onnxruntime model: backend {model.backend!r}")
    return model.net


def build(arch: Arch, seed: int = 0, device: str = "cpu") -> Model:
    """``arch`` as an ONNX graph holding ``lenet.init.init_weights(arch, seed)``, run on ``device``."""
    dev = _device(device)
    return Model(arch, OrtNet(arch, init_weights(arch, seed), dev), NAME, dev)


def get_weights(model: Model) -> dict[str, np.ndarray]:
    """Canonical float32 weights (copies)."""
    return {k: v.copy() for k, v in _net(model).weights.items()}


def set_weights(model: Model, weights: dict, source: str = "weights") -> None:
    """Load canonical weights (checked against the arch; raises WeightsError naming the problem); the graph and
    its sessions are rebuilt."""
    _net(model).set_weights(weights, source)


def save(model: Model, path: str | os.PathLike) -> None:
    """The canonical weights and spec (atomic ``.npz``), like every backend; :func:`export` writes the graph."""
    save_model(model, path, get_weights, {"onnxruntime": ort.__version__})


def export(model: Model, path: str | os.PathLike) -> None:
    """The ONNX graph itself, for other runtimes."""
    onnx.save_model(_net(model).onnx_model, os.fspath(path))


def load(path: str | os.PathLike, device: str = "cpu", arch: Arch | None = None) -> Model:
    return load_model(path, build, set_weights, device=device, arch=arch)


def predict(model: Model, x, batch_size: int = 1024) -> np.ndarray:
    """Logits ``(n, classes)`` float32 for NCHW input ``x``, ``batch_size`` samples per session run."""
    net = _net(model)
    x = check_input(model.arch, x)
    session = net.session(CAPABILITIES.infer_modes[0])
    out = np.empty((len(x), model.arch.num_classes), np.float32)
    for s in batch_slices(len(x), batch_size):
        out[s] = session.run([OUTPUT], {INPUT: x[s]})[0]
    return out


def bound_forward(session: ort.InferenceSession, x: np.ndarray, device: str):
    """A zero-argument callable running ``session`` on ``x`` bound once (copied to the device beforehand).

    The output stays where the session made it; each call returns once the run has finished.
    """
    binding = session.io_binding()
    ort_device = "cuda" if device == "cuda" else "cpu"
    binding.bind_ortvalue_input(INPUT, ort.OrtValue.ortvalue_from_numpy(x, ort_device, 0))
    binding.bind_output(OUTPUT, ort_device)

    def forward():
        session.run_with_iobinding(binding)
        return binding

    return forward


def make_forward(model: Model, x, mode: str | None = None):
    """The forward pass on ``x`` in ``mode`` (a graph-optimization level; a fresh session, so that its first
    call measures that session's first run)."""
    mode = check_mode(NAME, CAPABILITIES, "infer", mode)
    net = _net(model)
    return bound_forward(new_session(net.content, mode, net.device), check_input(model.arch, x), net.device)


def trainer(model: Model, x_train, y_train, config, mode: str | None = None):
    """Refused: inference-only (see :class:`lenet.backends.InferenceOnly`)."""
    check_mode(NAME, CAPABILITIES, "train", mode)


def train(model: Model, data, config, progress: bool = True, mode: str | None = None):
    """Refused: inference-only (see :class:`lenet.backends.InferenceOnly`)."""
    check_mode(NAME, CAPABILITIES, "train", mode)


def count_flops(model: Model, batch_size: int) -> dict:
    """ONNX Runtime has no FLOP counter; the analytic count (lenet.counting) is the reference."""
    return {}


def reset_peak_memory(model: Model) -> None:
    """Nothing to reset: ORT exposes no peak-allocation statistic (host memory is measured as RSS)."""


def peak_memory(model: Model) -> None:
    """ORT reports no device peak allocation."""
    return None


def set_threads(n: int) -> dict:
    """``n`` intra-op and ``n`` inter-op threads for every session made from now on; live models remake theirs."""
    n = check_thread_count(n)
    _threads.update(intra=n, inter=n)
    for net in list(_alive):
        net.sessions.clear()
    return thread_counts()


def thread_counts() -> dict:
    return {"ort_intra": _threads["intra"], "ort_inter": _threads["inter"]}


def versions() -> dict:
    return {"onnxruntime": ort.__version__, "onnx": onnx.__version__, "providers": ort.get_available_providers()}


def compress(technique: str, level: str, model: Model, context):
    """ORT's own static int8 quantization (:func:`.quant.int8_static`), the only native technique declared."""
    from . import quant

    if technique != "int8-static":
        raise ValueError(f"the onnxruntime backend declares no native {technique!r}")
    return quant.artifact(_net(model), context)


def load_artifact(kind: str, file: str, aux: str | None):
    """(arch, make_forward) of a saved int8 model, for the fresh-process memory probe (``aux``: float weights)."""
    from . import quant

    return quant.load_artifact(kind, file, aux)
