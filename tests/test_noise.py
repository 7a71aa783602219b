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
    (dict(probe_after_s=1.6e-3), "reference probe +58% from before to after"),
    (dict(probe_before_s=2.2e-3), "reference probe -55% from before to after"),
    (dict(load1_after=5.3), "load average 5.30 above the 2 usable cores + 1"),
    (dict(steal_fraction=0.2), "20% of CPU time stolen"),
    (dict(others_cpu_cores=1.5), "other processes used 1.50 cores"),
])
def test_each_disturbance_is_named(kw, words):
    reasons = noise.judge(cond(**kw), QUIET)
    assert len(reasons) == 1 and words in reasons[0]


def test_a_figure_taken_within_one_slow_state_is_a_figure_of_that_state():
    """The host's vCPUs moved to a slower state for minutes: the probe reads 1.22 ms before and after, +90%
    from the session's first 0.64 ms. Nothing changed while the figure was taken: it is not flagged, and its
    state is recorded for `lenet compare`."""
    c = cond(probe_ref_s=0.64e-3, probe_before_s=1.22e-3, probe_after_s=1.23e-3)
    assert noise.judge(c, QUIET) == [] and c.probe_drift == pytest.approx(0.92, abs=0.01)
    assert c.as_dict()["probe_state_s"] == pytest.approx(1.225e-3, rel=1e-3)


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


def test_memory_is_judged_by_its_spread_over_repeats_not_by_load():
    from lenet.measure.noise import MEMORY_SPREAD_MAX, judge_memory

    assert judge_memory({"infer_peak_rss_repeats_mib": [200.0, 201.0], "train_peak_rss_repeats_mib": None}) == []
    assert judge_memory({"infer_peak_rss_repeats_mib": [200.0]}) == []  # one repeat cannot be judged
    (reason,) = judge_memory({"train_peak_rss_repeats_mib": [200.0, 200.0 * (1 + 2 * MEMORY_SPREAD_MAX)]})
    assert reason.startswith("train_peak_rss spread 9.5% over 2 fresh processes (bound 5%)")  # of the median


def test_the_retime_plan_fits_the_budget_in_the_order_flagged():
    from lenet.study.retime import Plan, kept

    plan = Plan.make([("a", 4.0), ("b", 20.0), ("c", 5.0)], session_s=100.0, fraction=0.15)
    assert plan.budget_s == 15.0 and plan.chosen == ["a", "c"] and plan.left == ["b"]
    assert Plan.make([("a", 1.0)], session_s=100.0, fraction=0.0).chosen == []
    assert kept([True, False, False]) == 1 and kept([True, True]) == 1 and kept([False]) == 0


def test_every_declared_group_has_a_trust_rule_and_finds_its_rows():
    from lenet.schema import DETERMINISTIC, MEMORY, TIME, group_of

    assert group_of("accuracy").trust == DETERMINISTIC and group_of("flops").trust == DETERMINISTIC
    assert group_of("memory").trust == MEMORY
    assert group_of("inference batch=64").trust == TIME and group_of("graph keras train batch=64").section == "graph"
    assert group_of("speed-ratio inference batch=1").section == "speed-ratios"
    assert group_of("inferencex") is None and group_of(None) is None


def test_the_calibration_table_counts_each_rule_at_each_bound(tmp_path, capsys):
    import json

    from lenet.measure.calibrate import main

    def row(name, group, change, ci):
        n = {"cores": 2, "threads": 2, "load1_before": 0.5, "load1_after": 0.6, "probe_before_s": 1e-3,
             "probe_after_s": 1e-3 * (1 + change), "probe_change": change, "steal_fraction": 0.0,
             "others_cpu_cores": 0.0}
        t = {"iqr_over_median": 0.1, "median_ci_rel_width": ci}
        return {"name": name, "group": group, "stats": {"median": 1e-3}, "extra_info": {"noise": n, "timing": t}}

    path = tmp_path / "h.json"
    path.write_text(json.dumps({"machine_info": {}, "benchmarks": [
        row("a", "inference batch=1", 0.3, 0.05), row("b", "train-epoch batch=64", 0.6, 0.3),
        row("c", "accuracy", 0.9, 0.9)]}))  # accuracy: not a timing row, not counted
    assert main([f"quiet={path}"]) == 0
    out = capsys.readouterr().out
    assert "| probe change while timed | 0.25 | 2 of 2 (100%) |" in out
    assert "| probe change while timed | 0.5 (in force) | 1 of 2 (50%) |" in out
    assert "| median CI width / median | 0.2 (in force) | 1 of 2 (50%) |" in out
    assert main([f"quiet={tmp_path / 'missing'}"]) == 2 and "no such file" in capsys.readouterr().err


def test_queueing_latencies_skip_the_spread_rules_only():
    """A LoadGen server row (group ``scenario server``: the schema's QUEUED rule) is spread by its random
    arrivals, not by the machine: the spread rules leave it alone, the machine rules still apply."""
    from types import SimpleNamespace

    from lenet.measure.monitor import SessionMonitor

    spread = list(np.random.default_rng(1).exponential(1e-3, 500))  # IQR/median about 1.6
    state = lambda load: noise.State(0.0, load, 1e-3, 0.0, None)  # noqa: E731
    for queueing, load, expected in ((False, 0.5, ("spread IQR/median", "median's 95% interval")), (True, 0.5, ()),
                                     (True, 4.0, ("load average",))):
        fixture = SimpleNamespace(name="test_server", stats=SimpleNamespace(stats=SimpleNamespace(data=spread)),
                                  group="scenario server" if queueing else "scenario single-stream", extra_info={})
        monitor = SessionMonitor(threads=2, probe_ref_s=1e-3, ceiling={})
        reasons = monitor.judge(fixture, state(load), state(load))
        assert len(reasons) == len(expected) and all(r.startswith(e) for r, e in zip(reasons, expected)), reasons




def test_an_older_history_is_judged_by_todays_rules():
    """A row written before the trust rules (no ``trust_rule``): an accuracy row is never flagged, a memory row
    without repeats is not judged, and a timing is judged again from the readings it kept."""
    from lenet.schema import flag_of

    old_drift = ["reference probe drifted +90% from the session's first reading (bound ±50%)"]
    assert flag_of("accuracy", {"unstable": True, "unstable_reasons": old_drift}) == (False, [])
    assert flag_of("memory", {"unstable": True, "unstable_reasons": ["load average 5.0 above"]}) == (False, [])
    n = cond(probe_ref_s=0.64e-3, probe_before_s=1.22e-3, probe_after_s=1.23e-3).as_dict()
    timing = QUIET.as_dict()
    assert flag_of("inference batch=1", {"unstable": True, "unstable_reasons": old_drift, "noise": n,
                                         "timing": timing}) == (False, [])  # one slow state throughout: a figure
    recorded = {"unstable": True, "unstable_reasons": ["x"], "lenet_format": 2, "noise": n, "timing": timing}
    assert flag_of("inference batch=1", recorded) == (True, ["x"])  # judged by these rules when taken: kept
    assert flag_of("inference batch=1", {"unstable": True, "unstable_reasons": ["y"]}) == (True, ["y"])  # no readings
