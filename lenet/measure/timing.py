"""Timing helpers around pytest-benchmark: first-call cost, medians of secondary figures, rounds from a pilot.

Timing itself belongs to pytest-benchmark; what is here is what it does not do.

* :func:`first_call` times the very first call of a callable (tracing, compile,
  allocator warm-up), reported apart from steady-state time.
* :func:`plan_rounds` chooses pytest-benchmark's rounds and iterations from a
  short pilot: enough rounds to fill the time budget, and more (up to a cap)
  when the pilot's spread says the median's interval would otherwise be wider
  than :data:`PRECISION_TARGET`, so that precision, not a fixed
  count, decides how long a figure is timed.
"""
from __future__ import annotations

import math
import statistics
import time

import numpy as np


def first_call(fn) -> float:
    """Seconds taken by one call of ``fn`` (use on a fresh callable to see its first-call cost)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_seconds(fn, repeats: int = 20, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls (for secondary figures;
    the headline timing of a benchmark is pytest-benchmark's)."""
    for _ in range(warmup):
        fn()
    return sorted(first_call(fn) for _ in range(repeats))[repeats // 2]


PILOT_CALLS = 11
MIN_ROUNDS = 7  # the fewest samples with a 95% order-statistic interval of the median is 6
# The width of the median's 95% interval, relative to the median, that rounds are planned to reach; a figure is
# flagged only beyond lenet.measure.noise.CI_REL_WIDTH_MAX, twice as wide (docs/noise-calibration.md)
PRECISION_TARGET = 0.10
ROUND_SECONDS = 1e-3  # calls under a millisecond are repeated within a round (the round's mean is the sample)


def plan_rounds(fn, budget_s: float, *, repeatable: bool = True, max_budget_s: float | None = None,
                max_rounds: int = 1000) -> tuple[int, int]:
    """``(rounds, iterations)`` for ``benchmark.pedantic(fn, ...)`` from a pilot of :data:`PILOT_CALLS` calls.

    ``iterations`` makes a round last about :data:`ROUND_SECONDS` (1 unless ``repeatable``: a training step
    changes the model, so each of its rounds is one step); ``rounds`` fills ``budget_s``, then grows up to
    ``max_budget_s`` (default 4 x the budget) while the pilot's spread predicts a median interval wider than
    the bound.  The prediction uses the median's asymptotic standard error, ``1.2533 sigma / sqrt(n)`` with
    ``sigma = IQR / 1.349``.
    """
    pilot = sorted(first_call(fn) for _ in range(PILOT_CALLS))
    per_call = max(pilot[PILOT_CALLS // 2], 1e-9)
    q1, q3 = pilot[PILOT_CALLS // 4], pilot[(3 * PILOT_CALLS) // 4]
    iterations = max(1, int(ROUND_SECONDS / per_call)) if repeatable else 1
    per_round = per_call * iterations
    rounds = int(budget_s / per_round)
    sigma_rel = (q3 - q1) / 1.349 / per_call
    needed = math.ceil((2 * 1.96 * 1.2533 * sigma_rel / (0.8 * PRECISION_TARGET)) ** 2)  # 20% margin
    cap = int((max_budget_s if max_budget_s is not None else 4 * budget_s) / per_round)
    rounds = max(rounds, min(needed, cap))
    return min(max(rounds, MIN_ROUNDS), max_rounds), iterations


def latency_ms(forward, budget_s: float = 0.3, warmup: int = 3, min_reps: int = 5, max_reps: int = 300) -> float:
    """Median ms per call of ``forward`` after ``warmup`` calls, repeated for about ``budget_s`` seconds
    (a secondary figure of the compression record; the headline timing is pytest-benchmark's)."""
    for _ in range(warmup):
        forward()
    times = []
    deadline = time.perf_counter() + budget_s
    while len(times) < min_reps or (time.perf_counter() < deadline and len(times) < max_reps):
        times.append(first_call(forward))
    return statistics.median(times) * 1e3


def record_samples(benchmark, seconds) -> None:
    """Give a pytest-benchmark fixture samples timed elsewhere (LoadGen's per-query latencies), one per round.

    pytest-benchmark times only what it calls itself; a LoadGen run is timed by LoadGen, so its latencies are
    handed over as the rounds of one ``iterations=1`` run, and everything downstream (the saved samples, the
    monitor's statistics, ``lenet compare``) reads them as it reads any benchmark.  This goes through the
    fixture's ``_make_stats`` (pytest-benchmark 5 has no public way in) and marks the fixture used, as
    ``pedantic`` does.
    """
    if benchmark.stats is not None:
        raise RuntimeError(f"{benchmark.name}: the benchmark fixture has already been used")
    benchmark._mode = "lenet.measure.timing.record_samples(...)"
    stats = benchmark._make_stats(1)
    for s in np.asarray(seconds, dtype=np.float64).ravel():
        stats.update(float(s))


def untimed(benchmark, why: str) -> None:
    """Mark a pytest-benchmark fixture as deliberately left untimed (its test fails before timing anything), so
    that pytest-benchmark's "fixture was not used" does not add a second error to the test's own one line."""
    benchmark._mode = f"untimed: {why}"


def batch_of(x: np.ndarray, n: int) -> np.ndarray:
    """``n`` images from ``x`` (repeated if ``x`` has fewer), float32 contiguous."""
    return np.ascontiguousarray(np.resize(x, (n, *x.shape[1:])), dtype=np.float32)
