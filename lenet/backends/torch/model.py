"""The spec translated layer by layer into an ``nn.Sequential``: devices, threads, build, save, load, predict.

Layer ``i`` of the spec is module ``i`` of the Sequential, so the state-dict keys are the canonical keys
(``"<i>.weight"``, ``"<i>.bias"``; see :mod:`.weights` for the one layout difference).

Translation notes (each one is what the spec says, see :mod:`lenet.spec`):

- ``Pool("max", padding=p)`` -> ``nn.MaxPool2d(padding=p)``, which pads with -inf.
- ``Pool("avg", padding=p)`` -> ``nn.AvgPool2d(padding=p, count_include_pad=True)``:
  zeros are counted in the mean.
- ``Act("swish")`` -> ``nn.SiLU`` (x * sigmoid(x)).
"""
from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from ...init import init_weights
from ...spec import Act, Arch, Conv, Dense, Flatten, Pool
from .. import DeviceError, Model
from ..common import batch_slices, check_input, check_thread_count, load_model, save_model
from . import NAME
from .weights import get_weights, set_weights

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "swish": nn.SiLU}


# --------------------------------------------------------------------------- devices


def devices() -> list[str]:
    """Usable device names: ``"cpu"``, plus ``"cuda"`` when a CUDA GPU is visible."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def resolve_device(device: str) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:<n>"`` (``"gpu"`` is accepted for ``"cuda"``), or a clear error."""
    name = str(device).lower()
    if name == "gpu":
        name = "cuda"
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            cuda = torch.version.cuda
            why = ("this torch build has no CUDA support (CPU-only build)" if cuda is None
                   else f"torch was built with CUDA {cuda} but no CUDA GPU is visible")
            raise DeviceError(f"device {device!r} requested but {why}; use device='cpu'")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {device!r} requested but only {torch.cuda.device_count()} "
                              f"CUDA GPU(s) are visible")
        return dev
    raise DeviceError(f"unknown device {device!r} for the torch backend; choose one of {devices()}")


def torch_device(model: Model) -> torch.device:
    return next(model.net.parameters()).device


# --------------------------------------------------------------------------- build


def _module(layer, in_shape: tuple) -> nn.Module:
    if isinstance(layer, Conv):
        return nn.Conv2d(in_shape[0], layer.out_channels, layer.kernel, stride=layer.stride, padding=layer.padding)
    if isinstance(layer, Pool):
        if layer.op == "max":
            return nn.MaxPool2d(layer.size, stride=layer.step, padding=layer.padding)
        return nn.AvgPool2d(layer.size, stride=layer.step, padding=layer.padding, count_include_pad=True)
    if isinstance(layer, Dense):
        return nn.Linear(in_shape[0], layer.units)
    if isinstance(layer, Act):
        return _ACTIVATIONS[layer.fn]()
    if isinstance(layer, Flatten):
        return nn.Flatten()
    raise TypeError(f"torch backend cannot translate {layer!r}")  # the spec rejects these first


def build(arch: Arch, seed: int = 0, device: str = "cpu") -> Model:
    """``arch`` as an ``nn.Sequential`` on ``device``, holding ``lenet.init.init_weights(arch, seed)``."""
    dev = resolve_device(device)
    torch.manual_seed(seed)  # torch's own init runs before ours overwrites it; keep even that reproducible
    net = nn.Sequential(*(_module(layer, shape) for layer, shape in zip(arch.layers, arch.input_shapes())))
    net.to(dev)
    model = Model(arch=arch, net=net, backend=NAME, device=dev.type if dev.index is None else str(dev))
    set_weights(model, init_weights(arch, seed))
    return model


def save(model: Model, path: str | os.PathLike) -> None:
    """Write the canonical weights and the spec to ``path`` (atomic ``.npz``)."""
    save_model(model, path, get_weights, {"torch": torch.__version__})


def load(path: str | os.PathLike, device: str = "cpu", arch: Arch | None = None) -> Model:
    """Build the model stored in ``path``; with ``arch``, refuse a file written for another architecture."""
    return load_model(path, build, set_weights, device=device, arch=arch)


# --------------------------------------------------------------------------- inference


def predict(model: Model, x, batch_size: int = 1024) -> np.ndarray:
    """Logits ``(n, classes)`` float32 for NCHW input ``x``, in eval mode under ``inference_mode``."""
    x = check_input(model.arch, x)
    out = np.empty((len(x), model.arch.num_classes), dtype=np.float32)
    dev = torch_device(model)
    model.net.eval()
    with torch.inference_mode():
        for s in batch_slices(len(x), batch_size):
            out[s] = model.net(torch.from_numpy(x[s]).to(dev)).cpu().numpy()
    return out


# --------------------------------------------------------------------------- environment


def set_threads(n: int) -> dict:
    """Use ``n`` intra-op threads and, if still possible, ``n`` inter-op threads.

    torch allows the inter-op pool to be sized only once, before any inter-op
    work starts; after that the call raises RuntimeError, which is ignored
    here: :func:`thread_counts` reports the values actually in force.
    """
    n = check_thread_count(n)
    torch.set_num_threads(n)
    if torch.get_num_interop_threads() != n:
        try:
            torch.set_num_interop_threads(n)
        except RuntimeError:
            pass  # already fixed for this process; the real value is reported
    return thread_counts()


def thread_counts() -> dict:
    return {"torch_intra": torch.get_num_threads(), "torch_interop": torch.get_num_interop_threads()}


def versions() -> dict:
    return {"torch": torch.__version__, "cuda": torch.version.cuda}
