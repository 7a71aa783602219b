"""Execution modes and what first-call measurements need of them.

Execution modes (``trainer(..., mode=...)``, ``make_forward(..., mode=...)``, declared in
:data:`lenet.backends.torch.CAPABILITIES`): ``"eager"`` (the default),
``"channels_last"`` and ``"frozen"`` (:func:`inference_net`, :func:`to_channels_last`: the paths of
PyTorch's Performance Tuning Guide, docs/tuned-modes.md) and
``"compile"``, ``torch.compile`` with its default backend, inductor (C++ on
the CPU, Triton on CUDA).  For training, the model's forward pass together
with the loss is compiled, not the whole step: AOTAutograd then compiles the
backward pass too, which is where the FLOPs are, while ``loss.backward()``,
the optimizer and ``loss.item()`` stay eager.  Compiling the optimizer step
as well would add its own long compile for ten small tensors that foreach
kernels already update in a few launches, and a float learning rate is a
constant to dynamo: each new lr of a schedule would recompile it.  The first
distinct batch shape compiles a static graph; the next one (the last partial
batch of an epoch) recompiles once with a dynamic batch dimension.
:func:`compile_unavailable` says why compiling cannot run here, naming the
missing piece; for first-call measurements, :func:`warm_compiler` pays
inductor's one-time costs in the process and :func:`cold_compile` makes a
first call pay its model's full compile.
"""
from __future__ import annotations

import contextlib
import copy
import platform
import sys
import warnings

import torch
from torch import nn

from .model import resolve_device


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def to_channels_last(net: nn.Module, dev: torch.device) -> nn.Module:
    """``net`` with its 4-D weights laid out channels-last, in place (the values unchanged): oneDNN's and
    cuDNN's convolutions then run NHWC without reordering the activations at every call.  On CUDA it also
    turns on ``cudnn.benchmark`` (cuDNN tries its algorithms on each new input shape and keeps the fastest),
    which the guide recommends for fixed shapes on a GPU; a process-wide switch."""
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return net.to(memory_format=torch.channels_last)


def inference_net(net: nn.Module, xt: torch.Tensor, mode: str) -> tuple:
    """``(callable, input)`` running ``net`` on ``xt`` in inference ``mode``, every conversion made here.

    ``"eager"``: ``net`` itself, reading its live weights.  ``"channels_last"``: a copy of ``net`` with
    channels-last weights (:func:`to_channels_last`) and ``xt`` channels-last.  ``"frozen"``: that copy traced
    on ``xt``, frozen (``torch.jit.freeze``: weights and attributes inlined as constants) and passed through
    ``torch.jit.optimize_for_inference`` (on the CPU: convolutions fused with their activations into oneDNN
    ops with prepacked weights).  Both copies hold the weights as they were at this call.  ``"compile"``:
    ``torch.compile(net)``, whose first call compiles.

    TorchScript is deprecated in favour of ``torch.compile`` and ``torch.export`` (torch 2.13 warns
    so at each of these calls); the warnings are silenced here by name, so that ``-W error`` runs can measure
    it while it remains the fastest inference path measured for these networks (docs/tuned-modes.md).
    """
    net.eval()
    if mode == "eager":
        return net, xt
    if mode == "compile":
        import_inductor()
        return torch.compile(net), xt
    xt = xt.contiguous(memory_format=torch.channels_last)
    net = to_channels_last(copy.deepcopy(net), xt.device)
    if mode == "channels_last":
        return net, xt
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning)
        return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, xt))), xt


def import_inductor() -> None:
    """Import inductor, silencing the one DeprecationWarning its import raises (torch.utils.mkldnn decorates
    with the deprecated ``torch.jit.script_method``), so that ``-W error`` runs can compile."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script_method.* is deprecated",
                                category=DeprecationWarning)
        import torch._inductor.compile_fx  # noqa: F401


def mode_unavailable(mode: str, device: str = "cpu") -> str | None:
    """Why ``mode`` cannot run on ``device`` here, naming the missing piece; None if it can."""
    return compile_unavailable(device) if mode == "compile" else None


def compile_unavailable(device: str = "cpu") -> str | None:
    """Why ``torch.compile`` (inductor) cannot run on ``device`` here, naming the missing piece; None if it can."""
    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        return (f"torch.compile is not supported by torch {torch.__version__} on Python "
                f"{platform.python_version()} ({sys.platform})")
    dev = resolve_device(device)
    import_inductor()
    if dev.type == "cuda":
        from torch.utils._triton import has_triton

        return None if has_triton() else "torch.compile on CUDA needs Triton (pip install triton), not installed"
    from torch._inductor import cpp_builder, exc

    try:
        cpp_builder.get_cpp_compiler()
    except exc.InvalidCxxCompiler:
        return "torch.compile's inductor needs a C++ compiler on the CPU (g++, or $CXX) and none was found"
    return None


@contextlib.contextmanager
def cold_compile():
    """For first-call measurements: forget every function compiled in this process (``torch._dynamo.reset()``)
    and bypass inductor's and AOTAutograd's caches, in memory and on disk, while the block runs, so that a
    first call pays the whole compile, as on a fresh machine."""
    import torch._dynamo

    import_inductor()
    import torch._inductor.config

    torch._dynamo.reset()
    with torch._inductor.config.patch(force_disable_caches=True), warnings.catch_warnings():
        # dynamo says once that this also turns off its profile-guided (on-disk) dynamic-shape record
        warnings.filterwarnings("ignore", message=r"dynamo_pgo force disabled", category=UserWarning)
        yield


def cold_start(mode: str):
    """For a first-call measurement in ``mode``: :func:`cold_compile` for ``"compile"``, else nothing."""
    return cold_compile() if mode == "compile" else contextlib.nullcontext()


def warm_up(mode: str) -> None:
    """Before first-call measurements in ``mode``: :func:`warm_compiler` for ``"compile"``."""
    if mode == "compile":
        warm_compiler()


def warm_compiler() -> None:
    """Pay inductor's one-time costs in this process (its imports, its pool of compile workers, the C++
    toolchain checks) on a one-op function, so that a later first call measures its own model's compile.
    Everything compiled so far is forgotten (``torch._dynamo.reset()``)."""
    import torch._dynamo

    with cold_compile():
        torch.compile(lambda t: t * 2 + 1)(torch.ones(4))
    torch._dynamo.reset()
