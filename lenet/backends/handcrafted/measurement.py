"""The handcrafted backend's measurement hooks (see :mod:`lenet.backends`).

The timed forward pass gets its input already in the network's internal
``(C, H, W, N)`` layout, in the same cache-sized chunks :func:`.model.predict`
uses, just as the torch and Keras hooks get their tensors converted before
timing.  NumPy has no FLOP counter and no device memory, so those hooks say so.
"""
from __future__ import annotations

import numpy as np

from .. import Model
from ..common import check_input, check_mode
from . import CAPABILITIES, NAME
from .model import _net, infer_chunks


def make_forward(model: Model, x, mode: str | None = None):
    """A zero-argument callable running the forward pass on ``x`` (NCHW), converted once beforehand."""
    check_mode(NAME, CAPABILITIES, "infer", mode)
    net = _net(model)
    x = check_input(model.arch, x)
    chunks = infer_chunks(len(x))
    parts = [np.ascontiguousarray(x[sl].transpose(1, 2, 3, 0), dtype=net.dtype) for sl in chunks]
    out = np.empty((len(x), model.arch.num_classes), np.float32)

    if len(chunks) == 1:  # batch 1 and other small ones: the call itself, without the workers' dispatch
        part = parts[0]

        def forward_one():
            np.copyto(out, net.forward(part).T)
            return out

        return forward_one

    def run(replica, worker: int, workers: int):
        # layers reuse their output buffers, so each chunk's logits are copied out before the next
        for sl, part in zip(chunks[worker::workers], parts[worker::workers]):
            np.copyto(out[sl], replica.forward(part).T)

    def forward():
        net.map_chunks(len(chunks), run)
        return out

    return forward


def count_flops(model: Model, batch_size: int) -> dict:
    """NumPy has no FLOP counter of its own; the analytic count (lenet.counting) is the reference."""
    return {}


def reset_peak_memory(model: Model) -> None:
    """Nothing to reset: the handcrafted backend allocates host memory only (measured as RSS)."""


def peak_memory(model: Model) -> None:
    """No device memory: the handcrafted backend runs on the CPU only."""
    return None
