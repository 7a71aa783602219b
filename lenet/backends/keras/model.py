"""The spec translated into a channels-last ``keras.Sequential``: build, save and load, predict.

The Keras model takes NHWC; :func:`predict` and the trainers transpose the canonical NCHW arrays once,
outside the model call (:func:`to_nhwc`).

Translation notes (each one is what the spec says, see :mod:`lenet.spec`):

- ``Conv(padding=p)`` -> ``ZeroPadding2D(p)`` then a "valid" ``Conv2D``.
- ``Pool("max", padding=p)`` -> :class:`NegInfPadding2D` (pads with -inf) then a
  "valid" ``MaxPooling2D``.  Keras' own ``padding="same"`` is not the same thing.
- ``Pool("avg", padding=p)`` -> ``ZeroPadding2D(p)`` then a "valid"
  ``AveragePooling2D``: the zeros count in the mean (``count_include_pad=True``).
- ``Act("swish")`` -> Keras ``"silu"`` (x * sigmoid(x)).
"""
from __future__ import annotations

import os

import numpy as np

from ...init import init_weights
from ...spec import Act, Arch, Conv, Dense, Flatten, Pool
from .. import Model
from ..common import batch_slices, check_input, load_model, save_model
from . import NAME
from .runtime import keras, resolve_device, tf, tf_device, versions
from .weights import get_weights, layer_name, set_weights

layers, ops = keras.layers, keras.ops

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


def _keras_layers(i: int, layer) -> list:
    if isinstance(layer, Conv):
        pad = []
        if layer.padding:
            pad = [layers.ZeroPadding2D(layer.padding, data_format=_CL, name=layer_name(i, "pad"))]
        return pad + [layers.Conv2D(layer.out_channels, layer.kernel, strides=layer.stride, padding="valid",
                                    data_format=_CL, name=layer_name(i, "conv"))]
    if isinstance(layer, Pool):
        pad = []
        if layer.padding:
            pad_cls = NegInfPadding2D if layer.op == "max" else layers.ZeroPadding2D
            kw = {} if layer.op == "max" else {"data_format": _CL}
            pad = [pad_cls(layer.padding, name=layer_name(i, "pad"), **kw)]
        pool_cls = layers.MaxPooling2D if layer.op == "max" else layers.AveragePooling2D
        return pad + [pool_cls(layer.size, strides=layer.step, padding="valid", data_format=_CL,
                               name=layer_name(i, "pool"))]
    if isinstance(layer, Dense):
        return [layers.Dense(layer.units, name=layer_name(i, "dense"))]
    if isinstance(layer, Act):
        return [layers.Activation(_ACTIVATIONS[layer.fn], name=layer_name(i, "act"))]
    if isinstance(layer, Flatten):
        return [layers.Flatten(data_format=_CL, name=layer_name(i, "flatten"))]
    raise TypeError(f"keras backend cannot translate {layer!r}")  # the spec rejects these first


def nhwc_shape(arch: Arch) -> tuple:
    c, h, w = arch.input_shape
    return (h, w, c)


def forward_fn(net, arch: Arch, jit_compile: bool | None = None):
    """One traced inference function for any batch size (``training=False``); XLA with ``jit_compile=True``."""
    def forward(x):
        return net(x, training=False)

    spec = tf.TensorSpec((None, *nhwc_shape(arch)), tf.float32)
    return tf.function(forward, input_signature=[spec], autograph=False, jit_compile=jit_compile)


def build(arch: Arch, seed: int = 0, device: str = "cpu") -> Model:
    """``arch`` as a channels-last ``keras.Sequential`` holding ``lenet.init.init_weights(arch, seed)``.

    Keras' own initialisers run first and are overwritten; nothing random is
    used after that, so no global seed is touched.
    """
    name, tf_dev = resolve_device(device)
    with tf.device(tf_dev):
        stack = [keras.Input(shape=nhwc_shape(arch), dtype="float32", name="image_nhwc")]
        for i, layer in enumerate(arch.layers):
            stack += _keras_layers(i, layer)
        net = keras.Sequential(stack, name=arch.name.replace("-", "_"))
    model = Model(arch=arch, net=net, backend=NAME, device=name)
    net._lenet_forward = forward_fn(net, arch)
    set_weights(model, init_weights(arch, seed))
    return model


def save(model: Model, path: str | os.PathLike) -> None:
    """Write the canonical weights and the spec to ``path`` (atomic ``.npz``)."""
    save_model(model, path, get_weights, versions())


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
    with tf.device(tf_device(model)):
        for s in batch_slices(len(x), batch_size):
            out[s] = forward(tf.constant(x[s])).numpy()
    return out
