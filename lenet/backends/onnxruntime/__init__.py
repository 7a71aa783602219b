"""ONNX Runtime backend, inference only: the spec and canonical weights written straight into an ONNX graph
(:mod:`.graph`, the ``onnx`` package's helpers, no framework in between), run by onnxruntime (:mod:`.backend`),
with ORT's own static int8 quantization (:mod:`.quant`).  This declaration imports neither onnx nor onnxruntime.

Modes are ORT's graph-optimization levels: ``"all"`` (the default: every fusion and layout rewrite),
``"basic"`` (constant folding and redundant-node removal) and ``"disabled"``.  The tuned mode is the default,
``"all"``, as ORT's "Graph optimizations" page recommends; its intra-op threads follow the study's thread
knob like every backend's.  ``ORT_ENABLE_EXTENDED`` (no NCHWc layout transformer) and turning the intra-op
pool's spinning off were tried against it and beat it nowhere (docs/tuned-modes.md), so neither is a mode.
The weights it runs are trained by ``weights_from`` (the handcrafted backend, which is always installed).
"""
from .. import Capabilities

NAME = "onnxruntime"
CAPABILITIES = Capabilities(framework="onnxruntime", extra="onnx", infer_modes=("all", "basic", "disabled"),
                            train_modes=(), devices=("cpu", "gpu"), compression={"int8-static": ("ptq",)},
                            tuned={"infer": "all"},
                            weights_from="handcrafted")
