"""What the compression record measures, and how (no framework import).

* **latency**: :func:`latency_ms` calls a zero-argument forward callable (the
  backend's ``make_forward``, or the compressed runtime's own) after a warm-up
  and returns the median wall time of repeated calls, in ms.  The input was
  converted to the runtime's tensor before; int8 runtimes take float images
  and return float logits, so each does the float model's whole job.
* **sizes**: ``dense_bytes`` is the parameters stored densely in their
  dtype (float32: 4 bytes each; int8: :func:`int8_dense_bytes`);
  ``file_bytes`` the artifact on disk and ``gzip_bytes`` its gzip -9.
* **peak memory**: :func:`peak_rss` runs :mod:`lenet.compress.probe` in a
  fresh interpreter, which loads the artifact, runs one inference at batch
  256 and reports the process's peak resident set (framework import
  included) sampled by memory-profiler, as :mod:`lenet.measure.probe` does for the
  float models.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from ..counting import layer_counts
from ..measure.memory import run_probe
from ..spec import Arch, Conv, Dense


def backend_forward(backend, model, x: np.ndarray):
    """The backend's ``make_forward(model, x)``, or (a backend without it) ``predict`` on ``x`` as one batch."""
    make = getattr(backend, "make_forward", None)
    if callable(make):
        return make(model, x)
    return lambda: backend.predict(model, x, batch_size=max(len(x), 1))


def latency_ms(forward, budget_s: float = 0.3, warmup: int = 3, min_reps: int = 5, max_reps: int = 300) -> float:
    """Median ms per call of ``forward`` after ``warmup`` calls, repeated for about ``budget_s`` seconds."""
    for _ in range(warmup):
        forward()
    times = []
    deadline = time.perf_counter() + budget_s
    while len(times) < min_reps or (time.perf_counter() < deadline and len(times) < max_reps):
        start = time.perf_counter()
        forward()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def batch_of(x: np.ndarray, n: int) -> np.ndarray:
    """``n`` images from ``x`` (repeated if ``x`` has fewer), float32 contiguous."""
    return np.ascontiguousarray(np.resize(x, (n, *x.shape[1:])), dtype=np.float32)


def int8_dense_bytes(arch: Arch) -> int:
    """int8 weights (1 byte each) + float32 biases + one float32 scale per output channel."""
    n = 0
    for layer, shape in zip(arch.layers, arch.input_shapes()):
        if isinstance(layer, Conv):
            n += layer.out_channels * shape[0] * layer.kernel ** 2 + 8 * layer.out_channels
        elif isinstance(layer, Dense):
            n += shape[0] * layer.units + 8 * layer.units
    return n


def macs(arch: Arch) -> int:
    return sum(r.macs for r in layer_counts(arch))


def peak_rss(kind: str, file, backend: str | None = None, aux=None, batch_size: int = 256,
             threads: int | None = None, timeout: float = 600) -> dict:
    """Peak RSS (MiB) of one inference at ``batch_size`` of a compressed artifact, in a fresh process."""
    args = ["--kind", kind, "--file", str(file), "--batch-size", str(batch_size)]
    if backend:
        args += ["--backend", backend]
    if aux:
        args += ["--aux", str(aux)]
    if threads:
        args += ["--threads", str(threads)]
    return run_probe("lenet.compress.probe", args, timeout)
