"""ORT's own static int8 quantization: ``onnxruntime.quantization.quantize_static`` calibrated on training images.

Format QDQ (QuantizeLinear/DequantizeLinear pairs around each op, which ORT's
CPU provider fuses into int8 kernels: ``QLinearConv``, int8 ``MatMul``), int8
weights per output channel (symmetric) and int8 activations per tensor,
calibrated by MinMax over the calibration images, fed by a
:class:`CalibrationDataReader`.  The model takes and returns float32: the
quantization of the input and the dequantization of the logits run inside
the graph, so the int8 model does the float model's whole job.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from ...counting import count
from ...io.weights import load as load_weights
from .. import Artifact
from ..common import batch_slices
from .graph import INPUT, OUTPUT

CALIBRATION_BATCH = 64


class Calibration(CalibrationDataReader):
    """The calibration images ``(n, C, H, W)`` float32, ``batch`` at a time, as ``quantize_static`` reads them."""

    def __init__(self, images: np.ndarray, batch: int = CALIBRATION_BATCH):
        self.images = np.ascontiguousarray(images, dtype=np.float32)
        self.batch = batch
        self.rewind()

    def get_next(self) -> dict | None:
        return next(self._batches, None)

    def rewind(self) -> None:
        self._batches = iter([{INPUT: self.images[s]} for s in batch_slices(len(self.images), self.batch)])


def quantize(float_model: onnx.ModelProto, calib: np.ndarray, path: str | os.PathLike) -> Path:
    """Write the static int8 (QDQ) version of ``float_model`` to ``path``, calibrated on ``calib``."""
    path = Path(path)
    float_path = path.with_suffix(".float.onnx")
    onnx.save_model(float_model, float_path)
    quantize_static(os.fspath(float_path), os.fspath(path), Calibration(calib), quant_format=QuantFormat.QDQ,
                    per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QInt8)
    float_path.unlink()
    return path


class Int8Session:
    """A quantized model file run by ORT, float images in and float logits out."""

    def __init__(self, path: str | os.PathLike, device: str = "cpu"):
        from .backend import new_session

        self.device = device
        self.session = new_session(Path(path).read_bytes(), "all", device)

    def predict(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        return np.concatenate([self.session.run([OUTPUT], {INPUT: x[s]})[0]
                               for s in batch_slices(len(x), batch_size)])

    def make_forward(self, x: np.ndarray):
        from .backend import bound_forward

        return bound_forward(self.session, np.ascontiguousarray(x, dtype=np.float32), self.device)


def artifact(net, context) -> Artifact:
    """The int8 model of ``net`` (an :class:`.backend.OrtNet`) as the compression runner measures it."""
    path = quantize(net.onnx_model, context.calib, context.workdir / "int8-static.onnx")
    q = Int8Session(path, net.device)
    float_path = context.save_weights(net.arch, net.weights, "float-base")
    return Artifact(q.predict, q.make_forward, path, {"kind": "ort-int8-static", "file": path, "aux": float_path},
                    {"runtime": "onnxruntime quantize_static (QDQ, int8 per-channel weights, int8 activations)",
                     "mac_dtype": "int8", "int8_macs": count(net.arch).macs, "calibration_images": len(context.calib)})


def load_artifact(kind: str, file: str, aux: str | None):
    """(arch, make_forward) of an int8 file written by :func:`artifact`; ``aux`` is its float weights (the arch)."""
    if kind != "ort-int8-static":
        raise ValueError(f"unknown compressed artifact kind {kind!r} for the onnxruntime backend")
    arch = load_weights(aux)[0]
    return arch, Int8Session(file).make_forward
