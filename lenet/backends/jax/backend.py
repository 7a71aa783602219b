"""The JAX backend's contract (:class:`lenet.backends.Backend`): the functions of :mod:`.network` on a device.

A model's ``net`` is a :class:`Net`: the canonical weights as device arrays, the device, and the jitted
forward pass that :func:`predict` uses.  Weights need no transposing: the canonical layout is what
:mod:`.network` computes with.  Everything stays float32, JAX's default (``jax_enable_x64`` is left off).

Modes (``make_forward`` and ``trainer``): ``"jit"``, ``"eager"`` and ``"jit-nhwc"``, see
:mod:`lenet.backends.jax`.  A jitted training step donates the parameters and the optimizer state
(``donate_argnums``), so that XLA updates them in place instead of allocating a second copy of each per step;
the training set is not donated, it is read again by every step.  Each new input shape traces and compiles
once (an epoch's partial last batch once more); the learning rate is an argument, so a schedule never
recompiles.  Every callable these make is a new ``jax.jit`` over a new ``functools.partial``, so its first call
misses every trace, lowering and compile cache and pays them in full (:func:`cold_start`).

Threads.  XLA's CPU client fixes its thread pool when it initialises, on the first computation, from the
``XLA_FLAGS`` environment variable and the cores the process may use; nothing sizes it afterwards.  What can
be chosen, and only before that, is ``--xla_cpu_multi_thread_eigen=false``: the Eigen kernels behind
convolution and matmul then run on the calling thread.  :func:`set_threads` sets that flag for 1 thread and
clears it otherwise; a count between 1 and the usable cores cannot be honoured (XLA has no flag sizing its
pool), and after initialisation nothing changes.  :func:`thread_counts` reports what is in force: 1 with
Eigen single-threaded, the usable cores otherwise.  XLA's own scheduling of independent operations and the
host threads of its runtime are not controllable from Python.

FLOPs: :func:`count_flops` reads XLA's cost analysis of the compiled forward pass, convention ``flops_xla``
of :mod:`lenet.counting`.  Device memory: on a GPU, ``memory_stats()["peak_bytes_in_use"]``, a peak since the
process started (XLA keeps no peak that can be reset); on the CPU, None (measured as RSS).
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
import optax

from ... import training
from ...init import init_weights
from ...io.weights import check_weights
from ...measure.threads import usable_cores
from ...spec import Arch
from .. import DeviceError, Model
from ..common import batch_slices, check_input, check_mode, check_thread_count, load_model, save_model, training_set

# No caches to forget before a first call: a callable from make_forward or JaxTrainer.make_step is a new
# jax.jit over a new functools.partial, whose trace, lowering and compile caches it misses, so its first call
# pays them in full (a second fresh jitted training step's first call: 1.08-1.21 s; after jax.clear_caches():
# 1.22 s).  Clearing them, as this backend did, also dropped eager mode's compiled primitives, which the next
# eager call (the reference every jitted row is timed against side by side) compiled again: 7.8 s a step.
from ..common import cold_start as cold_start
from ..common import compress as compress  # no native compression: the canonical techniques only
from ..common import load_artifact as load_artifact
from ..common import mode_unavailable as mode_unavailable
from . import CAPABILITIES, NAME, network, optim

_EIGEN_FLAG = "--xla_cpu_multi_thread_eigen"


@dataclass
class Net:
    """Canonical weights as device arrays, the device they live on, and the jitted forward pass."""

    params: dict
    device: jax.Device
    forward: Callable  # jax.jit(network.forward) for this arch: predict's, compiled once per batch shape


# --------------------------------------------------------------------------- devices


def _gpus() -> list:
    try:
        return jax.devices("gpu")
    except RuntimeError:  # a CPU-only jaxlib, or no visible GPU
        return []


def devices() -> list[str]:
    """Usable device names: ``"cpu"``, plus ``"gpu"`` when ``jax.devices("gpu")`` shows one."""
    return ["cpu"] + (["gpu"] if _gpus() else [])


def _device(device: str) -> jax.Device:
    """``"cpu"``, ``"gpu"`` or ``"gpu:<n>"`` (``"cuda"`` is accepted for ``"gpu"``), or a clear error."""
    name = str(device).lower().replace("cuda", "gpu")
    if name == "cpu":
        return jax.devices("cpu")[0]
    kind, _, index = name.partition(":")
    if kind != "gpu" or not (index == "" or index.isdigit()):
        raise DeviceError(f"unknown device {device!r} for the jax backend; choose one of {devices()}")
    gpus = _gpus()
    if not gpus:
        raise DeviceError(f"device {device!r} requested but JAX sees no GPU (jaxlib {jaxlib.__version__}: a CPU "
                          f"build unless jax[cuda] is installed); use device='cpu'")
    if int(index or 0) >= len(gpus):
        raise DeviceError(f"device {device!r} requested but only {len(gpus)} GPU(s) are visible")
    return gpus[int(index or 0)]


def _device_name(dev: jax.Device) -> str:
    return "cpu" if dev.platform == "cpu" else ("gpu" if dev.id == 0 else f"gpu:{dev.id}")


# --------------------------------------------------------------------------- build and weights


def build(arch: Arch, seed: int = 0, device: str = "cpu") -> Model:
    """``arch`` on ``device``, holding ``lenet.init.init_weights(arch, seed)``."""
    dev = _device(device)
    net = Net(params={}, device=dev, forward=jax.jit(functools.partial(network.forward, arch)))
    model = Model(arch=arch, net=net, backend=NAME, device=_device_name(dev))
    set_weights(model, init_weights(arch, seed))
    return model


def get_weights(model: Model) -> dict[str, np.ndarray]:
    """Canonical float32 weights: host copies, never views of the device arrays."""
    return {k: np.array(v, dtype=np.float32, order="C", copy=True) for k, v in model.net.params.items()}


def set_weights(model: Model, weights: dict, source: str = "weights") -> None:
    """Load canonical ``weights`` (checked against the arch first; raises WeightsError naming the problem).

    Each array is copied before it goes to the device: on the CPU, JAX may otherwise share the caller's
    memory, which a donating training step would then overwrite.
    """
    weights = check_weights(model.arch, weights, source)
    model.net.params = {k: jax.device_put(np.array(w, dtype=np.float32, copy=True), model.net.device)
                        for k, w in weights.items()}


def save(model: Model, path: str | os.PathLike) -> None:
    """Write the canonical weights and the spec to ``path`` (atomic ``.npz``)."""
    save_model(model, path, get_weights, {"jax": jax.__version__})


def load(path: str | os.PathLike, device: str = "cpu", arch: Arch | None = None) -> Model:
    """Build the model stored in ``path``; with ``arch``, refuse a file written for another architecture."""
    return load_model(path, build, set_weights, device=device, arch=arch)


# --------------------------------------------------------------------------- inference


def predict(model: Model, x, batch_size: int = 1024) -> np.ndarray:
    """Logits ``(n, classes)`` float32 for NCHW input ``x``, through the jitted forward pass."""
    x = check_input(model.arch, x)
    out = np.empty((len(x), model.arch.num_classes), dtype=np.float32)
    net = model.net
    for s in batch_slices(len(x), batch_size):
        out[s] = np.asarray(net.forward(net.params, jax.device_put(x[s], net.device)))
    return out


def _eager(fn):
    """``fn`` run op by op: every ``jax.jit`` inside it (jax.nn's, optax's) disabled while it runs."""
    @functools.wraps(fn)
    def run(*args):
        with jax.disable_jit():
            return fn(*args)

    return run


def _layout(mode: str) -> str:
    """The activation layout of ``mode``: NHWC for ``"jit-nhwc"``, else NCHW (see :mod:`.network`)."""
    return "NHWC" if mode == "jit-nhwc" else "NCHW"


def make_forward(model: Model, x, mode: str | None = None):
    """A zero-argument callable: the forward pass on ``x``, put on the device once.

    ``mode``: ``"jit"`` (the default), a fresh ``jax.jit`` whose first call traces and compiles; ``"eager"``;
    or ``"jit-nhwc"``, the same jit with ``x`` transposed to NHWC and the weights laid out (HWIO kernels,
    :func:`.network.laid_out`) once, here.  Each call returns after the computation has finished
    (``block_until_ready``).  The weights are read at each call (in ``"jit-nhwc"``, laid out again when the
    model holds other arrays), so a model trained since (its arrays donated and replaced) is the one run.
    """
    mode = check_mode(NAME, CAPABILITIES, "infer", mode)
    net, arch, layout = model.net, model.arch, _layout(mode)
    xd = jax.device_put(network.to_layout(check_input(arch, x), layout), net.device)
    fn = functools.partial(network.forward, arch, layout=layout)
    fn = _eager(fn) if mode == "eager" else jax.jit(fn)
    if layout == "NCHW":
        def forward():
            return fn(net.params, xd).block_until_ready()

        return forward
    held = {"from": net.params, "params": network.laid_out(arch, net.params, layout)}  # laid out once, here

    def forward_laid_out():
        if held["from"] is not net.params:  # trained since: its arrays were replaced
            held.update({"from": net.params, "params": network.laid_out(arch, net.params, layout)})
        return fn(held["params"], xd).block_until_ready()

    return forward_laid_out


def warm_up(mode: str) -> None:
    """Pay XLA's one-time process costs (client start, compiler passes' first use) on a one-op function, so
    that a later first call measures its own model's trace and compile (which a fresh callable never finds
    cached)."""
    if mode != "eager":
        jax.jit(lambda t: t * 2 + 1)(jnp.ones(4)).block_until_ready()


def count_flops(model: Model, batch_size: int) -> dict:
    """XLA's cost analysis of the forward pass compiled for a batch of ``batch_size`` on the model's device.

    Convention ``flops_xla`` (:data:`lenet.counting.CONVENTIONS`): 2 per multiply-accumulate of the conv taps
    that read the input (padding taps are not counted) and of the matmuls, 1 per bias add, ``size**2 - 1``
    per max-pool output and ``size**2`` per average-pool output, 1 per relu element, 3 per sigmoid and 4 per
    swish element; tanh and exp are XLA's ``transcendentals``, kept beside the count.
    """
    x = jax.device_put(jnp.zeros((batch_size, *model.arch.input_shape), jnp.float32), model.net.device)
    compiled = jax.jit(functools.partial(network.forward, model.arch)).lower(model.net.params, x).compile()
    cost = compiled.cost_analysis()
    return {"xla_cost_analysis": {"value": int(cost.get("flops", 0)), "convention": "flops_xla", "per": "batch",
                                  "batch_size": int(batch_size),
                                  "transcendentals": int(cost.get("transcendentals", 0))}}


def reset_peak_memory(model: Model) -> None:
    """Nothing to reset: XLA's allocator keeps its peak since the process started (see the module docstring)."""


def peak_memory(model: Model) -> int | None:
    """Peak bytes XLA's allocator held on the GPU since the process started; None on the CPU."""
    dev = model.net.device
    if dev.platform == "cpu":
        return None
    return int((dev.memory_stats() or {}).get("peak_bytes_in_use", 0)) or None


# --------------------------------------------------------------------------- training


class JaxTrainer:
    """The training set on the device (put there once), the optimizer state, and one step (jit or eager)."""

    def __init__(self, model: Model, x_train, y_train, config: training.TrainConfig, mode: str | None = None):
        self.mode = mode = check_mode(NAME, CAPABILITIES, "train", mode)
        x_train, y_train = training_set(model.arch, x_train, y_train, config)
        self.model, self.config = model, config
        dev = model.net.device
        self.x = jax.device_put(network.to_layout(x_train, _layout(mode)), dev)
        self.y = jax.device_put(y_train.astype(np.int32), dev)  # JAX's default integer width
        tx = optim.torch_form(config)
        self.opt_state = jax.device_put(tx.init(model.net.params), dev)
        step = functools.partial(network.train_step, model.arch, _layout(mode), tx)
        self._step = _eager(step) if mode == "eager" else jax.jit(step, donate_argnums=(0, 1))

    def tracing_count(self) -> int:
        """Traces (one compile each) of the jitted step so far: one per batch shape; 0 in eager mode."""
        return 0 if self.mode == "eager" else self._step._cache_size()

    def _index(self, idx) -> jax.Array:
        return jax.device_put(np.asarray(idx, dtype=np.int32), self.model.net.device)

    def _run(self, index: jax.Array, lr: float):
        net = self.model.net
        net.params, self.opt_state, loss, logits = self._step(net.params, self.opt_state, self.x, self.y, index,
                                                              np.float32(lr))
        return loss, logits

    def step(self, idx: np.ndarray, lr: float) -> tuple[float, np.ndarray]:
        """Train on samples ``idx`` with learning rate ``lr``; return (mean loss, logits)."""
        loss, logits = self._run(self._index(idx), lr)
        return float(loss), np.asarray(logits)

    def make_step(self, idx, lr: float):
        """For timing: a zero-argument callable making one step on the fixed samples ``idx`` at ``lr``.

        The indices go to the device once; each call gathers the batch, trains on it and returns the loss
        as a float (which waits for the step), without copying the logits out.
        """
        index = self._index(idx)

        def run() -> float:
            return float(self._run(index, lr)[0])

        return run


def trainer(model: Model, x_train, y_train, config: training.TrainConfig, mode: str | None = None) -> JaxTrainer:
    """A trainer in ``mode`` (declared ``train_modes``; ``"jit"`` by default)."""
    return JaxTrainer(model, x_train, y_train, config, mode)


def train(model: Model, data, config: training.TrainConfig, progress: bool = True,
          mode: str | None = None) -> training.History:
    """Train on ``data`` (a :class:`lenet.data.Dataset`) with the shared loop; returns the History."""
    t = trainer(model, data.x_train, data.y_train, config, mode)
    desc = f"jax {model.arch.name}" + ("" if t.mode == "jit" else f" ({t.mode})")
    return training.fit(t, lambda x: predict(model, x), data, config, progress=progress, desc=desc)


# --------------------------------------------------------------------------- environment


def _eigen_single_threaded(flags: str) -> bool:
    return f"{_EIGEN_FLAG}=false" in flags.split()


def set_threads(n: int) -> dict:
    """Before XLA initialises: Eigen single-threaded for ``n == 1``, XLA's default otherwise (see the module
    docstring).  After it, nothing can change; :func:`thread_counts` reports the values in force."""
    n = check_thread_count(n)
    from jax._src import xla_bridge  # no public API says whether the backends have started

    if not xla_bridge.backends_are_initialized():
        flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(_EIGEN_FLAG)]
        os.environ["XLA_FLAGS"] = " ".join(flags + ([f"{_EIGEN_FLAG}=false"] if n == 1 else []))
    return thread_counts()


def thread_counts() -> dict:
    """Threads of XLA's CPU convolution and matmul kernels (Eigen): 1 when single-threaded, else the usable cores."""
    return {"xla_cpu_eigen": 1 if _eigen_single_threaded(os.environ.get("XLA_FLAGS", "")) else usable_cores()}


def versions() -> dict:
    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "optax": optax.__version__}
