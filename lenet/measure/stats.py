"""Statistics of timings: tail percentiles, distribution-free intervals, the noise-aware ratio of two timings.

A timing is a distribution, not a number (DESIGN section 4).  What is here:

* :func:`summarize`: p50/p90/p99 and the spread of a sample of per-call seconds, with the exact
  order-statistic confidence interval of the median (:func:`quantile_interval`) and, as MLPerf's
  early-stopping criterion does for p90, an upper confidence bound of the tail
  (:func:`quantile_upper_bound`).  Order-statistic intervals need no resampling and no assumption about
  the shape of the distribution, which for latencies is skewed and often bimodal: the interval
  ``[X_(j), X_(k)]`` covers the ``q``-quantile with probability ``F(k-1) - F(j-1)`` where ``F`` is the
  Binomial(n, q) CDF (the number of samples below the quantile), whatever the distribution.
* :func:`ratio_interval`: the bootstrap interval of ``median(new) / median(base)`` when each side is one
  or several runs.  It is a two-level (hierarchical) bootstrap: runs are resampled, then samples within each
  run, so both the noise within a run and the drift between runs widen the interval.  With one run per side
  it is the ordinary two-sample percentile bootstrap (``scipy.stats.bootstrap(..., method="percentile")``
  computes the same interval; a test holds them together).
* :func:`proportion_change`: a change of accuracy judged against its binomial standard error.

Percentiles use NumPy's default (linear interpolation between order statistics, Hyndman-Fan type 7).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

PERCENTILES = (50, 90, 99)
CONFIDENCE = 0.95  # every interval of this module unless told otherwise
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261201  # fixed: the same samples always give the same interval


class StatsError(ValueError):
    """Samples that cannot be summarised (empty, non-finite or negative)."""


def as_samples(samples, what: str = "samples") -> np.ndarray:
    """``samples`` as a 1-D float64 array of finite, non-negative values, or :class:`StatsError`."""
    a = np.asarray(samples, dtype=np.float64).ravel()
    if a.size == 0:
        raise StatsError(f"{what}: no samples")
    if not np.isfinite(a).all():
        raise StatsError(f"{what}: samples hold NaN or infinite values")
    if (a < 0).any():
        raise StatsError(f"{what}: samples hold negative times")
    return a


def order_statistic_ranks(n: int, q: float, confidence: float = CONFIDENCE) -> tuple[int, int, float] | None:
    """1-based ranks ``(j, k)`` with ``P(X_(j) <= xi_q <= X_(k)) >= confidence``, and that exact coverage.

    Equal tails: ``j`` is the largest rank with ``F(j-1) <= alpha/2`` and ``k`` the smallest with
    ``F(k-1) >= 1 - alpha/2``.  None when ``n`` is too small for the confidence asked (``n < 6`` for the
    median at 95%).
    """
    alpha = 1.0 - confidence
    dist = sps.binom(n, q)
    j = int(dist.ppf(alpha / 2))  # smallest x with F(x) >= alpha/2, so F(j-1) < alpha/2
    k = int(dist.ppf(1 - alpha / 2)) + 1
    if j < 1 or k > n:
        return None
    return j, k, float(dist.cdf(k - 1) - dist.cdf(j - 1))


def quantile_interval(samples, q: float = 0.5, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Distribution-free ``confidence`` interval of the ``q``-quantile, or None for too few samples."""
    a = np.sort(as_samples(samples))
    ranks = order_statistic_ranks(a.size, q, confidence)
    if ranks is None:
        return None
    j, k, _ = ranks
    return float(a[j - 1]), float(a[k - 1])


def quantile_upper_bound(samples, q: float = 0.9, confidence: float = 0.99) -> float | None:
    """One-sided upper ``confidence`` bound of the ``q``-quantile (MLPerf's early-stopping bound on p90).

    The smallest order statistic ``X_(k)`` with ``P(xi_q <= X_(k)) >= confidence``, that is
    ``F(k-1) >= confidence`` for Binomial(n, q); None when even the largest sample is not enough.
    """
    a = np.sort(as_samples(samples))
    k = int(sps.binom(a.size, q).ppf(confidence)) + 1
    return float(a[k - 1]) if k <= a.size else None


@dataclass(frozen=True)
class Summary:
    """A timing sample summarised; every time in seconds per call."""

    n: int
    p50: float
    p90: float
    p99: float
    iqr: float
    median_ci: tuple[float, float] | None  # 95% order-statistic interval of the median
    p90_upper: float | None  # 99% upper bound of p90 (MLPerf early stopping)

    @property
    def iqr_over_median(self) -> float:
        return self.iqr / self.p50 if self.p50 > 0 else math.inf

    @property
    def ci_rel_width(self) -> float | None:
        """Width of the median's interval relative to the median (None without an interval)."""
        if self.median_ci is None:
            return None
        return (self.median_ci[1] - self.median_ci[0]) / self.p50 if self.p50 > 0 else math.inf

    def as_dict(self) -> dict:
        return {
            "n": self.n, "p50_s": self.p50, "p90_s": self.p90, "p99_s": self.p99, "iqr_s": self.iqr,
            "iqr_over_median": self.iqr_over_median,
            "median_ci95_s": list(self.median_ci) if self.median_ci else None,
            "median_ci_rel_width": self.ci_rel_width,
            "p90_upper99_s": self.p90_upper,
            "method": METHOD,
        }


METHOD = ("percentiles: numpy linear (type 7) over per-call samples; median CI: exact binomial order-statistic "
          "interval at 95%; p90_upper99: one-sided 99% order-statistic bound (MLPerf early stopping)")


def summarize(samples, what: str = "samples") -> Summary:
    """:class:`Summary` of per-call seconds (pytest-benchmark's samples are already per call)."""
    a = as_samples(samples, what)
    p50, p90, p99 = (float(v) for v in np.percentile(a, PERCENTILES))
    q1, q3 = np.percentile(a, (25, 75))
    return Summary(int(a.size), p50, p90, p99, float(q3 - q1), quantile_interval(a, 0.5),
                   quantile_upper_bound(a, 0.9))


def _bootstrap_medians(runs: list[np.ndarray], resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``resamples`` replicates of the median of run medians, resampling runs, then samples within runs."""
    per_run = []
    for r in runs:
        # chunked so that a 10k-sample run needs tens of MB, not gigabytes
        chunk = max(1, min(resamples, 4_000_000 // max(r.size, 1)))
        meds = [np.median(rng.choice(r, size=(min(chunk, resamples - i), r.size)), axis=1)
                for i in range(0, resamples, chunk)]
        per_run.append(np.concatenate(meds))
    boot = np.stack(per_run)  # (runs, resamples)
    if len(runs) == 1:
        return boot[0]
    pick = rng.integers(0, len(runs), size=(resamples, len(runs)))
    return np.median(boot[pick, np.arange(resamples)[:, None]], axis=1)


def median_of_runs(runs) -> float:
    """The statistic compared across sides: the median of each run's median."""
    return float(np.median([np.median(r) for r in runs]))


@dataclass(frozen=True)
class Ratio:
    """``new / base`` of the median of run medians, with its bootstrap interval."""

    ratio: float
    low: float
    high: float
    confidence: float

    @property
    def significant(self) -> bool:
        """The interval excludes 1: the two sides differ at the stated confidence."""
        return self.low > 1.0 or self.high < 1.0


def ratio_interval(base_runs, new_runs, confidence: float = CONFIDENCE, resamples: int = BOOTSTRAP_RESAMPLES,
                   seed: int = BOOTSTRAP_SEED) -> Ratio:
    """Percentile-bootstrap interval of ``median(new) / median(base)``; each side a list of sample arrays."""
    base = [as_samples(r, "base") for r in base_runs]
    new = [as_samples(r, "new") for r in new_runs]
    if not base or not new:
        raise StatsError("ratio_interval needs at least one run on each side")
    rng = np.random.default_rng(seed)
    b = _bootstrap_medians(base, resamples, rng)
    n = _bootstrap_medians(new, resamples, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        reps = n / b
    alpha = 1 - confidence
    low, high = np.nanquantile(reps, (alpha / 2, 1 - alpha / 2))
    base_median = median_of_runs(base)
    ratio = median_of_runs(new) / base_median if base_median > 0 else math.inf
    return Ratio(ratio, float(low), float(high), confidence)


@dataclass(frozen=True)
class ProportionChange:
    """An accuracy change, judged against the larger of its binomial error and, when both sides hold two seeds
    or more, the spread of the seeds (the difference of the seed means' Welch standard error and t critical
    value): a change of seed is training chaos, not a regression, whatever the test-set size."""

    base: float
    new: float
    n_base: int
    n_new: int
    z_critical: float
    seed_se_points: float | None = None  # Welch SE of the difference of the seed means, in points
    t_critical: float | None = None  # its two-sided critical value (Welch-Satterthwaite df)

    @property
    def points(self) -> float:
        return (self.new - self.base) * 100

    @property
    def binomial_se_points(self) -> float:
        """SE of the difference in points: unpaired two-proportion, conservative for one shared test set."""
        var = self.base * (1 - self.base) / self.n_base + self.new * (1 - self.new) / self.n_new
        return math.sqrt(var) * 100

    @property
    def basis(self) -> str:
        """``"seed spread"`` when the seeds' bound is the wider, else ``"binomial"``."""
        if self.seed_se_points is not None and self.seed_se_points * self.t_critical > \
                self.binomial_se_points * self.z_critical:
            return "seed spread"
        return "binomial"

    @property
    def stderr_points(self) -> float:
        return self.seed_se_points if self.basis == "seed spread" else self.binomial_se_points

    @property
    def critical(self) -> float:
        return self.t_critical if self.basis == "seed spread" else self.z_critical

    @property
    def significant(self) -> bool:
        se = self.stderr_points
        return abs(self.points) > self.critical * se if se > 0 else self.points != 0


def z_critical(confidence: float = CONFIDENCE) -> float:
    """The two-sided normal critical value at ``confidence`` (1.96 at 95%)."""
    return float(sps.norm.ppf(1 - (1 - confidence) / 2))


def t_critical(confidence: float, dof: float) -> float:
    """The two-sided Student t critical value at ``confidence`` for a variance estimated on ``dof`` degrees of
    freedom (3.18 at 95% and 3 dof; 1.96 as ``dof`` grows)."""
    return float(sps.t.ppf(1 - (1 - confidence) / 2, dof))


def proportion_change(base: float, new: float, n_base: int, n_new: int | None = None,
                      confidence: float = CONFIDENCE, base_seeds=None, new_seeds=None) -> ProportionChange:
    """``new - base`` of two accuracies measured on ``n`` test images each, judged at ``confidence``.

    With per-seed values on both sides (two or more each), ``base`` and ``new`` are the seed means and the seed
    spread joins the judgement (:class:`ProportionChange`).
    """
    seeds = [np.asarray(v, dtype=np.float64) for v in (base_seeds, new_seeds) if v is not None and len(v) >= 2]
    seed_se = t_crit = None
    if len(seeds) == 2:
        a, b = seeds
        base, new = float(a.mean()), float(b.mean())
        va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
        if va + vb > 0:
            df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
            seed_se, t_crit = math.sqrt(va + vb) * 100, t_critical(confidence, df)
    for name, p in (("base", base), ("new", new)):
        if not (0.0 <= p <= 1.0):
            raise StatsError(f"{name} accuracy {p!r} is not a fraction in [0, 1]")
    n_new = n_base if n_new is None else n_new
    if n_base < 1 or n_new < 1:
        raise StatsError(f"test-set sizes must be >= 1, got {n_base} and {n_new}")
    return ProportionChange(base, new, int(n_base), int(n_new), z_critical(confidence), seed_se, t_crit)
