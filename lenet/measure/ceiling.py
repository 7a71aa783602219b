"""The machine's own ceiling, measured in the same session as the figures related to it, and the roofline.

nanoGPT's MFU relates a model's achieved FLOP/s to the hardware's peak; here the peak is *measured*, because
on shared hosts it varies by day (82-185 GFLOP/s seen on the same kind of 2-core box, DESIGN section 7):

* ``gemm_gflops``: fp32 matrix product through NumPy's BLAS at the thread count in force, ``2 n^3`` FLOPs per
  product of two ``n x n`` matrices (n = :data:`GEMM_N`); the best of :data:`REPEATS` (a peak, so the best).
* ``bandwidth_gbs``: a STREAM-like copy of a :data:`STREAM_MIB` MiB float32 array into another, counted as
  STREAM counts it (bytes read + bytes written, no write-allocate traffic), best of :data:`REPEATS`.

:func:`roofline` places one inference or training figure under that ceiling: achieved GFLOP/s from the
analytic FLOPs (``counting.py``'s ``flops`` convention, 2 x MACs; training counted as 3 x forward: the forward,
the gradient with respect to activations and the gradient with respect to weights), its share of the measured
peak, the arithmetic intensity from the analytic bytes moved, and the roof ``min(peak, intensity x bandwidth)``.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from ..counting import FLOAT32_BYTES, count
from ..spec import Arch

GEMM_N = 1024
GEMM_FLOPS = 2 * GEMM_N**3
STREAM_MIB = 128
REPEATS = 7
TRAIN_FLOP_FACTOR = 3  # forward + backward (dX) + backward (dW): each about one forward's MACs


def _best_seconds(fn, repeats: int = REPEATS) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_call() -> Callable[[], object]:
    """A call making one fp32 ``GEMM_N x GEMM_N`` product (:data:`GEMM_FLOPS`) through NumPy's BLAS, at the
    thread count in force when it runs."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
    b = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
    out = np.empty_like(a)
    return lambda: np.matmul(a, b, out=out)


def share_of_gemm(arch: Arch, batch: int, speedup: dict) -> dict:
    """Inference FLOP/s as a % of the GEMM's, from ``speedup``: calls of ``batch`` samples per second over
    :func:`gemm_call` calls per second in the same rounds (:meth:`lenet.measure.paired.Paired.speedup`).

    The median and its interval scale alike; a slow spell of the machine slows both in a round.
    """
    scale = 100 * count(arch).flops * batch / GEMM_FLOPS
    return {**speedup, **{k: speedup[k] * scale for k in ("median", "low", "high")}}


def measure_ceiling() -> dict:
    """fp32 GEMM GFLOP/s and copy bandwidth GB/s of this machine now, at the thread count in force."""
    from .threads import report

    gemm_s = _best_seconds(gemm_call())
    n = STREAM_MIB * 2**20 // FLOAT32_BYTES
    src = np.ones(n, np.float32)
    dst = np.empty_like(src)
    copy_s = _best_seconds(lambda: np.copyto(dst, src))
    return {
        "gemm_gflops": GEMM_FLOPS / gemm_s / 1e9, "gemm_n": GEMM_N,
        "bandwidth_gbs": 2 * src.nbytes / copy_s / 1e9, "stream_mib": STREAM_MIB,
        "repeats": REPEATS, "threads": report().get("requested"),
        "method": f"best of {REPEATS}: numpy.matmul of two {GEMM_N}x{GEMM_N} float32 matrices (2n^3 FLOPs); "
                  f"numpy.copyto of {STREAM_MIB} MiB float32 (bytes read + written)",
    }


def bytes_moved(arch: Arch, batch: int, phase: str) -> int:
    """Analytic bytes one call moves: input and every layer's output per sample, the weights once per batch.

    Training (per sample) moves each activation about three times (written in the forward, read back and
    its gradient written in the backward) and the weights three times (read, gradient written, updated).
    """
    c = count(arch)
    input_bytes = FLOAT32_BYTES * int(np.prod(arch.input_shape))
    per_sample = input_bytes + c.activation_bytes
    if phase == "train":
        return TRAIN_FLOP_FACTOR * (per_sample * batch + c.param_bytes)
    return per_sample * batch + c.param_bytes


def roofline(arch: Arch, batch: int, seconds: float, phase: str, ceiling: dict | None) -> dict:
    """Achieved GFLOP/s, % of measured peak, arithmetic intensity and the roof, for ``batch`` samples in ``seconds``.

    ``seconds`` is the median time of one call on ``batch`` samples (one training step when ``phase`` is
    ``train``, or a whole epoch of ``batch`` samples).
    """
    factor = TRAIN_FLOP_FACTOR if phase == "train" else 1
    flops = count(arch).flops * factor * batch
    moved = bytes_moved(arch, batch, phase)
    intensity = flops / moved
    out = {"achieved_gflops": flops / seconds / 1e9 if seconds > 0 else None,
           "arithmetic_intensity_flop_per_byte": intensity,
           "flop_convention": f"analytic 2 x MACs{' x 3 (training)' if factor == 3 else ''}, bias excluded"}
    if ceiling:
        roof = min(ceiling["gemm_gflops"], intensity * ceiling["bandwidth_gbs"])
        achieved = out["achieved_gflops"]
        out.update({"pct_of_peak": 100 * achieved / ceiling["gemm_gflops"] if achieved is not None else None,
                    "roof_gflops": roof, "peak_gflops": ceiling["gemm_gflops"],
                    "bandwidth_gbs": ceiling["bandwidth_gbs"]})
    return out
