"""TensorFlow Lite full-integer int8 conversion of a keras-backend model, run in the TFLite interpreter (TF only).

Conversion: the Keras 3 model's inference ``tf.function`` (NHWC, fixed batch
dimension ``None``) is frozen (variables to constants) and converted with
``optimizations=[DEFAULT]``, a representative dataset of training images,
``TFLITE_BUILTINS_INT8`` only (the conversion fails rather than fall back
to float kernels) and int8 input and output.  Weights are int8 per channel,
activations int8 per tensor with zero points; tanh and max pooling have
int8 kernels.

Input/output quantization is handled here: :meth:`TFLiteModel.predict` and
the callable of :meth:`TFLiteModel.make_forward` take float32 NCHW images,
transpose to NHWC, quantize with the input tensor's ``(scale, zero_point)``,
invoke, and dequantize the int8 logits with the output's.  The timed
callable includes all of that, so it does the same job as the float model
(float images in, float logits out).

Interpreter: TF 2.21 still ships ``tf.lite.Interpreter`` but it warns
(UserWarning) that it "is deprecated and is scheduled for deletion in TF
2.20" and points to ``ai_edge_litert``.  The LiteRT package
(``ai-edge-litert``) is preferred when it is installed; otherwise
``tf.lite.Interpreter`` is used with that one warning silenced by message.
(Checked in a scratch environment: ai-edge-litert 2.3.0 installs beside
tensorflow-cpu 2.21 and imports in the same process; it is not made a
dependency because the bundled interpreter works.)

The Keras-side ``tensorflow-model-optimization`` (tfmot) pruning is not used;
see :mod:`lenet.compress` for why.
"""
from __future__ import annotations

import contextlib
import logging
import os
import warnings

import numpy as np

from ...measure.threads import requested
from .runtime import tf


@contextlib.contextmanager
def _quiet():
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)  # "Please consider providing the trackable_obj argument" on every conversion
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Statistics for quantized inputs were expected",
                                    category=UserWarning)
            warnings.filterwarnings("ignore", message=r"\s*Warning: tf\.lite\.Interpreter is deprecated",
                                    category=UserWarning)
            yield
    finally:
        absl.setLevel(level)


def interpreter_class():
    """``ai_edge_litert``'s Interpreter when installed, else ``tf.lite.Interpreter``; and its name."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert"
    except ImportError:
        return tf.lite.Interpreter, "tf.lite"


def convert_int8(keras_net, input_shape_nchw: tuple, calib_nchw: np.ndarray) -> bytes:
    """Full-integer int8 ``.tflite`` bytes of ``keras_net`` (NHWC), calibrated on ``calib_nchw`` (float32 NCHW)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    c, h, w = input_shape_nchw
    spec = tf.TensorSpec((None, h, w, c), tf.float32)
    fn = tf.function(lambda x: keras_net(x, training=False), input_signature=[spec], autograph=False)
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
    calib = np.ascontiguousarray(np.asarray(calib_nchw, np.float32).transpose(0, 2, 3, 1))

    def representative():
        for i in range(len(calib)):
            yield [calib[i:i + 1]]

    with _quiet():
        conv = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        return conv.convert()


class TFLiteModel:
    """A ``.tflite`` model in the interpreter, resized per batch size, float in / float logits out."""

    def __init__(self, content: bytes, input_shape_nchw: tuple, threads: int | None = None):
        cls, self.runtime = interpreter_class()
        with _quiet():
            self.interp = cls(model_content=content, num_threads=threads or requested())
        self.input_shape = tuple(input_shape_nchw)
        self._batch = None
        inp = self.interp.get_input_details()[0]
        out = self.interp.get_output_details()[0]
        self.in_index, self.out_index = inp["index"], out["index"]
        self.in_scale, self.in_zp = inp["quantization"]
        self.out_scale, self.out_zp = out["quantization"]
        self.in_dtype, self.out_dtype = inp["dtype"], out["dtype"]
        self.size = len(content)

    def _resize(self, n: int) -> None:
        if n != self._batch:
            c, h, w = self.input_shape
            self.interp.resize_tensor_input(self.in_index, (n, h, w, c))
            self.interp.allocate_tensors()
            self._batch = n

    def _quantize(self, x_nchw: np.ndarray) -> np.ndarray:
        q = np.rint(np.asarray(x_nchw, np.float32).transpose(0, 2, 3, 1) / self.in_scale) + self.in_zp
        info = np.iinfo(self.in_dtype)
        return np.clip(q, info.min, info.max).astype(self.in_dtype)

    def _run(self, xq: np.ndarray) -> np.ndarray:
        self._resize(len(xq))
        self.interp.set_tensor(self.in_index, xq)
        self.interp.invoke()
        y = self.interp.get_tensor(self.out_index)
        return (y.astype(np.float32) - self.out_zp) * self.out_scale

    def predict(self, x_nchw: np.ndarray, batch_size: int = 256) -> np.ndarray:
        out = [self._run(self._quantize(x_nchw[s:s + batch_size])) for s in range(0, len(x_nchw), batch_size)]
        return np.concatenate(out).astype(np.float32)

    def make_forward(self, x_nchw: np.ndarray):
        """Zero-argument callable: quantize ``x``, invoke, dequantize (tensor sizes allocated once, before)."""
        x = np.ascontiguousarray(x_nchw, np.float32)
        self._resize(len(x))
        return lambda: self._run(self._quantize(x))


def from_file(path: str | os.PathLike, input_shape_nchw: tuple, threads: int | None = None) -> TFLiteModel:
    with open(path, "rb") as f:
        return TFLiteModel(f.read(), input_shape_nchw, threads)


def compress(technique: str, level: str, model, context):
    """The keras backend's native hook: TFLite full-integer int8 of the model (``int8-static``)."""
    from ...counting import count
    from .. import Artifact

    if technique != "int8-static":
        raise ValueError(f"the keras backend declares no native {technique!r}")
    arch = model.arch
    from .weights import get_weights

    float_path = context.save_weights(arch, get_weights(model), "float-base")
    content = convert_int8(model.net, arch.input_shape, context.calib)
    path = context.workdir / "int8-static.tflite"
    path.write_bytes(content)
    tm = TFLiteModel(content, arch.input_shape, context.threads)
    return Artifact(tm.predict, tm.make_forward, path, {"kind": "tflite", "file": path, "aux": float_path},
                    {"runtime": f"TFLite full-integer ({tm.runtime} interpreter)", "mac_dtype": "int8",
                     "int8_macs": count(arch).macs, "calibration_images": len(context.calib)})


def load_artifact(kind: str, file: str, aux: str | None):
    """(arch, make_forward) of a ``.tflite`` file; ``aux`` is the float weights it came from (for the arch)."""
    from ...io.weights import load as load_weights

    if kind != "tflite":
        raise ValueError(f"unknown compressed artifact kind {kind!r} for the keras backend")
    arch = load_weights(aux)[0]
    return arch, from_file(file, arch.input_shape).make_forward
