"""PyTorch backend: the spec translated layer by layer into an ``nn.Sequential``.

Layer ``i`` of the spec is module ``i`` of the Sequential, so the state-dict
keys are the canonical keys (``"<i>.weight"``, ``"<i>.bias"``).  The only
layout difference from the canonical weights is the dense weight: torch keeps
``(out, in)``, canonical is ``(in, out)``; :func:`get_weights` and
:func:`set_weights` transpose it.

Translation notes (each one is what the spec says, see :mod:`lenet.spec`):

- ``Pool("max", padding=p)`` -> ``nn.MaxPool2d(padding=p)``, which pads with -inf.
- ``Pool("avg", padding=p)`` -> ``nn.AvgPool2d(padding=p, count_include_pad=True)``:
  zeros are counted in the mean.
- ``Act("swish")`` -> ``nn.SiLU`` (x * sigmoid(x)).

Execution modes (``trainer(..., mode=...)``, ``make_forward(..., mode=...)``, declared in
:data:`lenet.backends.torch.CAPABILITIES`): ``"eager"`` (the default) and
``"compile"``, ``torch.compile`` with its default backend, inductor (C++ on
the CPU, Triton on CUDA).  For training, the model's forward pass together
with the loss is compiled, not the whole step: AOTAutograd then compiles the
backward pass too, which is where the FLOPs are, while ``loss.backward()``,
the optimizer and ``loss.item()`` stay eager.  Compiling the optimizer step
as well would add its own long compile for ten small tensors that foreach
kernels already update in a few launches, and a float learning rate is a
constant to dynamo: each new lr of a schedule would recompile it.  The first
distinct batch shape compiles a static graph; the next one (the last partial
batch of an epoch) recompiles once with a dynamic batch dimension.
:func:`compile_unavailable` says why compiling cannot run here, naming the
missing piece; for first-call measurements, :func:`warm_compiler` pays
inductor's one-time costs in the process and :func:`cold_compile` makes a
first call pay its model's full compile.

Training follows :class:`lenet.training.TrainConfig`: SGD uses torch's own
momentum form (``v = m*v + g; p -= lr*v``), Adam ``betas=(0.9, 0.999)``,
``eps=1e-8``; ``weight_decay`` is torch's L2-on-the-gradient for every
parameter (biases included).  Nothing in the forward or backward pass is
random, so a run is determined by the initial weights and the data order.
"""
from __future__ import annotations

import contextlib
import os
import platform
import sys
import warnings

import numpy as np
import torch
from torch import nn

from ... import training
from ...init import init_weights
from ...io.weights import check_weights
from ...spec import Act, Arch, Conv, Dense, Flatten, Pool
from .. import DeviceError, Model
from ..common import batch_slices, check_input, check_labels, check_mode, check_thread_count, load_model, save_model
from . import CAPABILITIES, NAME
from .compression import compress as compress  # the native compression hooks
from .compression import load_artifact as load_artifact

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "swish": nn.SiLU}


# --------------------------------------------------------------------------- devices


def devices() -> list[str]:
    """Usable device names: ``"cpu"``, plus ``"cuda"`` when a CUDA GPU is visible."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _device(device: str) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:<n>"`` (``"gpu"`` is accepted for ``"cuda"``), or a clear error."""
    name = str(device).lower()
    if name == "gpu":
        name = "cuda"
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            cuda = torch.version.cuda
            why = ("this torch build has no CUDA support (CPU-only build)" if cuda is None
                   else f"torch was built with CUDA {cuda} but no CUDA GPU is visible")
            raise DeviceError(f"device {device!r} requested but {why}; use device='cpu'")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {device!r} requested but only {torch.cuda.device_count()} "
                              f"CUDA GPU(s) are visible")
        return dev
    raise DeviceError(f"unknown device {device!r} for the torch backend; choose one of {devices()}")


def _torch_device(model: Model) -> torch.device:
    return next(model.net.parameters()).device


# --------------------------------------------------------------------------- build


def _module(layer, in_shape: tuple) -> nn.Module:
    if isinstance(layer, Conv):
        return nn.Conv2d(in_shape[0], layer.out_channels, layer.kernel, stride=layer.stride, padding=layer.padding)
    if isinstance(layer, Pool):
        if layer.op == "max":
            return nn.MaxPool2d(layer.size, stride=layer.step, padding=layer.padding)
        return nn.AvgPool2d(layer.size, stride=layer.step, padding=layer.padding, count_include_pad=True)
    if isinstance(layer, Dense):
        return nn.Linear(in_shape[0], layer.units)
    if isinstance(layer, Act):
        return _ACTIVATIONS[layer.fn]()
    if isinstance(layer, Flatten):
        return nn.Flatten()
    raise TypeError(f"torch backend cannot translate {layer!r}")  # the spec rejects these first


def build(arch: Arch, seed: int = 0, device: str = "cpu") -> Model:
    """``arch`` as an ``nn.Sequential`` on ``device``, holding ``lenet.init.init_weights(arch, seed)``."""
    dev = _device(device)
    torch.manual_seed(seed)  # torch's own init runs before ours overwrites it; keep even that reproducible
    net = nn.Sequential(*(_module(layer, shape) for layer, shape in zip(arch.layers, arch.input_shapes())))
    net.to(dev)
    model = Model(arch=arch, net=net, backend=NAME, device=dev.type if dev.index is None else str(dev))
    set_weights(model, init_weights(arch, seed))
    return model


# --------------------------------------------------------------------------- weights


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


def save(model: Model, path: str | os.PathLike) -> None:
    """Write the canonical weights and the spec to ``path`` (atomic ``.npz``)."""
    save_model(model, path, get_weights, {"torch": torch.__version__})


def load(path: str | os.PathLike, device: str = "cpu", arch: Arch | None = None) -> Model:
    """Build the model stored in ``path``; with ``arch``, refuse a file written for another architecture."""
    return load_model(path, build, set_weights, device=device, arch=arch)


# --------------------------------------------------------------------------- inference


def predict(model: Model, x, batch_size: int = 1024) -> np.ndarray:
    """Logits ``(n, classes)`` float32 for NCHW input ``x``, in eval mode under ``inference_mode``."""
    x = check_input(model.arch, x)
    out = np.empty((len(x), model.arch.num_classes), dtype=np.float32)
    dev = _torch_device(model)
    model.net.eval()
    with torch.inference_mode():
        for s in batch_slices(len(x), batch_size):
            out[s] = model.net(torch.from_numpy(x[s]).to(dev)).cpu().numpy()
    return out


# --------------------------------------------------------------------------- measurement


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _import_inductor() -> None:
    """Import inductor, silencing the one DeprecationWarning its import raises (torch.utils.mkldnn decorates
    with the deprecated ``torch.jit.script_method``), so that ``-W error`` runs can compile."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script_method.* is deprecated",
                                category=DeprecationWarning)
        import torch._inductor.compile_fx  # noqa: F401


def mode_unavailable(mode: str, device: str = "cpu") -> str | None:
    """Why ``mode`` cannot run on ``device`` here, naming the missing piece; None if it can."""
    return compile_unavailable(device) if mode == "compile" else None


def compile_unavailable(device: str = "cpu") -> str | None:
    """Why ``torch.compile`` (inductor) cannot run on ``device`` here, naming the missing piece; None if it can."""
    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        return (f"torch.compile is not supported by torch {torch.__version__} on Python "
                f"{platform.python_version()} ({sys.platform})")
    dev = _device(device)
    _import_inductor()
    if dev.type == "cuda":
        from torch.utils._triton import has_triton

        return None if has_triton() else "torch.compile on CUDA needs Triton (pip install triton), not installed"
    from torch._inductor import cpp_builder, exc

    try:
        cpp_builder.get_cpp_compiler()
    except exc.InvalidCxxCompiler:
        return "torch.compile's inductor needs a C++ compiler on the CPU (g++, or $CXX) and none was found"
    return None


@contextlib.contextmanager
def cold_compile():
    """For first-call measurements: forget every function compiled in this process (``torch._dynamo.reset()``)
    and bypass inductor's and AOTAutograd's caches, in memory and on disk, while the block runs, so that a
    first call pays the whole compile, as on a fresh machine."""
    import torch._dynamo

    _import_inductor()
    import torch._inductor.config

    torch._dynamo.reset()
    with torch._inductor.config.patch(force_disable_caches=True), warnings.catch_warnings():
        # dynamo says once that this also turns off its profile-guided (on-disk) dynamic-shape record
        warnings.filterwarnings("ignore", message=r"dynamo_pgo force disabled", category=UserWarning)
        yield


def cold_start(mode: str):
    """For a first-call measurement in ``mode``: :func:`cold_compile` for ``"compile"``, else nothing."""
    return cold_compile() if mode == "compile" else contextlib.nullcontext()


def warm_up(mode: str) -> None:
    """Before first-call measurements in ``mode``: :func:`warm_compiler` for ``"compile"``."""
    if mode == "compile":
        warm_compiler()


def warm_compiler() -> None:
    """Pay inductor's one-time costs in this process (its imports, its pool of compile workers, the C++
    toolchain checks) on a one-op function, so that a later first call measures its own model's compile.
    Everything compiled so far is forgotten (``torch._dynamo.reset()``)."""
    import torch._dynamo

    with cold_compile():
        torch.compile(lambda t: t * 2 + 1)(torch.ones(4))
    torch._dynamo.reset()


def make_forward(model: Model, x, mode: str | None = None):
    """A zero-argument callable: eval-mode forward pass on ``x``, converted to a tensor on the device once.

    ``mode``: ``"eager"`` (the default), or ``"compile"``: a fresh
    ``torch.compile(model.net)`` whose first call compiles (for this input shape).
    Each call returns after the computation has finished (CUDA synchronised).
    """
    mode = check_mode(NAME, CAPABILITIES, "infer", mode)
    dev = _torch_device(model)
    xt = torch.from_numpy(check_input(model.arch, x)).to(dev)
    net = model.net
    net.eval()
    if mode == "compile":
        _import_inductor()
        net = torch.compile(net)

    def forward():
        with torch.inference_mode():
            out = net(xt)
        _sync(dev)
        return out

    return forward


def count_flops(model: Model, batch_size: int) -> dict:
    """torch's own FLOP counter (convention ``flops``) and thop, if installed (``macs``), per batch.

    ``torch.utils.flop_counter`` counts 2 x MACs of conv and matmul, no bias.
    thop counts conv and linear MACs (no bias), nothing for max pooling and
    activations, but one op per output of an ``AvgPool2d``; that op is outside
    the MAC convention, so average pooling is counted as zero here.
    """
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    dev = _torch_device(model)
    x = torch.zeros((batch_size, *model.arch.input_shape), device=dev)
    net = model.net
    net.eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(x)
    out = {"torch_flop_counter": {"value": int(counter.get_total_flops()), "convention": "flops", "per": "batch",
                                  "batch_size": int(batch_size)}}
    try:
        with warnings.catch_warnings():  # thop imports distutils' LooseVersion, which is deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            import thop
    except ImportError:
        return out

    def no_ops(module, inputs, output):
        module.total_ops += torch.zeros(1, dtype=torch.float64)

    with torch.no_grad():  # thop adds and removes buffers: work on a copy
        macs, _ = thop.profile(copy.deepcopy(net), inputs=(x,), custom_ops={nn.AvgPool2d: no_ops}, verbose=False)
    out["thop"] = {"value": int(macs), "convention": "macs", "per": "batch", "batch_size": int(batch_size)}
    return out


def reset_peak_memory(model: Model) -> None:
    dev = _torch_device(model)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)


def peak_memory(model: Model) -> int | None:
    """Peak bytes torch allocated on the GPU since :func:`reset_peak_memory`; None on the CPU."""
    dev = _torch_device(model)
    return int(torch.cuda.max_memory_allocated(dev)) if dev.type == "cuda" else None


# --------------------------------------------------------------------------- training


class TorchTrainer:
    """The training set on the device (converted once), the optimizer, and one step (eager or compiled)."""

    def __init__(self, model: Model, x_train, y_train, config: training.TrainConfig, mode: str | None = None):
        self.mode = mode = check_mode(NAME, CAPABILITIES, "train", mode)
        x_train = check_input(model.arch, x_train)
        y_train = check_labels(model.arch, x_train, y_train)
        self.model = model
        self.config = config
        dev = _torch_device(model)
        self.x = torch.from_numpy(x_train).to(dev)
        self.y = torch.from_numpy(y_train.astype(np.int64)).to(dev)  # CrossEntropyLoss wants int64
        self.device = dev
        params = model.net.parameters()
        if config.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                             weight_decay=config.weight_decay)
        else:
            self.optimizer = torch.optim.Adam(params, lr=config.lr, betas=(0.9, 0.999), eps=1e-8,
                                              weight_decay=config.weight_decay)
        self.loss_fn = loss_fn = nn.CrossEntropyLoss()
        net = model.net

        def forward_loss(xb, yb):
            logits = net(xb)
            return loss_fn(logits, yb), logits

        if mode == "compile":
            _import_inductor()
            forward_loss = torch.compile(forward_loss)
        self.forward_loss = forward_loss

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _index(self, idx) -> torch.Tensor:
        return torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self.device)

    def _step(self, index: torch.Tensor):
        xb = self.x.index_select(0, index)
        yb = self.y.index_select(0, index)
        self.model.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss, logits = self.forward_loss(xb, yb)
        loss.backward()
        self.optimizer.step()
        return loss, logits

    def step(self, idx: np.ndarray, lr: float) -> tuple[float, np.ndarray]:
        """Train on samples ``idx`` with learning rate ``lr``; return (mean loss, logits)."""
        self._set_lr(lr)
        loss, logits = self._step(self._index(idx))
        return loss.item(), logits.detach().cpu().numpy()

    def make_step(self, idx, lr: float):
        """For timing: a zero-argument callable making one step on the fixed samples ``idx`` at ``lr``.

        The indices are converted once; each call gathers the batch, trains on
        it and returns the loss as a float (CUDA synchronised), without copying
        the logits out.
        """
        self._set_lr(lr)
        index, dev = self._index(idx), self.device

        def run() -> float:
            loss, _ = self._step(index)
            _sync(dev)
            return loss.item()

        return run


def trainer(model: Model, x_train, y_train, config: training.TrainConfig, mode: str | None = None) -> TorchTrainer:
    """A trainer in ``mode`` (declared ``train_modes``; ``"eager"`` by default)."""
    return TorchTrainer(model, x_train, y_train, config, mode)


def train(model: Model, data, config: training.TrainConfig, progress: bool = True,
          mode: str | None = None) -> training.History:
    """Train on ``data`` (a :class:`lenet.data.Dataset`) with the shared loop; returns the History."""
    torch.manual_seed(config.seed)
    t = trainer(model, data.x_train, data.y_train, config, mode)
    desc = f"torch {model.arch.name}" + ("" if t.mode == "eager" else f" ({t.mode})")
    return training.fit(t, lambda x: predict(model, x), data, config, progress=progress, desc=desc)


# --------------------------------------------------------------------------- environment


def set_threads(n: int) -> dict:
    """Use ``n`` intra-op threads and, if still possible, ``n`` inter-op threads.

    torch allows the inter-op pool to be sized only once, before any inter-op
    work starts; after that the call raises RuntimeError, which is ignored
    here: :func:`thread_counts` reports the values actually in force.
    """
    n = check_thread_count(n)
    torch.set_num_threads(n)
    if torch.get_num_interop_threads() != n:
        try:
            torch.set_num_interop_threads(n)
        except RuntimeError:
            pass  # already fixed for this process; the real value is reported
    return thread_counts()


def thread_counts() -> dict:
    return {"torch_intra": torch.get_num_threads(), "torch_interop": torch.get_num_interop_threads()}


def versions() -> dict:
    return {"torch": torch.__version__, "cuda": torch.version.cuda}
