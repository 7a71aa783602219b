"""PyTorch int8: post-training static quantization (FX graph mode, x86) and dynamic quantization (imports torch only).

Which API, on torch 2.13
------------------------
``torch.ao.quantization`` still works on 2.13 but every entry point warns
``DeprecationWarning: torch.ao.quantization is deprecated and will be removed
in 2.10`` (sic; the migration target is the separate ``torchao`` package,
not installed here), its observers warn ``UserWarning: Please use
quant_min and quant_max ... reduce_range will be deprecated``, and the first
quantized tensor a process creates warns ``UserWarning: torch.quantize_per_tensor,
torch.quantize_per_channel and other quantized tensor creation functions ...
are deprecated`` (the quantized dtypes themselves are on their way out).
Loading a saved quantized state warns ``TypedStorage is deprecated``.
These four are silenced here by exact message, only around the calls that
raise them, and documented rather than hidden.  Eager mode needs hand-placed
``QuantStub``/``DeQuantStub`` and explicit fusion; FX graph mode
(``prepare_fx``/``convert_fx``) traces the ``nn.Sequential``, inserts the
quant/dequant nodes and fuses conv+relu and linear+relu by itself, so FX is
used.  PT2E (``torch.export`` + ``X86InductorQuantizer``) produces a model
meant for ``torch.compile``/Inductor, not for the eager quantized kernels
measured here.

What the x86 backend does with LeNet-5 (``get_default_qconfig_mapping("x86")``):

* activations quint8 per tensor (HistogramObserver, ``reduce_range=True``:
  7-bit codes, to avoid VNNI overflow on older CPUs), weights qint8 per
  channel (symmetric);
* ``Conv2d+ReLU`` and ``Linear+ReLU`` are fused into one quantized kernel;
  ``Tanh``/``Sigmoid`` run on quantized tensors with fixed output qparams;
  max pooling runs on the quantized tensor;
* ``nn.Flatten`` is not a quantizable pattern in the x86 config: it would
  make FX dequantize, flatten in float and quantize again.  The copy that is
  quantized replaces it by :class:`QFlatten` (``torch.flatten``, a shape op
  FX keeps in int8).

Dynamic quantization (``quantize_dynamic``) stores the ``nn.Linear`` weights
int8 and quantizes their input on the fly per batch; convolutions stay
float, so for LeNet-5 (91% of its MACs in the convolutions) it changes
little but the file.
"""
from __future__ import annotations

import contextlib
import copy
import io
import os
import warnings

import numpy as np
import torch
from torch import nn

ENGINE = "x86"

_QUIET = (
    (DeprecationWarning, r"torch\.ao\.quantization is deprecated"),
    (UserWarning, r"Please use quant_min and quant_max to specify the range for observers"),
    (UserWarning, r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor creation"),
    (UserWarning, r"TypedStorage is deprecated"),  # torch.load of quantized tensors
)


@contextlib.contextmanager
def quiet():
    """Silence exactly the two known torch.ao deprecation messages (see the module docstring)."""
    with warnings.catch_warnings():
        for category, message in _QUIET:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield


with quiet():
    from torch.ao.quantization import get_default_qconfig_mapping, quantize_dynamic
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx


class QFlatten(nn.Module):
    """``torch.flatten(x, 1)`` as a traced call (FX keeps it quantized; ``nn.Flatten`` it would dequantize)."""

    def forward(self, x):
        return torch.flatten(x, 1)


def _engine() -> None:
    if ENGINE not in torch.backends.quantized.supported_engines:
        raise RuntimeError(f"quantized engine {ENGINE!r} not available: {torch.backends.quantized.supported_engines}")
    torch.backends.quantized.engine = ENGINE


def _float_copy(net: nn.Module) -> nn.Module:
    net = copy.deepcopy(net).cpu().eval()
    for name, child in list(net.named_children()):
        if isinstance(child, nn.Flatten):
            setattr(net, name, QFlatten())
    return net


def static_int8(net: nn.Module, calib: np.ndarray, batch_size: int = 256) -> nn.Module:
    """Post-training static int8 copy of the float ``net`` (FX, x86), calibrated on ``calib`` (NCHW float32)."""
    _engine()
    calib = np.ascontiguousarray(calib, np.float32)
    model = _float_copy(net)
    example = (torch.from_numpy(calib[:1]),)
    with quiet():
        prepared = prepare_fx(model, get_default_qconfig_mapping(ENGINE), example_inputs=example)
        with torch.inference_mode():
            for s in range(0, len(calib), batch_size):
                prepared(torch.from_numpy(calib[s:s + batch_size]))
        return convert_fx(prepared).eval()


def dynamic_int8(net: nn.Module) -> nn.Module:
    """Dynamic int8 copy of ``net``: int8 ``nn.Linear`` weights, activations quantized per call; convs float."""
    _engine()
    with quiet():
        return quantize_dynamic(copy.deepcopy(net).cpu().eval(), {nn.Linear}, dtype=torch.qint8)


def predict(qnet: nn.Module, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    x = np.ascontiguousarray(x, np.float32)
    out = []
    with torch.inference_mode():
        for s in range(0, len(x), batch_size):
            out.append(qnet(torch.from_numpy(x[s:s + batch_size])).numpy())
    return np.concatenate(out).astype(np.float32)


def make_forward(qnet: nn.Module, x: np.ndarray):
    """Zero-argument callable: ``qnet`` on ``x`` (converted to a tensor once), float in, float logits out."""
    xt = torch.from_numpy(np.ascontiguousarray(x, np.float32))

    def forward():
        with torch.inference_mode():
            return qnet(xt)

    return forward


def save(qnet: nn.Module, path: str | os.PathLike) -> int:
    """``torch.save(state_dict)`` (int8 packed weights, scales, zero points); returns the bytes written."""
    buf = io.BytesIO()
    torch.save(qnet.state_dict(), buf)
    data = buf.getvalue()
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def load(kind: str, net: nn.Module, path: str | os.PathLike, input_shape: tuple) -> nn.Module:
    """Rebuild the quantized structure of float ``net`` (``kind`` static or dynamic) and load a saved state.

    The static structure comes from preparing and converting ``net`` again (one
    dummy calibration batch of ``input_shape``); every scale, zero point and
    int8 weight then comes from the file.
    """
    if kind == "static":
        qnet = static_int8(net, np.zeros((1, *input_shape), np.float32))
    elif kind == "dynamic":
        qnet = dynamic_int8(net)
    else:
        raise ValueError(f"kind must be 'static' or 'dynamic', got {kind!r}")
    with quiet():
        state = torch.load(path, weights_only=False)
        qnet.load_state_dict(state)
    return qnet


def int8_macs(arch, kind: str) -> int:
    """MACs that run in int8: all conv and dense MACs (static), the dense ones only (dynamic)."""
    from ...counting import layer_counts
    from ...spec import Dense

    rows = layer_counts(arch)
    if kind == "static":
        return sum(r.macs for r in rows)
    return sum(r.macs for r, layer in zip(rows, arch.layers) if isinstance(layer, Dense))
