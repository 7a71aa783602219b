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

Training is a hand-written step (``tf.GradientTape`` inside one
``tf.function`` with a fixed input signature, so it traces once), with the
optimizers of Keras made to follow :class:`lenet.training.TrainConfig`:

- ``weight_decay`` is added to the gradient (``g + wd * p``, every parameter,
  biases included) as torch does, not Keras' decoupled ``weight_decay``.
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

from .. import threads, training  # noqa: E402
from ..spec import Act, Arch, Conv, Dense, Flatten, Pool  # noqa: E402
from ..weights import check_weights  # noqa: E402
from . import Model  # noqa: E402
from .common import (  # noqa: E402
    batch_slices,
    check_input,
    check_labels,
    initial_weights,
    load_model,
    save_model,
)

NAME = "keras"


class DeviceError(RuntimeError):
    """A device that this installation of TensorFlow cannot use."""


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
    module applies :func:`lenet.threads.requested` on import, so set
    ``LENET_THREADS`` or call :func:`lenet.threads.set_threads` before
    importing the backend).  Afterwards the call changes nothing and does not
    fail; :func:`thread_counts` reports the values actually in force.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
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


def _forward_fn(net, arch: Arch):
    """One traced inference function for any batch size (``training=False``)."""
    def forward(x):
        return net(x, training=False)

    spec = tf.TensorSpec((None, *_nhwc_shape(arch)), tf.float32)
    return tf.function(forward, input_signature=[spec], autograph=False)


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
    set_weights(model, initial_weights(arch, seed))
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


def make_forward(model: Model, x):
    """A zero-argument callable running the traced forward pass on ``x``, converted (NHWC, on the device) once.

    On a GPU the call reads the logits back, which waits for the computation;
    on the CPU TensorFlow's eager calls return only when the result exists.
    """
    with tf.device(_tf_device(model)):
        xt = tf.identity(tf.constant(to_nhwc(check_input(model.arch, x))))
    fn, gpu = model.net._lenet_forward, model.device == "gpu"

    def forward():
        with tf.device(_tf_device(model)):
            out = fn(xt)
        if gpu:
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


class KerasTrainer:
    """The training set as TF tensors (converted once, NHWC), the optimizer, and one traced step."""

    def __init__(self, model: Model, x_train, y_train, config: training.TrainConfig):
        x_train = check_input(model.arch, x_train)
        y_train = check_labels(model.arch, x_train, y_train)
        self.model = model
        self.config = config
        self.device = _tf_device(model)
        net = model.net
        with tf.device(self.device):
            self.x = tf.constant(to_nhwc(x_train))
            self.y = tf.constant(y_train.astype(np.int32))
            if config.optimizer == "sgd":
                self.optimizer = keras.optimizers.SGD(learning_rate=float(config.lr),
                                                      momentum=float(config.momentum))
            else:
                self.optimizer = TorchFormAdam(learning_rate=float(config.lr), beta_1=0.9,
                                               beta_2=0.999, epsilon=1e-8, amsgrad=False)
            self.variables = list(net.trainable_variables)
            self.optimizer.build(self.variables)  # create slots now, not inside the trace
        self.lr = float(config.lr)
        weight_decay = float(config.weight_decay)
        x_all, y_all, variables, optimizer = self.x, self.y, self.variables, self.optimizer

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)], autograph=False)
        def train_step(idx):
            xb = tf.gather(x_all, idx)
            yb = tf.gather(y_all, idx)
            with tf.GradientTape() as tape:
                logits = net(xb, training=True)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yb, logits=logits))
            grads = tape.gradient(loss, variables)
            if weight_decay:  # L2 on the gradient, as torch's weight_decay (not decoupled)
                grads = [g + weight_decay * v for g, v in zip(grads, variables)]
            optimizer.apply_gradients(zip(grads, variables))
            return loss, logits

        self.train_step = train_step

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

    def step(self, idx: np.ndarray, lr: float) -> tuple[float, np.ndarray]:
        """Train on samples ``idx`` with learning rate ``lr``; return (mean loss, logits)."""
        self._set_lr(lr)
        with tf.device(self.device):
            loss, logits = self.train_step(tf.constant(np.asarray(idx, dtype=np.int32)))
        return float(loss.numpy()), logits.numpy()


def trainer(model: Model, x_train, y_train, config: training.TrainConfig) -> KerasTrainer:
    return KerasTrainer(model, x_train, y_train, config)


def train(model: Model, data, config: training.TrainConfig, progress: bool = True) -> training.History:
    """Train on ``data`` (a :class:`lenet.data.Dataset`) with the shared loop; returns the History."""
    t = trainer(model, data.x_train, data.y_train, config)
    return training.fit(t, lambda x: predict(model, x), data, config, progress=progress,
                        desc=f"keras {model.arch.name}")
