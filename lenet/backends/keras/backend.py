"""Keras 3 (TensorFlow) backend: the spec translated into a channels-last ``keras.Sequential``.

The Keras model takes NHWC.  :func:`predict` and the trainer transpose the
canonical NCHW arrays once, outside the model call, and
:func:`get_weights` / :func:`set_weights` convert layouts exactly, at no
runtime cost:

- conv kernel: canonical ``(out, in, kh, kw)`` <-> Keras ``(kh, kw, in, out)``;
- the first dense layer after a ``Flatten`` of a ``(C, H, W)`` map: Keras
  flattens channels-last, in ``(H, W, C)`` order, while the canonical rows
  follow ``(C, H, W)`` (``torch.flatten`` on NCHW); the rows are permuted.

Translation notes (each one is what the spec says, see :mod:`lenet.spec`):

- ``Conv(padding=p)`` -> ``ZeroPadding2D(p)`` then a "valid" ``Conv2D``.
- ``Pool("max", padding=p)`` -> :class:`NegInfPadding2D` (pads with -inf) then a
  "valid" ``MaxPooling2D``.  Keras' own ``padding="same"`` is not the same thing.
- ``Pool("avg", padding=p)`` -> ``ZeroPadding2D(p)`` then a "valid"
  ``AveragePooling2D``: the zeros count in the mean (``count_include_pad=True``).
- ``Act("swish")`` -> Keras ``"silu"`` (x * sigmoid(x)).

Training is a hand-written step (``tf.GradientTape``), run in one of four
modes (``trainer(..., mode=...)``, declared ``train_modes``), all the same algorithm
from the same weights:

- ``"graph"`` (the default): the step inside one ``tf.function`` with a fixed
  input signature (indices of any length), so it traces once and never again;
- ``"eager"``: the same Python step called directly, op by op;
- ``"xla"``: the same ``tf.function`` with ``jit_compile=True``.  It still
  traces once, but XLA compiles one executable per distinct batch shape (the
  last partial batch of an epoch costs one more compilation);
- ``"fit"``: Keras' own loop.  The model is ``compile()``-d with the same
  torch-form optimizer and ``SparseCategoricalCrossentropy(from_logits=True)``
  (a mean over the batch, as in the other modes); ``jit_compile`` keeps
  Keras' default ``"auto"`` (False for these models on the CPU).
  :meth:`KerasFitTrainer.fit` trains whole epochs with one ``model.fit`` call
  fed the shared seeded order (see there); :meth:`KerasFitTrainer.step` runs
  ``train_on_batch``, the same compiled train step with Keras' per-call
  bookkeeping.  Its figures include Keras' own overheads (callbacks, metric
  trackers, data adapters).

Inference runs likewise in the declared ``infer_modes`` (``make_forward(..., mode=...)``):
``"graph"`` (default, one traced ``tf.function``), ``"eager"``
(``model(x, training=False)``), ``"xla"`` and ``"predict"`` (``model.predict``).

The optimizers of Keras are made to follow :class:`lenet.training.TrainConfig`:

- ``weight_decay`` is added to the gradient (``g + wd * p``, every parameter,
  biases included) as torch does, not Keras' decoupled ``weight_decay``.  It is
  done inside the optimizer's ``apply_gradients`` (:class:`TorchSGD`,
  :class:`TorchAdam`), so that ``model.fit`` applies it too.
- SGD momentum: Keras keeps ``v' = m*v' - lr*g; p += v'`` where torch keeps
  ``v = m*v + g; p -= lr*v``.  While lr is constant ``v' = -lr*v`` and the two
  agree.  When lr changes (a schedule), torch applies the new lr to the whole
  accumulated velocity, Keras only to new gradients; the trainer therefore
  rescales Keras' velocity by ``lr_new / lr_old`` at each change, which keeps
  ``v' = -lr*v`` and the two forms identical.
- Adam: Keras folds both bias corrections into the step size
  (``p -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)``), so its epsilon
  acts as ``eps / sqrt(1 - b2^t)`` in torch's formula
  (``p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``): 3.2e-7 instead
  of 1e-8 at the first step, decaying over thousands of steps.  Parameters
  with small gradients (first-layer weights over a constant image border)
  then move several times less than in torch: a measured 1.6e-4 against
  8.6e-4 after one step at lr 1e-3.  :class:`TorchFormAdam` is Keras' Adam
  (same slots and step counter) with torch's update rule.

Only this module imports TensorFlow and Keras.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ... import training  # noqa: E402
from ...init import init_weights
from ...io.weights import check_weights  # noqa: E402
from ...measure import threads  # noqa: E402
from ...spec import Act, Arch, Conv, Dense, Flatten, Pool  # noqa: E402
from .. import DeviceError, Model  # noqa: E402
from ..common import batch_slices, check_input, check_labels, check_mode, check_thread_count, load_model, save_model  # noqa: E402
from ..common import cold_start as cold_start  # noqa: E402  (the contract's defaults)
from ..common import mode_unavailable as mode_unavailable  # noqa: E402
from ..common import warm_up as warm_up  # noqa: E402
from . import CAPABILITIES, NAME  # noqa: E402
from .tflite import compress as compress  # noqa: E402  (the native compression hooks)
from .tflite import load_artifact as load_artifact  # noqa: E402

# --------------------------------------------------------------------------- threads
#
# TensorFlow sizes its thread pools once, when its runtime starts (the first
# op or device query).  Apply the requested count now, before Keras is even
# imported; later calls can only confirm it.


def _set_pool(get, set_, n: int) -> None:
    if get() == n:
        return
    try:
        set_(n)
    except RuntimeError:
        pass  # the runtime has started; thread_counts() reports what is in force


def set_threads(n: int) -> dict:
    """Ask for ``n`` intra-op and ``n`` inter-op threads.

    This takes effect only before TensorFlow's runtime has started (this
    module applies :func:`lenet.measure.threads.requested` on import, so set
    ``LENET_THREADS`` or call :func:`lenet.measure.threads.set_threads` before
    importing the backend).  Afterwards the call changes nothing and does not
    fail; :func:`thread_counts` reports the values actually in force.
    """
    n = check_thread_count(n)
    cfg = tf.config.threading
    _set_pool(cfg.get_intra_op_parallelism_threads, cfg.set_intra_op_parallelism_threads, n)
    _set_pool(cfg.get_inter_op_parallelism_threads, cfg.set_inter_op_parallelism_threads, n)
    return thread_counts()


def thread_counts() -> dict:
    """TF's pool sizes in force (0 means TF's default, all cores: seen only when TF's runtime started
    before this module was imported, so that the import-time setting could not apply)."""
    cfg = tf.config.threading
    return {"tf_intra": cfg.get_intra_op_parallelism_threads(), "tf_inter": cfg.get_inter_op_parallelism_threads()}


set_threads(threads.requested())

import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"the keras backend of lenet-bench needs Keras on TensorFlow, but KERAS_BACKEND is "
        f"{keras.backend.backend()!r}; unset it or set KERAS_BACKEND=tensorflow"
    )


def versions() -> dict:
    return {"tensorflow": tf.__version__, "keras": keras.__version__}


# --------------------------------------------------------------------------- devices


def _gpus() -> list:
    return tf.config.list_physical_devices("GPU")


def devices() -> list[str]:
    """Usable device names: ``"cpu"``, plus ``"gpu"`` when TensorFlow sees a GPU."""
    return ["cpu"] + (["gpu"] if _gpus() else [])


def _device(device: str) -> tuple[str, str]:
    """``(name for Model.device, TF device string)``; ``"cuda"`` is accepted for ``"gpu"``."""
    name = str(device).lower()
    if name == "cpu":
        return "cpu", "/CPU:0"
    if name in ("gpu", "cuda"):
        if not _gpus():
            raise DeviceError(
                f"device {device!r} requested but TensorFlow {tf.__version__} sees no GPU "
                f"(tensorflow-cpu, or no CUDA device visible); use device='cpu'"
            )
        return "gpu", "/GPU:0"
    raise DeviceError(f"unknown device {device!r} for the keras backend; choose one of {devices()}")


def _tf_device(model: Model) -> str:
    return "/GPU:0" if model.device == "gpu" else "/CPU:0"


# --------------------------------------------------------------------------- build


@keras.saving.register_keras_serializable(package="lenet")
class NegInfPadding2D(layers.Layer):
    """Pad H and W of an NHWC tensor by ``padding`` on every side with -inf (for max pooling).

    The spec limits pool padding to half the window, so every window keeps at
    least one real value and the -inf never reaches the output or a gradient.
    """

    def __init__(self, padding: int, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, x):
        p = self.padding
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], constant_values=float("-inf"))

    def compute_output_shape(self, shape):
        grow = lambda d: None if d is None else d + 2 * self.padding  # noqa: E731
        return (shape[0], grow(shape[1]), grow(shape[2]), shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


_ACTIVATIONS = {"tanh": "tanh", "relu": "relu", "sigmoid": "sigmoid", "swish": "silu"}
_CL = "channels_last"


def _layer_name(i: int, kind: str) -> str:
    return f"spec{i}_{kind}"


def _keras_layers(i: int, layer) -> list:
    if isinstance(layer, Conv):
        pad = []
        if layer.padding:
            pad = [layers.ZeroPadding2D(layer.padding, data_format=_CL, name=_layer_name(i, "pad"))]
        return pad + [layers.Conv2D(layer.out_channels, layer.kernel, strides=layer.stride, padding="valid",
                                    data_format=_CL, name=_layer_name(i, "conv"))]
    if isinstance(layer, Pool):
        pad = []
        if layer.padding:
            pad_cls = NegInfPadding2D if layer.op == "max" else layers.ZeroPadding2D
            kw = {} if layer.op == "max" else {"data_format": _CL}
            pad = [pad_cls(layer.padding, name=_layer_name(i, "pad"), **kw)]
        pool_cls = layers.MaxPooling2D if layer.op == "max" else layers.AveragePooling2D
        return pad + [pool_cls(layer.size, strides=layer.step, padding="valid", data_format=_CL,
                               name=_layer_name(i, "pool"))]
    if isinstance(layer, Dense):
        return [layers.Dense(layer.units, name=_layer_name(i, "dense"))]
    if isinstance(layer, Act):
        return [layers.Activation(_ACTIVATIONS[layer.fn], name=_layer_name(i, "act"))]
    if isinstance(layer, Flatten):
        return [layers.Flatten(data_format=_CL, name=_layer_name(i, "flatten"))]
    raise TypeError(f"keras backend cannot translate {layer!r}")  # the spec rejects these first


def _nhwc_shape(arch: Arch) -> tuple:
    c, h, w = arch.input_shape
    return (h, w, c)


def _forward_fn(net, arch: Arch, jit_compile: bool | None = None):
    """One traced inference function for any batch size (``training=False``); XLA with ``jit_compile=True``."""
    def forward(x):
        return net(x, training=False)

    spec = tf.TensorSpec((None, *_nhwc_shape(arch)), tf.float32)
    return tf.function(forward, input_signature=[spec], autograph=False, jit_compile=jit_compile)


def build(arch: Arch, seed: int = 0, device: str = "cpu") -> Model:
    """``arch`` as a channels-last ``keras.Sequential`` holding ``lenet.init.init_weights(arch, seed)``.

    Keras' own initialisers run first and are overwritten; nothing random is
    used after that, so no global seed is touched.
    """
    name, tf_dev = _device(device)
    with tf.device(tf_dev):
        stack = [keras.Input(shape=_nhwc_shape(arch), dtype="float32", name="image_nhwc")]
        for i, layer in enumerate(arch.layers):
            stack += _keras_layers(i, layer)
        net = keras.Sequential(stack, name=arch.name.replace("-", "_"))
    model = Model(arch=arch, net=net, backend=NAME, device=name)
    net._lenet_forward = _forward_fn(net, arch)
    set_weights(model, init_weights(arch, seed))
    return model


# --------------------------------------------------------------------------- weights


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
            out[f"{i}.weight"] = (_layer_name(i, "conv"), "kernel", "conv")
            out[f"{i}.bias"] = (_layer_name(i, "conv"), "bias", None)
        elif isinstance(layer, Dense):
            out[f"{i}.weight"] = (_layer_name(i, "dense"), "kernel", ("flat", flat_from) if flat_from else None)
            out[f"{i}.bias"] = (_layer_name(i, "dense"), "bias", None)
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


def save(model: Model, path: str | os.PathLike) -> None:
    """Write the canonical weights and the spec to ``path`` (atomic ``.npz``)."""
    save_model(model, path, get_weights, {"tensorflow": tf.__version__, "keras": keras.__version__})


def load(path: str | os.PathLike, device: str = "cpu", arch: Arch | None = None) -> Model:
    """Build the model stored in ``path``; with ``arch``, refuse a file written for another architecture."""
    return load_model(path, build, set_weights, device=device, arch=arch)


# --------------------------------------------------------------------------- inference


def to_nhwc(x: np.ndarray) -> np.ndarray:
    """Canonical NCHW float32 -> contiguous NHWC (one copy)."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def predict(model: Model, x, batch_size: int = 1024) -> np.ndarray:
    """Logits ``(n, classes)`` float32 for NCHW input ``x``, through one traced ``tf.function``.

    (``model.predict`` is avoided: it adds about 50 ms per call.)
    """
    x = to_nhwc(check_input(model.arch, x))
    out = np.empty((len(x), model.arch.num_classes), dtype=np.float32)
    forward = model.net._lenet_forward
    with tf.device(_tf_device(model)):
        for s in batch_slices(len(x), batch_size):
            out[s] = forward(tf.constant(x[s])).numpy()
    return out


# --------------------------------------------------------------------------- measurement


def _xla_forward(model: Model):
    """The model's XLA inference function, made on first use (one trace; one XLA compilation per batch shape)."""
    fn = getattr(model.net, "_lenet_forward_xla", None)
    if fn is None:
        fn = model.net._lenet_forward_xla = _forward_fn(model.net, model.arch, jit_compile=True)
    return fn


def make_forward(model: Model, x, mode: str | None = None):
    """A zero-argument callable running the forward pass on ``x``, converted (NHWC, on the device) once.

    ``mode``: ``"graph"`` (the default) the model's traced
    ``tf.function`` (the one :func:`predict` uses); ``"eager"``
    ``model(x, training=False)`` op by op; ``"xla"`` the same function
    compiled by XLA; ``"predict"`` Keras' ``model.predict(x, batch_size=len(x))``,
    which returns NumPy and carries Keras' per-call overheads.

    On a GPU the call reads the logits back, which waits for the computation;
    on the CPU TensorFlow's eager calls return only when the result exists.
    """
    mode = check_mode(NAME, CAPABILITIES, "infer", mode)
    with tf.device(_tf_device(model)):
        xt = tf.identity(tf.constant(to_nhwc(check_input(model.arch, x))))
    net, gpu = model.net, model.device == "gpu"
    if mode == "graph":
        fn = net._lenet_forward
    elif mode == "xla":
        fn = _xla_forward(model)
    elif mode == "eager":
        fn = lambda t: net(t, training=False)  # noqa: E731
    else:
        size = max(int(xt.shape[0]), 1)
        fn = lambda t: net.predict(t, batch_size=size, verbose=0)  # noqa: E731

    def forward():
        with tf.device(_tf_device(model)):
            out = fn(xt)
        if gpu and not isinstance(out, np.ndarray):
            out.numpy()
        return out

    return forward


def count_flops(model: Model, batch_size: int) -> dict:
    """TF's profiler on the frozen forward graph for a fixed ``batch_size`` (convention ``flops_tf``, per batch).

    The profiler counts 2 x MACs, bias adds and pool-window reads, and no
    tanh, relu or sigmoid; but it counts 2 FLOPs per swish (silu) element,
    which the ``flops_tf`` convention leaves out (lenet5-modified: 16,024 per
    sample more than the analytic figure).
    """
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    net = model.net

    def forward(x):
        return net(x, training=False)

    concrete = tf.function(forward, autograph=False).get_concrete_function(
        tf.TensorSpec((batch_size, *_nhwc_shape(model.arch)), tf.float32))
    graph = convert_variables_to_constants_v2(concrete).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # the v1 profiler logs a deprecation notice on every call
    try:
        info = tf.compat.v1.profiler.profile(graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op",
                                             options=options)
    finally:
        logger.setLevel(level)
    return {"tf_profiler": {"value": int(info.total_float_ops), "convention": "flops_tf", "per": "batch",
                            "batch_size": int(batch_size)}}


def reset_peak_memory(model: Model) -> None:
    if model.device == "gpu":
        tf.config.experimental.reset_memory_stats("GPU:0")


def peak_memory(model: Model) -> int | None:
    """Peak bytes TensorFlow allocated on the GPU since :func:`reset_peak_memory`; None on the CPU."""
    if model.device != "gpu":
        return None
    return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])


# --------------------------------------------------------------------------- training


@keras.saving.register_keras_serializable(package="lenet")
class TorchFormAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` with torch's (and the paper's Algorithm 1) placement of epsilon.

    ``m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
    p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``.  Keras' own rule
    differs for small gradients; see the module docstring.
    """

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        t = ops.cast(self.iterations + 1, dtype)
        bias1 = 1 - ops.power(ops.cast(self.beta_1, dtype), t)
        bias2 = 1 - ops.power(ops.cast(self.beta_2, dtype), t)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        denom = ops.add(ops.divide(ops.sqrt(v), ops.sqrt(bias2)), self.epsilon)
        self.assign_sub(variable, ops.divide(ops.multiply(m, lr / bias1), denom))


class _TorchWeightDecay:
    """Mixin for a Keras optimizer: torch's ``weight_decay`` (``g + wd * p``) added to every gradient.

    It sits in ``apply_gradients``, which both the hand-written step and
    Keras' ``fit`` call.  ``python_calls`` counts how often that Python code
    ran: once per step in eager mode, once per trace in a traced one (a
    Python-side trace counter that also sees inside ``model.fit``).
    """

    def __init__(self, *args, torch_weight_decay: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.torch_weight_decay = float(torch_weight_decay)
        self.python_calls = 0

    def apply_gradients(self, grads_and_vars):
        self.python_calls += 1
        wd = self.torch_weight_decay
        if wd:  # L2 on the gradient, as torch's weight_decay (not decoupled)
            grads_and_vars = [(g + wd * v, v) for g, v in grads_and_vars]
        return super().apply_gradients(grads_and_vars)

    def get_config(self):
        return {**super().get_config(), "torch_weight_decay": self.torch_weight_decay}


@keras.saving.register_keras_serializable(package="lenet")
class TorchSGD(_TorchWeightDecay, keras.optimizers.SGD):
    """Keras SGD with torch's weight decay; the trainer keeps its momentum in torch's form across lr changes."""


@keras.saving.register_keras_serializable(package="lenet")
class TorchAdam(_TorchWeightDecay, TorchFormAdam):
    """:class:`TorchFormAdam` with torch's weight decay."""


def _optimizer(config: training.TrainConfig):
    if config.optimizer == "sgd":
        return TorchSGD(learning_rate=float(config.lr), momentum=float(config.momentum),
                        torch_weight_decay=float(config.weight_decay))
    return TorchAdam(learning_rate=float(config.lr), beta_1=0.9, beta_2=0.999, epsilon=1e-8, amsgrad=False,
                     torch_weight_decay=float(config.weight_decay))


class _TrainerBase:
    """The training set as TF tensors (converted once, NHWC), the optimizer, and the learning rate."""

    mode = ""

    def __init__(self, model: Model, x_train, y_train, config: training.TrainConfig):
        x_train = check_input(model.arch, x_train)
        y_train = check_labels(model.arch, x_train, y_train)
        self.model = model
        self.config = config
        self.device = _tf_device(model)
        self.gpu = model.device == "gpu"
        with tf.device(self.device):
            self.x = tf.constant(to_nhwc(x_train))
            self.y = tf.constant(y_train.astype(np.int32))
            self.optimizer = _optimizer(config)
            self.variables = list(model.net.trainable_variables)
            self.optimizer.build(self.variables)  # create slots now, not inside the trace
        self.lr = float(config.lr)

    def _set_lr(self, lr: float) -> None:
        lr = float(lr)
        if lr == self.lr:
            return
        if isinstance(self.optimizer, keras.optimizers.SGD) and self.optimizer.momentum:
            # keep Keras' velocity equal to -lr * torch's (see the module docstring)
            for v in self.optimizer.momentums:
                v.assign(v * (lr / self.lr))
        self.optimizer.learning_rate = lr  # assigns the optimizer's lr variable: no retrace
        self.lr = lr

    def _index(self, idx) -> tf.Tensor:
        with tf.device(self.device):
            return tf.constant(np.asarray(idx, dtype=np.int32))

    def _wait(self, loss) -> float:
        """The loss as a float: reading it back waits for it; on a GPU, wait for the update as well."""
        if self.gpu:
            tf.test.experimental.sync_devices()
        return float(loss)


class KerasTrainer(_TrainerBase):
    """The hand-written step in mode ``"eager"``, ``"graph"`` (one ``tf.function``) or ``"xla"``."""

    def __init__(self, model: Model, x_train, y_train, config: training.TrainConfig, mode: str = "graph"):
        if mode not in ("eager", "graph", "xla"):
            raise ValueError(f"KerasTrainer runs modes eager, graph and xla, got {mode!r}; use trainer() for 'fit'")
        self.mode = mode
        super().__init__(model, x_train, y_train, config)
        net = model.net
        x_all, y_all, variables, optimizer = self.x, self.y, self.variables, self.optimizer

        def train_step(idx):
            xb = tf.gather(x_all, idx)
            yb = tf.gather(y_all, idx)
            with tf.GradientTape() as tape:
                logits = net(xb, training=True)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yb, logits=logits))
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables))  # adds torch's weight decay
            return loss, logits

        if mode == "eager":
            self.train_step = train_step
        else:
            self.train_step = tf.function(train_step, input_signature=[tf.TensorSpec([None], tf.int32)],
                                          autograph=False, jit_compile=True if mode == "xla" else None)

    def tracing_count(self) -> int:
        """Traces of the step so far: 0 in eager mode (nothing is traced; Python runs every step)."""
        return 0 if self.mode == "eager" else self.train_step.experimental_get_tracing_count()

    def step(self, idx: np.ndarray, lr: float) -> tuple[float, np.ndarray]:
        """Train on samples ``idx`` with learning rate ``lr``; return (mean loss, logits)."""
        self._set_lr(lr)
        index = self._index(idx)
        with tf.device(self.device):
            loss, logits = self.train_step(index)
        return float(loss.numpy()), logits.numpy()

    def make_step(self, idx, lr: float):
        """For timing: a zero-argument callable making one step on the fixed samples ``idx`` at ``lr``.

        The indices are converted once; each call gathers the batch, trains on it and returns the loss as a
        float (on a GPU after synchronising the devices), without copying the logits out.
        """
        self._set_lr(lr)
        index, step, device = self._index(idx), self.train_step, self.device

        def run() -> float:
            with tf.device(device):
                loss, _ = step(index)
            return self._wait(loss)

        return run


class KerasFitTrainer(_TrainerBase):
    """Keras' own loop: ``model.compile`` with the same loss and torch-form optimizer, then ``fit``.

    :meth:`fit` trains whole epochs in one ``model.fit`` call.  The shared
    seeded order (:func:`lenet.training.batch_indices`) is fed as a
    ``tf.data`` pipeline of the pre-permuted indices: one row of ``n`` indices
    per epoch, each row cut into batches (the last one partial, never mixed
    with the next epoch), each batch gathered from the training tensors, and
    ``steps_per_epoch`` set so that Keras keeps one iterator across epochs.
    A callback sets each epoch's learning rate (with the SGD momentum kept in
    torch's form) and records the same history as :func:`lenet.training.fit`.

    :meth:`step` serves the shared :class:`lenet.training.Trainer` protocol
    and the per-step timings: it runs ``train_on_batch`` (Keras' compiled train
    step, plus its per-call bookkeeping) after one traced forward pass for the
    logits that the protocol returns (``train_on_batch`` does not return
    them); :meth:`make_step` times ``train_on_batch`` alone.
    """

    mode = "fit"

    def __init__(self, model: Model, x_train, y_train, config: training.TrainConfig):
        super().__init__(model, x_train, y_train, config)
        k = min(5, model.arch.num_classes)
        model.net.compile(optimizer=self.optimizer,
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=[keras.metrics.SparseCategoricalAccuracy(name="top1"),
                                   keras.metrics.SparseTopKCategoricalAccuracy(k=k, name="top5")])
        self.net = model.net

    @property
    def jit_compile(self) -> bool:
        """What Keras' ``jit_compile="auto"`` resolved to for this model."""
        return bool(self.net.jit_compile)

    def tracing_count(self) -> int:
        """Traces of Keras' train step so far (counted on the Python side, in the optimizer)."""
        return self.optimizer.python_calls

    def _batch(self, index):
        with tf.device(self.device):
            return tf.gather(self.x, index), tf.gather(self.y, index)

    def step(self, idx: np.ndarray, lr: float) -> tuple[float, np.ndarray]:
        """``train_on_batch`` on samples ``idx`` at ``lr``; return (mean loss, logits before the update)."""
        self._set_lr(lr)
        xb, yb = self._batch(self._index(idx))
        with tf.device(self.device):
            logits = self.net._lenet_forward(xb)
            logs = self.net.train_on_batch(xb, yb, return_dict=True)
        return float(logs["loss"]), logits.numpy()

    def make_step(self, idx, lr: float):
        """For timing: a zero-argument callable gathering the fixed samples ``idx`` and running ``train_on_batch``."""
        self._set_lr(lr)
        index, net, device = self._index(idx), self.net, self.device

        def run() -> float:
            xb, yb = self._batch(index)
            with tf.device(device):
                logs = net.train_on_batch(xb, yb, return_dict=True)  # returns NumPy: the step has run
            return self._wait(logs["loss"])

        return run

    def dataset(self, epochs: int) -> tuple:
        """``(tf.data.Dataset, steps_per_epoch)``: ``epochs`` epochs of batches in the shared seeded order."""
        cfg, n = self.config, int(self.y.shape[0])
        orders = np.stack([np.concatenate(training.batch_indices(n, cfg.batch_size, cfg.seed, e))
                           for e in range(epochs)]).astype(np.int32)
        x, y, b = self.x, self.y, cfg.batch_size
        ds = (tf.data.Dataset.from_tensor_slices(orders)
              .flat_map(lambda order: tf.data.Dataset.from_tensor_slices(order).batch(b))
              .map(lambda idx: (tf.gather(x, idx), tf.gather(y, idx)))
              .prefetch(tf.data.AUTOTUNE))
        return ds, -(-n // b)

    def fit(self, data, progress: bool = True, desc: str = "keras fit") -> training.History:
        """Train ``config.epochs`` epochs with one ``model.fit`` call; the same History as :func:`training.fit`.

        ``seconds`` of an epoch runs from Keras' ``on_epoch_begin`` to its
        ``on_epoch_end``, before the validation pass, so it includes whatever
        Keras does at the epoch boundary; the whole call is timed as well, in
        ``fit_seconds`` of the last row.
        """
        import time

        from tqdm.auto import tqdm

        from ...metrics import evaluate

        cfg, model, trainer = self.config, self.model, self
        history = training.History()
        ds, steps = self.dataset(cfg.epochs)
        bar = tqdm(total=cfg.epochs, desc=desc, unit="epoch", disable=not progress, dynamic_ncols=True, leave=False)

        class Epochs(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                trainer._set_lr(cfg.lr_at(epoch))
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                seconds = time.perf_counter() - self.start
                val = evaluate(predict(model, data.x_val), data.y_val)
                history.append({
                    "epoch": epoch + 1, "lr": cfg.lr_at(epoch), "seconds": seconds,
                    "train_loss": float(logs["loss"]), "train_top1": float(logs["top1"]),
                    "train_top5": float(logs["top5"]),
                    "val_loss": val["loss"], "val_top1": val["top1"], "val_top5": val["top5"],
                })
                bar.update(1)

        start = time.perf_counter()
        with bar, tf.device(self.device):
            self.net.fit(ds, epochs=cfg.epochs, steps_per_epoch=steps, shuffle=False, verbose=0,
                         callbacks=[Epochs()])  # the order is the dataset's
        history.epochs[-1]["fit_seconds"] = time.perf_counter() - start
        return history


def trainer(model: Model, x_train, y_train, config: training.TrainConfig,
            mode: str | None = None) -> KerasTrainer | KerasFitTrainer:
    """A trainer in ``mode`` (declared ``train_modes``; ``"graph"`` by default): see the module docstring."""
    mode = check_mode(NAME, CAPABILITIES, "train", mode)
    if mode == "fit":
        return KerasFitTrainer(model, x_train, y_train, config)
    return KerasTrainer(model, x_train, y_train, config, mode)


def train(model: Model, data, config: training.TrainConfig, progress: bool = True,
          mode: str | None = None) -> training.History:
    """Train on ``data`` (a :class:`lenet.data.Dataset`); returns the History.

    Modes ``"eager"``, ``"graph"`` and ``"xla"`` run the shared loop
    (:func:`lenet.training.fit`); ``"fit"`` runs one ``model.fit`` call
    (:meth:`KerasFitTrainer.fit`) in the same data order and schedule.
    """
    t = trainer(model, data.x_train, data.y_train, config, mode)
    desc = f"keras {model.arch.name}" + ("" if mode in (None, "graph") else f" ({mode})")
    if isinstance(t, KerasFitTrainer):
        return t.fit(data, progress=progress, desc=desc)
    return training.fit(t, lambda x: predict(model, x), data, config, progress=progress, desc=desc)
