"""Accuracy over several training seeds: its spread, its interval, and whether two backends reach the same.

Every backend that trains takes the same steps up to float rounding (tests/test_equivalence.py), so two
backends' single-seed accuracies differ by training chaos, which the seed spread measures: on Fashion-MNIST the
relu LeNet-5 scored 0.9085 ± 0.0036 over five seeds of one backend, wider than the binomial error of one
test-set figure (0.0029 at 10,000 images).  So accuracy is stated over seeds, as DeepOBS does:

* :func:`spread`: per-seed values, mean, sample sd and the **t-interval of the mean** (Student's t with n-1
  degrees of freedom: seeds are few, 3 to 5, where a bootstrap has too few distinct resamples to be trusted);
* :func:`equivalence`: two backends judged by **TOST** (two one-sided tests) with a stated margin
  (:data:`MARGIN`, half a point of top-1): "equivalent" when the (1 - 2 alpha) Welch interval of the difference
  of means lies within ±margin, "different" when the 1 - alpha Welch interval excludes 0 and they are not
  equivalent, and "undecided" otherwise, including whenever a side has fewer than two seeds.
"""
from __future__ import annotations

import math

import numpy as np

from ..measure.stats import t_critical

CONFIDENCE = 0.95
MARGIN = 0.005  # TOST margin on top-1 (a fraction): half a point
METRICS = ("val_top1", "val_top5", "test_top1", "test_top5")
METHOD = "mean over seeds; sd with n-1; 95% Student-t interval of the mean"

EQUIVALENT, DIFFERENT, UNDECIDED = "equivalent", "different", "undecided"


def spread(values, seeds, confidence: float = CONFIDENCE) -> dict:
    """``{values, seeds, n, mean, sd, low, high, confidence}``; ``sd``, ``low`` and ``high`` are None for one seed."""
    a = np.asarray(values, dtype=np.float64)
    n = int(a.size)
    out = {"values": [float(v) for v in a], "seeds": [int(s) for s in seeds], "n": n, "mean": float(a.mean()),
           "sd": None, "low": None, "high": None, "confidence": confidence}
    if n >= 2:
        sd = float(a.std(ddof=1))
        half = t_critical(confidence, n - 1) * sd / math.sqrt(n)
        out.update(sd=sd, low=out["mean"] - half, high=out["mean"] + half)
    return out


def _welch(a: np.ndarray, b: np.ndarray, confidence: float) -> tuple[float, float]:
    """The Welch interval of ``mean(a) - mean(b)`` at ``confidence``."""
    diff = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = t_critical(confidence, df) * se
    return diff - half, diff + half


def equivalence(values, reference, margin: float = MARGIN, alpha: float = 1 - CONFIDENCE) -> dict:
    """TOST of ``mean(values) - mean(reference)`` against ±``margin``: the verdict and the figures it rests on."""
    a, b = (np.asarray(v, dtype=np.float64) for v in (values, reference))
    out = {"margin": margin, "alpha": alpha, "n": [int(a.size), int(b.size)],
           "difference": float(a.mean() - b.mean()) if a.size and b.size else None, "tost_interval": None,
           "interval": None}
    if a.size < 2 or b.size < 2:
        return {**out, "verdict": UNDECIDED, "why": "fewer than two seeds on a side"}
    tost = _welch(a, b, 1 - 2 * alpha)
    two_sided = _welch(a, b, 1 - alpha)
    out.update(tost_interval=list(tost), interval=list(two_sided))
    if -margin < tost[0] and tost[1] < margin:
        return {**out, "verdict": EQUIVALENT, "why": f"the {1 - 2 * alpha:.0%} interval lies within ±{margin:g}"}
    if two_sided[0] > 0 or two_sided[1] < 0:
        return {**out, "verdict": DIFFERENT, "why": f"the {1 - alpha:.0%} interval excludes 0"}
    return {**out, "verdict": UNDECIDED, "why": f"the {1 - 2 * alpha:.0%} interval reaches beyond ±{margin:g} "
                                                "and the difference is not significant: more seeds would decide"}
