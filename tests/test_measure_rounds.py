"""plan_rounds on pilots of known timings (first_call replaced: no test depends on this machine's speed)."""
import itertools

import pytest

from lenet.measure import timing as measure


@pytest.fixture
def pilot(monkeypatch):
    def use(times):
        it = itertools.cycle(times)
        monkeypatch.setattr(measure, "first_call", lambda fn: next(it))
    return use


def test_steady_calls_fill_the_budget(pilot):
    pilot([10e-3] * 11)  # 10 ms, no spread
    assert measure.plan_rounds(lambda: None, 1.0) == (100, 1)


def test_sub_millisecond_calls_are_repeated_within_a_round(pilot):
    pilot([1e-5] * 11)
    rounds, iterations = measure.plan_rounds(lambda: None, 1.0)
    assert iterations == 100 and rounds == 1000  # 1 ms rounds; capped at max_rounds
    assert measure.plan_rounds(lambda: None, 1.0, repeatable=False)[1] == 1


def test_a_spread_pilot_asks_for_more_rounds_up_to_the_cap(pilot):
    pilot([50e-3] * 5 + [80e-3] * 6)  # IQR 30 ms on a median of 80 ms
    rounds, _ = measure.plan_rounds(lambda: None, 0.5)  # the budget alone: 6 rounds
    assert rounds == int(4 * 0.5 / 80e-3)  # the interval needs more than 4 x the budget allows: capped
    rounds, _ = measure.plan_rounds(lambda: None, 0.5, max_budget_s=100.0)
    sigma = 30e-3 / 1.349 / 80e-3
    assert rounds == int((2 * 1.96 * 1.2533 * sigma / 0.08) ** 2) + 1


def test_never_fewer_rounds_than_an_interval_needs(pilot):
    pilot([2.0] * 11)
    assert measure.plan_rounds(lambda: None, 1.0)[0] == measure.MIN_ROUNDS
