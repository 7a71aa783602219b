"""LeNet-5 written by hand in NumPy: layers, loss, optimizers and the backend functions.

This package imports NumPy only (never torch, TensorFlow or Keras).  The
backend contract is documented in :mod:`lenet.backends`; the float64
:class:`Net` (``build(arch, seed, dtype=np.float64)``) serves gradient checks.
"""
from .measurement import count_flops, make_forward, peak_memory, reset_peak_memory
from .model import (
    BACKEND,
    Net,
    Trainer,
    build,
    devices,
    get_weights,
    load,
    predict,
    save,
    set_threads,
    set_weights,
    thread_counts,
    train,
    trainer,
    versions,
)

__all__ = [
    "BACKEND", "Net", "Trainer", "build", "devices", "get_weights", "load", "predict", "save",
    "set_threads", "set_weights", "thread_counts", "train", "trainer", "versions",
    "make_forward", "count_flops", "reset_peak_memory", "peak_memory",
]
