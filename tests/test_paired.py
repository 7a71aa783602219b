"""Interleaved rounds (lenet.measure.paired): the order they run in and the ratio they report."""
import numpy as np
import pytest

from lenet.measure.paired import MIN_ROUNDS, Interleaved, Paired


def test_rounds_rotate_and_each_contender_runs_whole_blocks():
    log = []
    calls = {name: (lambda name=name: log.append(name)) for name in ("a", "b", "c")}
    rounds = Interleaved(calls, block_s=0.0, gap_s=0.0)  # blocks of one call each
    calibration = len(log)
    for _ in range(MIN_ROUNDS):
        rounds.round()
    order = log[calibration:]
    assert order[:9] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    paired = rounds.result()
    assert paired.calls_per_block == {"a": 1, "b": 1, "c": 1}
    assert all(len(v) == MIN_ROUNDS and min(v) > 0 for v in paired.per_call_s.values())


def test_a_block_idles_first_only_after_another_contenders_block(monkeypatch):
    log = []
    calls = {name: (lambda name=name: log.append(name)) for name in ("a", "b")}
    rounds = Interleaved(calls, block_s=0.0, gap_s=1.0)
    monkeypatch.setattr("lenet.measure.paired.time.sleep", lambda s: log.append("gap"))
    del log[:]
    for _ in range(3):
        rounds.round()
    # rounds a b, b a, a b: the second round's first block follows its own contender's, and so on
    assert log == ["gap", "a", "gap", "b", "b", "gap", "a", "a", "gap", "b"]


def test_too_few_rounds_have_no_interval():
    rounds = Interleaved({"a": lambda: None, "b": lambda: None}, block_s=0.0, gap_s=0.0)
    rounds.round()
    with pytest.raises(ValueError, match=f"at least {MIN_ROUNDS}"):
        rounds.result()


def test_speedup_is_the_median_of_per_round_ratios_with_its_interval():
    # the machine slows 10x in rounds 3-5, for both contenders alike: the per-round ratio does not move
    fast = np.array([1.0, 1.0, 1.0, 10.0, 10.0, 10.0, 1.0, 1.0, 1.0, 1.0])
    paired = Paired({"hc": list(fast), "torch": list(2.0 * fast)}, {"hc": 1, "torch": 1})
    s = paired.speedup("hc", over="torch")
    assert s["median"] == pytest.approx(2.0) and s["low"] == pytest.approx(2.0) and s["high"] == pytest.approx(2.0)
    assert s["rounds"] == 10 and s["confidence"] == 0.95
    noisy = Paired({"hc": [1.0] * 9, "torch": [1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9]}, {})
    s = noisy.speedup("hc", "torch")
    assert s["median"] == pytest.approx(1.5) and s["low"] < 1.5 < s["high"]
