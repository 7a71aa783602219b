"""The unstable flag on synthetic machine readings and samples; the readings themselves are well formed."""
import numpy as np
import pytest

from lenet.measure import noise
from lenet.measure.ceiling import bytes_moved, roofline
from lenet.measure.stats import summarize
from lenet.spec import build_arch

QUIET = summarize(np.random.default_rng(0).normal(1e-3, 1e-5, 200))


def cond(**kw):
    base = dict(cores=2, threads=2, load1_before=0.5, load1_after=0.8, probe_ref_s=1e-3, probe_before_s=1.01e-3,
                probe_after_s=0.99e-3, steal_fraction=0.0, others_cpu_cores=0.02, seconds=2.0)
    return noise.Conditions(**{**base, **kw})


def test_a_quiet_reading_is_trusted():
    assert noise.judge(cond(), QUIET) == []


@pytest.mark.parametrize("kw, words", [
    (dict(probe_after_s=1.6e-3), "probe drifted +60%"),
    (dict(probe_before_s=0.4e-3), "probe drifted -60%"),
    (dict(load1_after=5.3), "load average 5.30 above the 2 usable cores + 1"),
    (dict(steal_fraction=0.2), "20% of CPU time stolen"),
    (dict(others_cpu_cores=1.5), "other processes used 1.50 cores"),
])
def test_each_disturbance_is_named(kw, words):
    reasons = noise.judge(cond(**kw), QUIET)
    assert len(reasons) == 1 and words in reasons[0]


def test_a_run_that_fills_the_cores_is_not_flagged_by_its_own_load():
    # 2 threads on 2 cores hold the 1-minute load near 2 on a quiet machine; a third task on average is flagged
    assert noise.judge(cond(load1_before=2.3, load1_after=2.9), QUIET) == []
    assert noise.judge(cond(load1_after=3.2), QUIET) == ["load average 3.20 above the 2 usable cores + 1"]


def test_one_thread_leaves_a_core_for_others():
    assert noise.judge(cond(threads=1, others_cpu_cores=1.1), QUIET) == []
    assert "leave 1 free" in noise.judge(cond(threads=1, others_cpu_cores=1.5), QUIET)[0]


def test_spread_rules_apply_from_six_samples():
    rng = np.random.default_rng(1)
    bimodal = summarize(np.concatenate([rng.normal(1e-3, 1e-6, 100), rng.normal(3e-3, 1e-6, 100)]))
    reasons = noise.judge(None, bimodal)
    assert any("IQR/median" in r for r in reasons) and any("interval" in r for r in reasons)
    assert noise.judge(None, summarize([1.0, 3.0, 9.0])) == []  # too few samples for spread rules


def test_conditions_from_two_readings():
    before = noise.State(wall=10.0, load1=1.0, probe_s=1e-3, own_cpu_s=5.0, proc=(100.0, 1.0, 400.0))
    after = noise.State(wall=12.0, load1=1.5, probe_s=1.1e-3, own_cpu_s=8.0, proc=(104.5, 1.2, 404.0))
    c = noise.conditions(before, after, probe_ref_s=1e-3, threads=2)
    assert c.seconds == pytest.approx(2.0)
    assert c.others_cpu_cores == pytest.approx((4.5 - 3.0) / 2.0)
    assert c.steal_fraction == pytest.approx(0.2 / 4.0)
    assert c.probe_drift == pytest.approx(0.1)


def test_a_real_reading_is_well_formed():
    s = noise.read_state()
    assert s.probe_s > 0 and s.load1 >= 0 and s.own_cpu_s > 0
    if s.proc is not None:
        busy, steal, total = s.proc
        assert 0 <= steal <= total and 0 < busy <= total


def test_roofline_of_lenet5_by_hand():
    arch = build_arch("lenet5", 10, (1, 32, 32))
    # one sample: input 4,096 B + activations; the weights (61,706 x 4 B) once per batch
    moved = bytes_moved(arch, 1, "infer")
    from lenet.counting import count

    assert moved == 4096 + count(arch).activation_bytes + 246_824
    r = roofline(arch, 1, 1e-3, "infer", {"gemm_gflops": 100.0, "bandwidth_gbs": 10.0})
    assert r["achieved_gflops"] == pytest.approx(833_040 / 1e-3 / 1e9)
    assert r["pct_of_peak"] == pytest.approx(100 * r["achieved_gflops"] / 100.0)
    assert r["roof_gflops"] == pytest.approx(min(100.0, 833_040 / moved * 10.0))
    train = roofline(arch, 64, 1e-2, "train", None)
    assert train["achieved_gflops"] == pytest.approx(3 * 833_040 * 64 / 1e-2 / 1e9) and "pct_of_peak" not in train


def test_queueing_latencies_skip_the_spread_rules_only():
    """A LoadGen server row (``extra_info["queueing"]``) is spread by its random arrivals, not by the machine:
    the spread rules leave it alone, the machine rules still apply."""
    from types import SimpleNamespace

    from lenet.measure.monitor import SessionMonitor

    spread = list(np.random.default_rng(1).exponential(1e-3, 500))  # IQR/median about 1.6
    state = lambda load: noise.State(0.0, load, 1e-3, 0.0, None)  # noqa: E731
    for queueing, load, expected in ((False, 0.5, ("spread IQR/median", "median's 95% interval")), (True, 0.5, ()),
                                     (True, 4.0, ("load average",))):
        fixture = SimpleNamespace(name="test_server", stats=SimpleNamespace(stats=SimpleNamespace(data=spread)),
                                  extra_info={"queueing": True} if queueing else {})
        monitor = SessionMonitor(threads=2, probe_ref_s=1e-3, ceiling={})
        reasons = monitor.judge(fixture, state(load), state(load))
        assert len(reasons) == len(expected) and all(r.startswith(e) for r, e in zip(reasons, expected)), reasons
