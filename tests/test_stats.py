"""Percentiles, order-statistic intervals, the bootstrap ratio and the binomial change, on hand-computed cases."""
import math

import numpy as np
import pytest
from scipy import stats as sps

from lenet.measure.stats import (
    StatsError,
    order_statistic_ranks,
    proportion_change,
    quantile_interval,
    quantile_upper_bound,
    ratio_interval,
    summarize,
)


def test_percentiles_of_one_to_hundred():
    s = summarize(np.arange(1, 101, dtype=float))
    # numpy's linear rule: position (n - 1) q, so p50 = 50.5, p90 = 90.1, p99 = 99.01
    assert (s.p50, s.p90, s.p99) == pytest.approx((50.5, 90.1, 99.01))
    assert s.iqr == pytest.approx(75.25 - 25.75)
    assert s.n == 100


def test_median_interval_for_ten_samples_is_the_textbook_one():
    # Binomial(10, 1/2): F(1) = 11/1024, F(8) = 1013/1024, so [X(2), X(9)] covers the median with 1002/1024
    j, k, coverage = order_statistic_ranks(10, 0.5)
    assert (j, k) == (2, 9)
    assert coverage == pytest.approx(1002 / 1024)
    assert quantile_interval(np.arange(10, 0, -1)) == (2.0, 9.0)  # order of the input does not matter


def test_too_few_samples_have_no_interval():
    assert order_statistic_ranks(5, 0.5) is None  # 2 * (1/2)^5 = 6.25% > 5%: no 95% interval exists
    assert order_statistic_ranks(6, 0.5) is not None
    assert summarize([1.0, 2.0, 3.0]).median_ci is None


def test_p90_upper_bound_is_the_mlperf_order_statistic():
    n = 1000
    k = int(sps.binom(n, 0.9).ppf(0.99)) + 1
    assert sps.binom(n, 0.9).cdf(k - 1) >= 0.99 > sps.binom(n, 0.9).cdf(k - 2)
    x = np.arange(1, n + 1, dtype=float)
    assert quantile_upper_bound(x, 0.9, 0.99) == float(k)
    assert quantile_upper_bound([1.0, 2.0], 0.9, 0.99) is None  # two samples cannot bound p90 at 99%


def test_intervals_cover_at_their_level():
    rng = np.random.default_rng(1)
    true_median = math.log(2)  # exponential(1)
    hits = sum(lo <= true_median <= hi for lo, hi in (quantile_interval(rng.exponential(size=50)) for _ in range(400)))
    assert 0.93 <= hits / 400 <= 1.0


@pytest.mark.parametrize("bad, message", [([], "no samples"), ([1.0, float("nan")], "NaN"),
                                          ([1.0, -1e-3], "negative")])
def test_bad_samples_are_refused(bad, message):
    with pytest.raises(StatsError, match=message):
        summarize(bad, what="bench x")


def test_ratio_of_identical_runs_is_one_and_not_significant():
    x = np.random.default_rng(0).lognormal(0, 0.1, 500)
    r = ratio_interval([x], [x.copy()])
    assert r.ratio == 1.0 and r.low < 1.0 < r.high and not r.significant


def test_thirty_percent_slower_is_significant_and_its_interval_holds_the_truth():
    rng = np.random.default_rng(0)
    base = rng.lognormal(0, 0.1, 300)
    new = rng.lognormal(0, 0.1, 300) * 1.3
    r = ratio_interval([base], [new])
    assert r.significant and r.low > 1.2 and r.low < 1.3 < r.high


def test_one_run_per_side_matches_scipy_bootstrap():
    rng = np.random.default_rng(2)
    base, new = rng.gamma(4, 1, 200), rng.gamma(4, 1, 200) * 1.1
    ours = ratio_interval([base], [new], resamples=4000)
    theirs = sps.bootstrap((base, new), lambda a, b, axis: np.median(b, axis=axis) / np.median(a, axis=axis),
                           vectorized=True, paired=False, n_resamples=4000, method="percentile",
                           rng=np.random.default_rng(3)).confidence_interval
    assert ours.low == pytest.approx(theirs.low, abs=0.02) and ours.high == pytest.approx(theirs.high, abs=0.02)


def test_drift_between_runs_widens_the_interval():
    rng = np.random.default_rng(4)
    tight = [rng.normal(1.0, 0.01, 200) for _ in range(3)]
    drifting = [rng.normal(m, 0.01, 200) for m in (0.9, 1.0, 1.1)]
    one = ratio_interval(tight, tight)
    many = ratio_interval(drifting, drifting)
    assert (many.high - many.low) > 5 * (one.high - one.low)
    assert not many.significant


def test_accuracy_change_against_its_standard_error():
    # 0.90 -> 0.88 on 10,000 images: SE = sqrt(.9*.1/1e4 + .88*.12/1e4) = 0.4427 points; 2 points is 4.5 SE
    c = proportion_change(0.90, 0.88, 10_000)
    assert c.stderr_points == pytest.approx(math.sqrt(0.9 * 0.1 / 1e4 + 0.88 * 0.12 / 1e4) * 100)
    assert c.points == pytest.approx(-2.0) and c.significant
    # the same 2 points on 300 images is 0.8 SE: noise
    assert not proportion_change(0.90, 0.88, 300).significant
    with pytest.raises(StatsError, match="fraction"):
        proportion_change(1.2, 0.9, 100)


def test_seed_spread_is_a_t_interval_of_the_mean():
    from scipy import stats as sps

    from lenet.study.seeds import spread

    s = spread([0.90, 0.91, 0.92], [0, 1, 2])
    half = sps.t.ppf(0.975, 2) * 0.01 / 3 ** 0.5
    assert s["mean"] == pytest.approx(0.91) and s["sd"] == pytest.approx(0.01)
    assert (s["low"], s["high"]) == pytest.approx((0.91 - half, 0.91 + half))
    one = spread([0.9], [7])
    assert one["n"] == 1 and one["sd"] is None and one["low"] is None and one["seeds"] == [7]


@pytest.mark.parametrize("a, b, verdict", [
    ([0.908, 0.909, 0.910, 0.907, 0.911], [0.909, 0.908, 0.910, 0.909, 0.907], "equivalent"),
    ([0.908, 0.909, 0.910], [0.880, 0.881, 0.879], "different"),
    ([0.90, 0.92], [0.91, 0.89], "undecided"),  # too spread to tell at ±0.5 points with two seeds each
    ([0.908], [0.909, 0.908], "undecided"),  # one seed on a side
])
def test_tost_verdicts(a, b, verdict):
    from lenet.study.seeds import equivalence

    v = equivalence(a, b)
    assert v["verdict"] == verdict, v
    if verdict != "undecided" or len(a) > 1:
        assert v["difference"] == pytest.approx(np.mean(a) - np.mean(b))
