"""An :class:`~lenet.spec.Arch` and its canonical weights as an ONNX model, built node by node (imports onnx only).

The graph works in NCHW like the spec, so canonical weights go in unchanged
except that nothing needs changing at all: conv weights are ONNX's
``(out, in, kh, kw)`` and a dense layer is ``Gemm(x, W, b)`` with ``W`` in the
canonical ``(in, out)``.  Translation (each one what the spec says):

- ``Conv(padding=p)`` -> ``Conv`` with ``pads=[p, p, p, p]`` (zeros);
- ``Pool("max", padding=p)`` -> ``MaxPool`` with ``pads``: ONNX ignores padded
  cells in the maximum, which is padding with -inf as the spec says;
- ``Pool("avg", padding=p)`` -> ``AveragePool(count_include_pad=1)``: the zeros count in the mean;
- windows that do not fit are dropped (``ceil_mode=0``), as :func:`lenet.spec.output_shape` floors;
- ``Act("swish")`` -> ``Mul(x, Sigmoid(x))`` (ONNX has no Swish before opset 24);
- ``Flatten`` -> ``Flatten(axis=1)``: ``(N, C, H, W) -> (N, C*H*W)`` in C-major order.

Ties in max pooling only matter to gradients, which ORT never computes.  The
batch dimension is symbolic (``"N"``), so one model serves every batch size.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ...io.weights import check_weights
from ...spec import Act, Arch, Conv, Dense, Flatten, Pool

OPSET = 17  # supported by every onnxruntime >= 1.18 and by its quantization tools
IR_VERSION = 8  # the IR of opset 17; a newer onnx package would otherwise stamp an IR that older runtimes refuse
INPUT, OUTPUT = "x", "logits"
_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid"}


def _layer_nodes(i: int, layer, src: str, dst: str, weights: dict) -> tuple[list, list]:
    """(nodes, initializers) computing layer ``i`` from tensor ``src`` into tensor ``dst``."""
    if isinstance(layer, (Conv, Dense)):
        w, b = f"{i}.weight", f"{i}.bias"
        inits = [numpy_helper.from_array(np.ascontiguousarray(weights[k], dtype=np.float32), k) for k in (w, b)]
        if isinstance(layer, Conv):
            p, k, s = layer.padding, layer.kernel, layer.stride
            node = helper.make_node("Conv", [src, w, b], [dst], name=f"conv{i}", kernel_shape=[k, k],
                                    strides=[s, s], pads=[p, p, p, p])
        else:
            node = helper.make_node("Gemm", [src, w, b], [dst], name=f"dense{i}")
        return [node], inits
    if isinstance(layer, Pool):
        k, s, p = layer.size, layer.step, layer.padding
        attrs = dict(kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p], ceil_mode=0)
        if layer.op == "max":
            return [helper.make_node("MaxPool", [src], [dst], name=f"maxpool{i}", **attrs)], []
        return [helper.make_node("AveragePool", [src], [dst], name=f"avgpool{i}", count_include_pad=1,
                                 **attrs)], []
    if isinstance(layer, Act):
        if layer.fn == "swish":
            sig = f"{dst}.sigmoid"
            return [helper.make_node("Sigmoid", [src], [sig], name=f"sigmoid{i}"),
                    helper.make_node("Mul", [src, sig], [dst], name=f"swish{i}")], []
        return [helper.make_node(_ACTIVATIONS[layer.fn], [src], [dst], name=f"{layer.fn}{i}")], []
    if isinstance(layer, Flatten):
        return [helper.make_node("Flatten", [src], [dst], name=f"flatten{i}", axis=1)], []
    raise TypeError(f"onnxruntime backend cannot translate {layer!r}")  # the spec rejects these first


def to_onnx(arch: Arch, weights: dict, source: str = "weights") -> onnx.ModelProto:
    """``arch`` holding canonical ``weights`` as a checked ONNX model: input ``x (N, C, H, W)`` float32,
    output ``logits (N, classes)`` float32."""
    weights = check_weights(arch, weights, source)
    nodes, inits = [], []
    src = INPUT
    for i, layer in enumerate(arch.layers):
        dst = OUTPUT if i == len(arch.layers) - 1 else f"t{i}"
        n, w = _layer_nodes(i, layer, src, dst, weights)
        nodes += n
        inits += w
        src = dst
    graph = helper.make_graph(
        nodes, arch.name, [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", *arch.input_shape])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", arch.num_classes])], initializer=inits)
    model = helper.make_model(graph, producer_name="lenet-bench", opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model
