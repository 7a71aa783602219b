"""Measurement hooks: the forward pass in each declared inference mode, TF's FLOP profiler, GPU peak memory.

``"graph"`` (default, one traced ``tf.function``), ``"eager"``
(``model(x, training=False)``), ``"xla"`` and ``"predict"`` (``model.predict``).
"""
from __future__ import annotations

import numpy as np

from .. import Model
from ..common import check_input, check_mode
from . import CAPABILITIES, NAME
from .model import forward_fn, nhwc_shape, to_nhwc
from .runtime import tf, tf_device


def _xla_forward(model: Model):
    """The model's XLA inference function, made on first use (one trace; one XLA compilation per batch shape)."""
    fn = getattr(model.net, "_lenet_forward_xla", None)
    if fn is None:
        fn = model.net._lenet_forward_xla = forward_fn(model.net, model.arch, jit_compile=True)
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
    with tf.device(tf_device(model)):
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
        with tf.device(tf_device(model)):
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
        tf.TensorSpec((batch_size, *nhwc_shape(model.arch)), tf.float32))
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
