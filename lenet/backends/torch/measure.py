"""Measurement hooks: the forward pass per inference mode, torch's FLOP counter and thop, CUDA peak memory."""
from __future__ import annotations

import warnings

import torch
from torch import nn

from .. import Model
from ..common import check_input, check_mode
from . import CAPABILITIES, NAME
from .model import torch_device
from .modes import inference_net, sync


def make_forward(model: Model, x, mode: str | None = None):
    """A zero-argument callable: eval-mode forward pass on ``x``, converted to a tensor on the device once.

    ``mode``: ``"eager"`` (the default), ``"channels_last"``, ``"frozen"`` (traced, frozen and optimized for
    inference here, outside the timed call) or ``"compile"``: a fresh ``torch.compile(model.net)`` whose
    first call compiles (for this input shape); see :func:`.modes.inference_net`.  Each call runs under
    ``torch.inference_mode`` and returns after the computation has finished (CUDA synchronised).
    """
    mode = check_mode(NAME, CAPABILITIES, "infer", mode)
    dev = torch_device(model)
    net, xt = inference_net(model.net, torch.from_numpy(check_input(model.arch, x)).to(dev), mode)

    def forward():
        with torch.inference_mode():
            out = net(xt)
        sync(dev)
        return out

    return forward


def count_flops(model: Model, batch_size: int) -> dict:
    """torch's own FLOP counter (convention ``flops``) and thop, if installed (``macs``), per batch.

    ``torch.utils.flop_counter`` counts 2 x MACs of conv and matmul, no bias.
    thop counts conv and linear MACs (no bias), nothing for max pooling and
    activations, but one op per output of an ``AvgPool2d``; that op is outside
    the MAC convention, so average pooling is counted as zero here.
    """
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    dev = torch_device(model)
    x = torch.zeros((batch_size, *model.arch.input_shape), device=dev)
    net = model.net
    net.eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(x)
    out = {"torch_flop_counter": {"value": int(counter.get_total_flops()), "convention": "flops", "per": "batch",
                                  "batch_size": int(batch_size)}}
    try:
        with warnings.catch_warnings():  # thop imports distutils' LooseVersion, which is deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            import thop
    except ImportError:
        return out

    def no_ops(module, inputs, output):
        module.total_ops += torch.zeros(1, dtype=torch.float64)

    with torch.no_grad():  # thop adds and removes buffers: work on a copy
        macs, _ = thop.profile(copy.deepcopy(net), inputs=(x,), custom_ops={nn.AvgPool2d: no_ops}, verbose=False)
    out["thop"] = {"value": int(macs), "convention": "macs", "per": "batch", "batch_size": int(batch_size)}
    return out


def reset_peak_memory(model: Model) -> None:
    dev = torch_device(model)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)


def peak_memory(model: Model) -> int | None:
    """Peak bytes torch allocated on the GPU since :func:`reset_peak_memory`; None on the CPU."""
    dev = torch_device(model)
    return int(torch.cuda.max_memory_allocated(dev)) if dev.type == "cuda" else None
