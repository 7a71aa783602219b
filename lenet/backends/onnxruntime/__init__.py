"""ONNX Runtime backend, inference only: the spec and canonical weights written straight into an ONNX graph
(:mod:`.graph`, the ``onnx`` package's helpers, no framework in between), run by onnxruntime (:mod:`.backend`),
with ORT's own static int8 quantization (:mod:`.quant`).  This declaration imports neither onnx nor onnxruntime.

Modes are ORT's graph-optimization levels: ``"all"`` (the default: every fusion and layout rewrite),
``"basic"`` (constant folding and redundant-node removal) and ``"disabled"``.  The weights it runs are trained
by ``weights_from`` (the handcrafted backend, which is always installed).
"""
from .. import Capabilities

NAME = "onnxruntime"
CAPABILITIES = Capabilities(framework="onnxruntime", extra="onnx", infer_modes=("all", "basic", "disabled"),
                            train_modes=(), devices=("cpu", "gpu"), compression={"int8-static": ("ptq",)},
                            weights_from="handcrafted")
