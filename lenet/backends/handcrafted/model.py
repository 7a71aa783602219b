"""The handcrafted network and the backend functions (see :mod:`lenet.backends`).

:class:`Net` turns an :class:`~lenet.spec.Arch` into a list of layers from
:mod:`.layers`, with each conv that a 2x2 pool follows run with it as one
product (:mod:`.conv_pool`).  All its parameters live in one flat vector (and all
gradients in another) of which the canonical weights ``{"<i>.weight",
"<i>.bias"}`` are views, so the optimizer updates the whole model with a few
in-place calls.  Inputs are NCHW at the edges and batch-innermost
``(C, H, W, N)`` inside.
"""
from __future__ import annotations

import os

import numpy as np

from ...init import init_weights
from ...io.weights import check_weights
from ...spec import Act, Arch, Conv, Dense, Flatten, Pool
from ...training import TrainConfig, fit
from .. import DeviceError, Model
from ..common import batch_slices, check_input, check_mode, check_thread_count, load_model, save_model, training_set
from . import CAPABILITIES, NAME, parallel
from . import layers as L
from .conv_pool import ConvPool2D, fuses
from .losses import SoftmaxCrossEntropy
from .optim import make_optimizer

_ALIGN = 16  # parameter views start on 64-byte boundaries (float32) in the flat vector


def _make_layer(spec, in_shape: tuple, dtype) -> L.Layer:
    if isinstance(spec, Conv):
        return L.Conv2D(in_shape[0], spec.out_channels, spec.kernel, spec.stride, spec.padding, dtype=dtype)
    if isinstance(spec, Pool):
        return L.Pool2D(spec.op, spec.size, spec.step, spec.padding, dtype=dtype)
    if isinstance(spec, Dense):
        return L.Dense(in_shape[0], spec.units, dtype=dtype)
    if isinstance(spec, Act):
        return L.ACTIVATIONS[spec.fn](dtype=dtype)
    if isinstance(spec, Flatten):
        return L.Flatten(dtype=dtype)
    raise TypeError(f"handcrafted backend cannot build layer {spec!r}")


def _pool_before_activation(layers: list[L.Layer]) -> list[L.Layer]:
    """``layers`` with every monotonic activation that a max-pool follows moved after the pool.

    ``max(f(a), f(b)) == f(max(a, b))`` for a non-decreasing ``f`` (tanh, relu, sigmoid), so the
    output is the same, and the activation, forward and backward, runs on a quarter of the values
    (2x2 pools): tanh was a fifth of LeNet-5's inference time when it ran first (lenet profile-layers).
    The gradient goes to the window's first maximum of the pre-activation instead of the activation's.
    They differ only where the activation maps two inputs to one value: below zero for relu, where the
    gradient is zero either way; a saturated tanh or sigmoid, whose same tiny derivative then goes to
    another input of the window.  Only parameter-free layers move, so the layer indices of the
    canonical weights stay as the spec numbers them.
    """
    out = list(layers)
    for i in range(len(out) - 1):
        act, pool = out[i], out[i + 1]
        if act.monotonic and isinstance(pool, L.Pool2D) and pool.op == "max":
            out[i], out[i + 1] = pool, act
    return out


def _fuse_conv_pools(layers: list[L.Layer], in_shapes: list[tuple]) -> list[L.Layer]:
    """``layers`` with every stride-1 conv that a 2x2 pool follows run as one :class:`.conv_pool.ConvPool2D`.

    ``in_shapes[i]`` is the input shape of ``layers[i]``; the conv keeps its bound parameter arrays.
    """
    out, i = [], 0
    while i < len(layers):
        if i + 1 < len(layers) and fuses(layers[i], layers[i + 1], in_shapes[i]):
            out.append(ConvPool2D(layers[i], layers[i + 1], in_shapes[i]))
            i += 2
        else:
            out.append(layers[i])
            i += 1
    return out


class Net:
    """``arch`` as handcrafted layers in ``dtype`` (float32, or float64 for gradient checks).

    ``forward`` takes ``(C, H, W, N)`` and returns logits ``(K, N)``;
    ``backward`` takes ``dlogits (K, N)`` and fills :attr:`grads`.
    :attr:`weights` and :attr:`grads` map canonical names to views of
    :attr:`flat_params` / :attr:`flat_grads`.  Layers reuse their buffers,
    so one Net must not run in two threads at once: :meth:`map_chunks`
    gives each worker thread its own replica.  A replica built with
    ``params_of=net`` shares ``net``'s parameter vector and has its own
    gradients and buffers.
    """

    def __init__(self, arch: Arch, dtype=np.float32, weights: dict | None = None, params_of: Net | None = None):
        self.arch = arch
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        in_shapes = arch.input_shapes()
        layers = _pool_before_activation([_make_layer(s, shp, self.dtype) for s, shp in zip(arch.layers, in_shapes)])
        shapes = arch.weight_shapes()
        offsets, total = {}, 0
        for name, shape in shapes.items():
            offsets[name] = total
            total += -(-int(np.prod(shape)) // _ALIGN) * _ALIGN
        self.flat_params = np.zeros(total, self.dtype) if params_of is None else params_of.flat_params
        self.flat_grads = np.zeros(total, self.dtype)

        def views(flat):
            return {n: flat[offsets[n]:offsets[n] + int(np.prod(s))].reshape(s) for n, s in shapes.items()}

        self.weights, self.grads = views(self.flat_params), views(self.flat_grads)
        for i in arch.param_layers():
            layers[i].bind({p: self.weights[f"{i}.{p}"] for p in ("weight", "bias")},
                           {p: self.grads[f"{i}.{p}"] for p in ("weight", "bias")})
        # fused after binding: the spec's layer indices name the canonical weights
        self.layers = _fuse_conv_pools(layers, in_shapes)
        self._first_param = next((i for i, layer in enumerate(self.layers) if layer.param_names), len(self.layers))
        self.loss = SoftmaxCrossEntropy()
        self._inputs: dict[int, np.ndarray] = {}
        self._stage = None
        self._replicas: list[Net] = []
        if weights is not None:
            self.set_weights(weights)

    # -- weights ---------------------------------------------------------------
    def set_weights(self, weights: dict, source: str = "weights") -> None:
        """Copy canonical ``weights`` in (names and shapes checked; float64 values kept in a float64 net)."""
        check_weights(self.arch, weights, source)
        for name, dst in self.weights.items():
            np.copyto(dst, np.asarray(weights[name]), casting="unsafe")

    def get_weights(self, dtype=np.float32) -> dict[str, np.ndarray]:
        """Copies of the canonical weights."""
        return {name: w.astype(dtype, copy=True) for name, w in self.weights.items()}

    # -- worker threads ---------------------------------------------------------
    def replicas(self, count: int) -> list[Net]:
        """This net and ``count - 1`` replicas sharing its parameters (made once, then reused)."""
        while len(self._replicas) < count - 1:
            self._replicas.append(Net(self.arch, self.dtype, params_of=self))
        return [self, *self._replicas[:count - 1]]

    def map_chunks(self, count: int, fn) -> list:
        """Spread ``count`` chunks of a batch over the worker threads (see :mod:`.parallel`).

        Returns ``[fn(net_j, j, workers) for j in range(workers)]`` with ``workers = min(count,
        parallel.workers())``: call ``j`` runs on worker thread ``j`` with replica ``net_j`` and
        handles chunks ``j::workers`` in turn.  Call 0 runs on this net in the calling thread.
        """
        workers = min(parallel.workers(), count)
        nets = self.replicas(workers)
        return parallel.run(lambda j: fn(nets[j], j, workers), workers)

    # -- passes ----------------------------------------------------------------
    def input_buffer(self, n: int) -> np.ndarray:
        """A reused ``(C, H, W, n)`` buffer to put a batch in (layers cache views of it)."""
        buf = self._inputs.get(n)
        if buf is None:
            if len(self._inputs) >= 8:
                self._inputs.clear()
            buf = self._inputs[n] = np.empty((*self.arch.input_shape, n), self.dtype)
        return buf

    def to_internal(self, x_nchw: np.ndarray) -> np.ndarray:
        """``(N, C, H, W)`` -> ``(C, H, W, N)`` in the reused input buffer."""
        rows = self.staging(len(x_nchw))
        np.copyto(rows, x_nchw.reshape(len(x_nchw), -1), casting="same_kind")
        return self.from_rows(rows)

    def staging(self, n: int) -> np.ndarray:
        """A reused ``(n, C*H*W)`` buffer whose rows are 16 elements apart more than their length.

        Batches are put here first (one row per sample) and transposed by
        :meth:`from_rows`.  Transposing straight from NCHW reads with a stride
        of one image, 4096 bytes at 32x32 float32: every read then falls into
        the same L1 cache set, and the copy ran ~9x slower.
        """
        f = int(np.prod(self.arch.input_shape))
        stage = self._stage
        if stage is None or stage.shape[0] < n:
            stage = self._stage = np.empty((max(n, 64), f + 16), self.dtype)
        return stage[:n, :f]

    def from_rows(self, rows: np.ndarray) -> np.ndarray:
        """``(n, C*H*W)`` rows from :meth:`staging` -> the ``(C, H, W, n)`` input buffer."""
        n = len(rows)
        buf = self.input_buffer(n)
        np.copyto(buf.reshape(-1, n), rows.T)
        return buf

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x (C, H, W, N) -> logits (K, N)`` (a reused buffer)."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dlogits: np.ndarray, need_input_grad: bool = False):
        """Back-propagate ``dlogits (K, N)`` into :attr:`grads`; return ``dL/dx (C, H, W, N)`` if asked.

        Without ``need_input_grad`` the pass stops at the first layer with
        parameters, which does not compute its (unused) input gradient.
        """
        d = dlogits
        stop = 0 if need_input_grad else self._first_param
        for i in range(len(self.layers) - 1, stop - 1, -1):
            d = self.layers[i].backward(d, need_dx=need_input_grad or i > self._first_param)
        return d if need_input_grad else None

    def loss_and_grads(self, x: np.ndarray, labels: np.ndarray, scale: float | None = None) -> tuple[float, np.ndarray]:
        """Forward, mean cross-entropy and backward on ``x (C, H, W, N)``; returns ``(loss, logits (K, N))``.

        The gradients are of the mean loss, or of ``scale`` times the summed
        loss when ``scale`` is given (``1 / batch`` for a micro-batch).
        """
        logits = self.forward(x)
        loss = self.loss.forward(logits, labels)
        self.backward(self.loss.backward(scale))
        return loss, logits


# ---------------------------------------------------------------------------
# Backend contract
# ---------------------------------------------------------------------------
def _check_device(device: str) -> None:
    if device != "cpu":
        raise DeviceError(f"the handcrafted backend runs NumPy on the CPU only; device must be 'cpu', got {device!r}")


def _net(model: Model) -> Net:
    if model.backend != NAME or not isinstance(model.net, Net):
        raise TypeError(f"not a handcrafted model: backend {model.backend!r}")
    return model.net


def build(arch: Arch, seed: int = 0, device: str = "cpu", dtype=np.float32) -> Model:
    """A :class:`~lenet.backends.Model` of ``arch`` with the shared seeded initial weights."""
    _check_device(device)
    return Model(arch, Net(arch, dtype, weights=init_weights(arch, seed)), NAME, device)


# Micro-batches.  A step on a batch larger than TRAIN_CHUNK runs forward and backward on
# nearly equal chunks of at most TRAIN_CHUNK samples, adds up their gradients and then makes
# ONE optimizer step: the same update as the whole batch (only the summation order differs).
# It bounds the buffers (conv1's patch buffer is 30 MB at batch 1024).  Smaller chunks were
# tried for cache locality: on the shared 2-core machine, batch 256 whole ran 10-15% faster
# per sample than as chunks of 64 or 32 (paired runs against torch, 16 rounds each; one
# quiet run favoured chunks of 32), so batches up to 256 run whole on one worker thread.
# With more workers (parallel.py) a batch is split into at least one chunk per worker.
TRAIN_CHUNK = 256
# Inference chunks: chunks of 32 ran fastest, at batch 64 and 1024 alike (1 thread, interleaved: about
# 27k img/s against 19k for chunks of 128 and 26k for 16).  With the fused conv-pools (conv_pool.py) they
# still do: at batch 1024, chunks of 16, 48, 64 and 128 took 0.96-1.59x the time of 32 at 1 and 2
# threads, tanh and relu (8 interleaved rounds); only 48 and 64 came within 5%, in two of the four cases each.
PREDICT_CHUNK = 32


def _chunks(n: int, size: int, at_least: int = 1) -> list[slice]:
    """``n`` split into ``max(ceil(n / size), min(at_least, n))`` nearly equal consecutive slices."""
    k = max(-(-n // size), min(at_least, n))
    edges = [n * i // k for i in range(k + 1)]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


class Trainer:
    """Trains ``model`` on ``(x_train, y_train)`` with ``config``'s optimizer; see :class:`lenet.training.Trainer`.

    The training set is kept as float32 NCHW (no copy when it already is);
    each step gathers its batch into a reused buffer and transposes it to
    ``(C, H, W, N)``.  Optimizer state lives here, so each training run
    starts it fresh.  Batches above ``chunk`` samples, or split over
    several worker threads, are processed as micro-batches whose gradients
    are summed before the single update.
    """

    def __init__(self, model: Model, x_train, y_train, config: TrainConfig, chunk: int = TRAIN_CHUNK):
        self.net = _net(model)
        arch = model.arch
        self.x, self.y = training_set(arch, x_train, y_train, config)
        # float32 like the data, or a one-off converted copy for a float64 (gradient-check) net
        self._x_flat = self.x.reshape(len(self.x), -1).astype(self.net.dtype, copy=False)
        self.config = config
        self.chunk = int(chunk)
        if self.chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        self.optimizer = make_optimizer(config.optimizer, [self.net.flat_params], [self.net.flat_grads],
                                        momentum=config.momentum, weight_decay=config.weight_decay)
        self._grad_sums: dict[int, np.ndarray] = {}  # per worker: its micro-batches' summed gradient

    def _load(self, net: Net, idx: np.ndarray) -> np.ndarray:
        """Samples ``idx`` of the training set in ``net``'s ``(C, H, W, n)`` input buffer."""
        rows = net.staging(len(idx))
        np.take(self._x_flat, idx, axis=0, out=rows, mode="clip")  # bounds checked by step
        return net.from_rows(rows)

    def make_step(self, idx, lr: float):
        """For timing: a zero-argument callable making one step on the fixed samples ``idx`` at ``lr``.

        Returns the loss (the logits of :meth:`step` are computed anyway: the loss needs them).
        """
        idx = np.asarray(idx)
        return lambda: self.step(idx, lr)[0]

    def step(self, idx: np.ndarray, lr: float) -> tuple[float, np.ndarray]:
        """One optimizer step on samples ``idx``; returns ``(mean loss, logits (n, classes))`` before the update."""
        idx = np.asarray(idx)
        n = len(idx)
        if n == 0 or idx.min() < 0 or idx.max() >= len(self.x):
            raise IndexError(f"batch indices must be a non-empty subset of 0..{len(self.x) - 1}")
        parts = _chunks(n, self.chunk, at_least=parallel.workers())
        logits = np.empty((n, self.net.arch.num_classes), np.float32)
        results = self.net.map_chunks(len(parts), lambda net, j, workers: self._micro_batches(
            net, j, idx, parts[j::workers], logits))
        flat = self.net.flat_grads
        first, *rest = (grad for _, grad in results)
        if first is not flat:
            np.copyto(flat, first)
        for grad in rest:
            np.add(flat, grad, out=flat)
        self.optimizer.step(lr)
        return sum(loss for loss, _ in results) / n, logits

    def _micro_batches(self, net: Net, worker: int, idx: np.ndarray, parts: list[slice],
                       logits: np.ndarray) -> tuple[float, np.ndarray]:
        """Forward and backward on ``net`` of the micro-batches ``parts`` of ``idx``; their logits go into ``logits``.

        Returns their summed loss and their share of the gradient of the batch's mean loss:
        ``net.flat_grads`` itself for one part, else the sum in this worker's buffer.
        """
        n, total = len(idx), 0.0
        grad_sum = net.flat_grads
        if len(parts) > 1:
            if worker not in self._grad_sums:
                self._grad_sums[worker] = np.empty_like(net.flat_grads)
            grad_sum = self._grad_sums[worker]
        for i, part in enumerate(parts):
            sub = idx[part]
            loss, part_logits = net.loss_and_grads(self._load(net, sub), self.y[sub], scale=1.0 / n)
            total += loss * len(sub)
            np.copyto(logits[part], part_logits.T)
            if grad_sum is net.flat_grads:
                continue
            if i == 0:
                np.copyto(grad_sum, net.flat_grads)
            else:
                np.add(grad_sum, net.flat_grads, out=grad_sum)
        return total, grad_sum


def trainer(model: Model, x_train, y_train, config: TrainConfig, mode: str | None = None, *,
            chunk: int = TRAIN_CHUNK) -> Trainer:
    """A trainer in ``mode`` (``"eager"``, the only one); batches above ``chunk`` run as micro-batches."""
    check_mode(NAME, CAPABILITIES, "train", mode)
    return Trainer(model, x_train, y_train, config, chunk)


def train(model: Model, data, config: TrainConfig, progress: bool = True, mode: str | None = None):
    """Train on ``data`` (a :class:`~lenet.data.base.Dataset`) with the shared loop; returns the History."""
    tr = trainer(model, data.x_train, data.y_train, config, mode)
    return fit(tr, lambda x: predict(model, x), data, config, progress=progress, desc=NAME)


def predict(model: Model, x, batch_size: int = 1024) -> np.ndarray:
    """Logits ``(n, classes)`` float32 for NCHW input ``x``, computed ``batch_size`` samples at a time.

    Batches above :data:`PREDICT_CHUNK` run as chunks of at most that size
    (cache-sized), and in at least one chunk per worker thread (the logits
    depend on neither: see :func:`infer_chunks`).
    """
    net = _net(model)
    x = check_input(model.arch, x)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(x)
    out = np.empty((n, model.arch.num_classes), np.float32)
    if n == 1:  # latency path: no staging, nothing to transpose
        np.copyto(net.input_buffer(1).reshape(1, -1), x.reshape(1, -1))
        np.copyto(out, net.forward(net.input_buffer(1)).T)
        return out
    chunks = [slice(sl.start + part.start, sl.start + part.stop)
              for sl in batch_slices(n, batch_size) for part in infer_chunks(sl.stop - sl.start)]

    def forward(replica: Net, worker: int, workers: int):
        for part in chunks[worker::workers]:
            np.copyto(out[part], replica.forward(replica.to_internal(x[part])).T)

    net.map_chunks(len(chunks), forward)
    return out


def infer_chunks(n: int) -> list[slice]:
    """How inference splits a batch of ``n``: chunks of at most :data:`PREDICT_CHUNK`, at least one per worker."""
    return _chunks(n, PREDICT_CHUNK, at_least=parallel.workers())



def get_weights(model: Model) -> dict[str, np.ndarray]:
    """Canonical float32 weights (copies)."""
    return _net(model).get_weights()


def set_weights(model: Model, weights: dict) -> None:
    """Load canonical weights; a missing, extra or mis-shaped array raises naming its key."""
    _net(model).set_weights(weights)


def save(model: Model, path: str | os.PathLike) -> None:
    save_model(model, path, get_weights)


def load(path: str | os.PathLike, device: str = "cpu", arch: Arch | None = None) -> Model:
    _check_device(device)
    return load_model(path, build, set_weights, device=device, arch=arch)


def set_threads(n: int) -> dict:
    """Run batch chunks on ``n`` worker threads (:mod:`.parallel`), and limit NumPy's BLAS to ``n`` threads.

    While the workers run, BLAS is held at one thread each.  The BLAS limit
    is the one :func:`lenet.measure.threads.set_threads` applies; repeating
    it here makes :func:`lenet.backends.get_backend` honour ``LENET_THREADS``
    for this backend as it does for the others.
    """
    n = check_thread_count(n)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n, user_api="blas")
    parallel.set_workers(n)
    return thread_counts()


def thread_counts() -> dict:
    """The worker threads (the BLAS pool is reported by :func:`lenet.measure.threads.report`)."""
    return {"handcrafted_workers": parallel.workers()}


def versions() -> dict:
    return {"numpy": np.__version__}


def devices() -> list[str]:
    return ["cpu"]
