"""``lenet compare`` on doctored histories: the same, 30% slower, noisier, unstable, several runs, no samples."""
import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lenet.cli import main
from lenet.io.history import load_run
from lenet.study.compare import (
    MACHINE_DIFFERS,
    NO_SAMPLES,
    REGRESSION,
    UNSTABLE,
    compare_runs,
    exit_status,
    sides_to_compare,
)
from lenet.study.run_spread import between_run_spread

ROOT = Path(__file__).resolve().parents[1]


def bench(name, samples, group="inference batch=1", **extra):
    samples = [float(v) for v in samples]
    return {"name": name, "fullname": f"bench/test_x.py::{name}", "group": group, "params": {},
            "stats": {"median": float(np.median(samples)), "data": samples},
            "extra_info": {"unstable": False, "unstable_reasons": [], **extra}}


def history(path: Path, benchmarks, when="2026-12-01T00:00:00", probe=1e-3) -> Path:
    path.write_text(json.dumps({"machine_info": {"node": "box", "lenet": {"probe_reference_s": probe}},
                                "commit_info": {}, "datetime": when, "benchmarks": benchmarks}))
    return path


def samples(seed, scale=1.0, spread=0.05, n=400):
    return np.random.default_rng(seed).lognormal(np.log(1e-3 * scale), spread, n)


@pytest.fixture
def pair(tmp_path):
    def make(new_scale=1.0, new_spread=0.05, strip=False):
        base = [bench("test_a", samples(0)), bench("test_b", samples(1, 2.0))]
        new = [bench("test_a", samples(2, new_scale, new_spread)), bench("test_b", samples(3, 2.0))]
        if strip:
            for b in base + new:
                del b["stats"]["data"]
        return (history(tmp_path / "base.json", base), history(tmp_path / "new.json", new, "2026-12-02T00:00:00"))
    return make


def judged(base, new, **kw):
    c = compare_runs([load_run(base)], [load_run(new)], **kw)
    return c, {v.name: v for v in c.verdicts}


def test_same_code_twice_flags_nothing(pair):
    c, v = judged(*pair())
    assert exit_status(c) == 0 and not c.regressions
    assert all(x.time in ("no significant change", "significant, within ±10%") for x in v.values())


def test_thirty_percent_slower_is_a_regression_with_its_interval(pair, capsys):
    base, new = pair(new_scale=1.3)
    c, v = judged(base, new)
    a = v["test_a"]
    assert a.time == REGRESSION and a.ratio.low < 1.3 < a.ratio.high and a.ratio.low > 1.1
    assert v["test_b"].time != REGRESSION
    assert main(["compare", str(base), str(new)]) == 1
    out = capsys.readouterr().out
    assert "test_a" in out and "regression ⚠" in out and "1 regression(s): test_a" in out


def test_noisier_but_not_slower_is_no_regression(pair):
    c, v = judged(*pair(new_spread=0.4))
    assert v["test_a"].time != REGRESSION and exit_status(c) == 0


def test_a_change_under_the_threshold_is_not_a_regression(pair):
    c, v = judged(*pair(new_scale=1.05))
    assert v["test_a"].time == "significant, within ±10%" and exit_status(c) == 0


def test_histories_without_samples_compare_medians_only(pair, capsys):
    base, new = pair(new_scale=1.3, strip=True)
    c, v = judged(base, new)
    assert v["test_a"].time == NO_SAMPLES and v["test_a"].ratio is None and exit_status(c) == 0
    assert any("--benchmark-save-data" in n for n in c.notes)
    assert main(["compare", str(base), str(new)]) == 0
    assert "no raw samples: medians only, no significance" in capsys.readouterr().out


def test_an_unstable_side_is_inconclusive(tmp_path):
    base = history(tmp_path / "b.json", [bench("test_a", samples(0))])
    shaky = bench("test_a", samples(1, 1.5), unstable=True, unstable_reasons=["load average 6.10 above the 2 usable"
                                                                              " cores"])
    new = history(tmp_path / "n.json", [shaky])
    c, v = judged(base, new)
    assert v["test_a"].time == UNSTABLE and exit_status(c) == 0


def test_several_runs_per_side_use_the_median_of_runs(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "new").mkdir()
    for i, m in enumerate((0.95, 1.0, 1.05)):
        history(tmp_path / "base" / f"{i}.json", [bench("test_a", samples(i, m))], f"2026-12-01T0{i}:00:00")
        history(tmp_path / "new" / f"{i}.json", [bench("test_a", samples(10 + i, 1.3 * m))], f"2026-12-02T0{i}:00:00")
    from lenet.io.history import load_runs

    c = compare_runs(load_runs([tmp_path / "base"]), load_runs([tmp_path / "new"]))
    v = c.verdicts[0]
    assert len(v.base.entries) == 3 and v.base.spread[0] < v.base.median < v.base.spread[1]
    assert v.time == REGRESSION
    one = compare_runs(load_runs([tmp_path / "base"])[:1], load_runs([tmp_path / "new"])[:1]).verdicts[0]
    assert (v.ratio.high - v.ratio.low) > (one.ratio.high - one.ratio.low)  # drift between runs widens it
    assert main(["compare", str(tmp_path / "base"), str(tmp_path / "new"), "--last", "2"]) == 1


def test_top1_is_judged_against_its_standard_error(tmp_path):
    def acc(top1, n):
        return bench("test_accuracy[torch]", samples(0), group="accuracy", test_top1=top1, test_samples=n)
    for n, expected in ((10_000, REGRESSION), (75, "no significant change")):
        base = history(tmp_path / f"b{n}.json", [acc(0.90, n)])
        new = history(tmp_path / f"n{n}.json", [acc(0.88, n)])
        c, v = judged(base, new)
        assert v["test_accuracy[torch]"].accuracy == expected, n
        assert exit_status(c) == (1 if expected == REGRESSION else 0)


def test_machines_of_different_speed_are_noted(tmp_path):
    base = history(tmp_path / "b.json", [bench("test_a", samples(0))], probe=1e-3)
    new = history(tmp_path / "n.json", [bench("test_a", samples(1))], probe=2e-3)
    c, _ = judged(base, new)
    assert any("reference probe differs by +100%" in n for n in c.notes)


def test_usage_errors_exit_2(pair, tmp_path):
    base, new = pair()
    for args in (["--threshold", "-5"], ["--confidence", "1.5"], ["--last", "0"]):
        proc = subprocess.run([sys.executable, "-m", "lenet", "compare", str(base), str(new), *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, (args, proc.stderr)
    assert main(["compare", str(tmp_path / "missing.json"), str(new)]) == 2


def test_doctored_samples_that_are_not_times_are_refused(tmp_path, pair):
    base, new = pair()
    doc = json.loads(new.read_text())
    bad = copy.deepcopy(doc)
    bad["benchmarks"][0]["stats"]["data"][3] = -1.0
    new.write_text(json.dumps(bad))
    assert main(["compare", str(base), str(new)]) == 2


def _with_probe(b, probe_s, threads=2, batch=None):
    b["extra_info"]["noise"] = {"probe_before_s": probe_s, "probe_after_s": probe_s, "threads": threads}
    if batch:
        b["extra_info"]["batch_size"] = batch
    return b


def test_a_machine_in_another_state_is_inconclusive(tmp_path):
    base = history(tmp_path / "b.json", [_with_probe(bench("test_a", samples(0)), 0.64e-3)])
    new = history(tmp_path / "n.json", [_with_probe(bench("test_a", samples(1, 1.4)), 1.22e-3)])
    c, v = judged(base, new)
    assert v["test_a"].time == MACHINE_DIFFERS and exit_status(c) == 0
    # the same probe on both sides: the slowdown is the code's
    new = history(tmp_path / "n2.json", [_with_probe(bench("test_a", samples(1, 1.4)), 0.66e-3)])
    assert judged(base, new)[1]["test_a"].time == REGRESSION


def test_different_thread_counts_skip_the_machine_gate(tmp_path):
    base = history(tmp_path / "b.json", [_with_probe(bench("test_a", samples(0)), 0.64e-3, threads=2)])
    new = history(tmp_path / "n.json", [_with_probe(bench("test_a", samples(1, 1.8)), 1.25e-3, threads=1)])
    c, v = judged(base, new)
    assert v["test_a"].time == REGRESSION and any("different thread counts" in n for n in c.notes)


def test_different_batch_sizes_compare_per_sample(tmp_path):
    base = history(tmp_path / "b.json", [_with_probe(bench("test_offline", samples(0)), 1e-3, batch=64)])
    # 16x the batch in 8x the time: twice the throughput
    new = history(tmp_path / "n.json", [_with_probe(bench("test_offline", samples(1, 8.0)), 1e-3, batch=1024)])
    c, v = judged(base, new)
    assert v["test_offline"].ratio.ratio == pytest.approx(0.5, rel=0.05) and v["test_offline"].time == "improvement"
    assert any("per sample" in n for n in c.notes)


def test_a_storage_folder_alone_compares_its_newest_run_with_the_one_before(tmp_path, capsys):
    folder = tmp_path / "storage" / "Linux-CPython-3.11-64bit"
    folder.mkdir(parents=True)
    history(folder / "0001_a.json", [bench("test_a", samples(0))], when="2026-12-01T00:00:00")
    assert main(["compare", str(tmp_path / "storage")]) == 2  # one run: nothing to compare it with
    assert "holds 1 run; compared alone, a storage folder needs two" in capsys.readouterr().err
    history(folder / "0002_b.json", [bench("test_a", samples(1))], when="2026-12-02T00:00:00")
    history(folder / "0003_c.json", [bench("test_a", samples(2, 1.3))], when="2026-12-03T00:00:00")
    assert main(["compare", str(tmp_path / "storage")]) == 1  # 0003 (30% slower) against 0002
    out = capsys.readouterr().out
    assert "base: 1 run(s) (0002_b.json)" in out and "new:  1 run(s) (0003_c.json)" in out
    assert main(["compare", str(tmp_path / "storage"), "--last", "2"]) == 1  # against 0001 and 0002
    assert "base: 2 run(s) (0001_a.json, 0002_b.json)" in capsys.readouterr().out


def test_the_same_runs_on_both_sides_are_refused(pair, capsys):
    base, new = pair()
    for a, b in ((base, base), (base.parent, new)):
        assert main(["compare", str(a), str(b)]) == 2
        err = capsys.readouterr().err
        assert "a run compared with itself shows no change" in err and len(err.strip().splitlines()) == 1


def test_the_session_measurements_read_from_lenet_session(tmp_path):
    """Histories keep the session's probe reading in the top-level ``lenet_session`` (older ones in
    ``machine_info.lenet``): both are read."""
    def moved(path):
        doc = json.loads(path.read_text())
        doc["lenet_session"] = {"probe_reference_s": doc["machine_info"].pop("lenet")["probe_reference_s"]}
        path.write_text(json.dumps(doc))
        return path

    base = moved(history(tmp_path / "b.json", [bench("test_a", samples(0))], probe=1e-3))
    new = history(tmp_path / "n.json", [bench("test_a", samples(1))], probe=2e-3)
    assert load_run(base).session == {"probe_reference_s": 1e-3}
    assert load_run(new).session == {"probe_reference_s": 2e-3}
    c, _ = judged(base, new)
    assert any("reference probe differs by +100%" in n for n in c.notes)


def test_report_compare_exits_as_compare_does(pair, tmp_path):
    base, new = pair(new_scale=1.3)
    assert main(["report", str(base), str(new), "--compare", "--out", str(tmp_path / "r")]) == 1
    base, new = pair()
    assert main(["report", str(base), str(new), "--compare", "--out", str(tmp_path / "r2")]) == 0


def _accuracy_row(values, n_test=10_000):
    from lenet.study.seeds import spread

    return bench("test_accuracy[torch]", samples(0), group="accuracy", test_top1=values[0], test_samples=n_test,
                 seed_spread={"test_top1": spread(values, list(range(len(values))))})


def test_a_change_of_seeds_is_not_a_regression_but_a_third_of_the_epochs_is(tmp_path):
    """Two runs that differ only in their seeds (Fashion-MNIST's relu LeNet-5: 0.9085 ± 0.0036 over five seeds)
    read as no significant change, though their single-seed figures differ by more than the binomial error at
    10,000 images; a model trained on a third of the epochs (4 points lower) reads as a regression."""
    base = history(tmp_path / "b.json", [_accuracy_row([0.9120, 0.9050, 0.9085, 0.9040, 0.9130])])
    new = history(tmp_path / "n.json", [_accuracy_row([0.9030, 0.9110, 0.9070, 0.9125, 0.9060])])
    c, v = judged(base, new)
    change = v["test_accuracy[torch]"].top1
    assert v["test_accuracy[torch]"].accuracy == "no significant change"
    assert change.points == pytest.approx((0.9079 - 0.9085) * 100)  # the seed means, not one seed each
    assert abs(0.9030 - 0.9120) * 100 > 1.96 * change.binomial_se_points  # one seed each would have been "significant"
    # with two seeds a side, the seeds' bound (Welch t, 2 degrees of freedom or so) is the wider one, and is used
    two = judged(history(tmp_path / "b2.json", [_accuracy_row([0.9050, 0.9120])]),
                 history(tmp_path / "n2.json", [_accuracy_row([0.9110, 0.9040])]))[1]["test_accuracy[torch]"]
    assert two.top1.basis == "seed spread" and two.accuracy == "no significant change"
    worse = history(tmp_path / "w.json", [_accuracy_row([0.8680, 0.8650, 0.8700, 0.8640, 0.8690])])
    c, v = judged(base, worse)
    assert v["test_accuracy[torch]"].accuracy == REGRESSION and exit_status(c) == 1


def test_hand_written_against_loadgen_scenarios_is_said(tmp_path):
    """Old single-stream rows (hand-written harness) still match the LoadGen ones by name, and the note says how."""
    base = history(tmp_path / "b.json", [bench("test_single_stream", samples(0), group="scenario single-stream")])
    new = history(tmp_path / "n.json", [bench("test_single_stream", samples(1), group="scenario single-stream",
                                              loadgen={"valid": True, "verdict": "VALID"})])
    c, v = judged(base, new)
    assert "test_single_stream" in v
    (note,) = [n for n in c.notes if "LoadGen" in n]
    assert "test_single_stream" in note
    c, _ = judged(new, new)
    assert not any("LoadGen" in n for n in c.notes)



def test_only_timing_rows_get_a_time_verdict(tmp_path):
    """A memory row's time is a fresh process's cold start, an accuracy row's a test-set pass: side figures that
    the machine rules never judged, so a slower one is not called a regression (its own figure is judged)."""
    base = history(tmp_path / "b.json", [bench("test_memory[onnxruntime]", samples(0), group="memory"),
                                         bench("test_a", samples(1))])
    new = history(tmp_path / "n.json", [bench("test_memory[onnxruntime]", samples(2, 1.5), group="memory"),
                                        bench("test_a", samples(3, 1.5))])
    c, v = judged(base, new)
    assert v["test_memory[onnxruntime]"].time.startswith("not judged (memory row")
    assert v["test_a"].time == REGRESSION and [r.name for r in c.regressions] == ["test_a"]


def _paired(name, scale, speedup, spread=0.05, probe=0.64e-3, low=None, high=None, group="inference batch=64"):
    """A row timed side by side: ``speedup`` times handcrafted's speed, its absolute time ``scale``."""
    b = _with_probe(bench(name, samples(hash(name) % 100, scale), group=group), probe)
    b["extra_info"]["ratio"] = {"reference": "handcrafted", "median": speedup, "low": low or speedup * (1 - spread),
                                "high": high or speedup * (1 + spread), "confidence": 0.95, "rounds": 9}
    return b


def test_a_row_timed_side_by_side_is_judged_on_its_ratio_not_on_its_time(tmp_path):
    """The machine slowed both contenders by 40% (probe and time alike): the ratio held, so no change and no
    machine-state gate; the same absolute slowdown with the ratio fallen is the row's own regression."""
    base = history(tmp_path / "b.json", [_paired("test_torch", 1.0, 2.0)])
    new = history(tmp_path / "n.json", [_paired("test_torch", 1.4, 2.0, probe=0.9e-3)], "2026-12-02T00:00:00")
    c, v = judged(base, new)
    assert v["test_torch"].basis == "side by side against handcrafted"
    assert v["test_torch"].time == "no significant change" and exit_status(c) == 0
    assert any("judged on that ratio" in n for n in c.notes)
    fallen = history(tmp_path / "f.json", [_paired("test_torch", 1.0, 1.4)], "2026-12-02T00:00:00")
    c, v = judged(base, fallen)
    assert v["test_torch"].time == REGRESSION and exit_status(c) == 1
    assert v["test_torch"].ratio.ratio == pytest.approx(2.0 / 1.4)  # new/base of time against handcrafted
    assert v["test_torch"].ratio.low > 1.1
    assert "side by side against handcrafted" in v["test_torch"].flags[0]


def test_a_ratio_on_one_side_only_is_judged_on_time(tmp_path):
    base = history(tmp_path / "b.json", [_with_probe(bench("test_torch", samples(0)), 0.64e-3)])
    new = history(tmp_path / "n.json", [_paired("test_torch", 1.3, 2.0)], "2026-12-02T00:00:00")
    c, v = judged(base, new)
    assert v["test_torch"].basis == "time" and v["test_torch"].time == REGRESSION


def _server(name, peak, failing, latency_scale):
    b = _with_probe(bench(name, samples(7, latency_scale), group="scenario server"), 0.64e-3)
    b["extra_info"].update(peak_qps=peak, peak_qps_below=failing)
    return b


def test_a_server_row_is_judged_on_its_peak_rate(tmp_path):
    """The latency at the searched rate halved while the peak rate fell by half: a regression of the peak."""
    base = history(tmp_path / "b.json", [_server("test_server", 1000.0, 1100.0, 2.0)])
    new = history(tmp_path / "n.json", [_server("test_server", 500.0, 550.0, 1.0)], "2026-12-02T00:00:00")
    c, v = judged(base, new)
    assert v["test_server"].basis == "peak rate under the latency bound"
    assert v["test_server"].time == REGRESSION and v["test_server"].ratio.ratio == pytest.approx(2.0)
    # a peak that moved inside the search's brackets is no change
    near = history(tmp_path / "m.json", [_server("test_server", 1050.0, 1150.0, 1.0)], "2026-12-02T00:00:00")
    assert judged(base, near)[1]["test_server"].time == "no significant change"


def test_repeats_of_one_commit_widen_the_interval_to_the_spread_between_runs(tmp_path, capsys):
    """Commit a ran twice, 25% apart with tight samples each time; commit b is 20% slower than a's newest run.
    Within-run noise alone calls that a regression; the spread between a's runs says it is not one."""
    folder = tmp_path / "storage" / "Linux-CPython-3.11-64bit"
    folder.mkdir(parents=True)

    def run(path, when, commit, scales):
        doc = history(folder / path, [bench(f"test_{i}", samples(i + 10 * len(path), s, spread=0.01))
                                      for i, s in enumerate(scales)], when)
        data = json.loads(doc.read_text())
        data["commit_info"] = {"id": commit, "dirty": False}
        doc.write_text(json.dumps(data))

    run("0001_a.json", "2026-12-01T00:00:00", "a" * 40, [1.0, 1.0, 1.0])
    run("0002_a.json", "2026-12-01T01:00:00", "a" * 40, [1.25, 0.8, 1.25])
    run("0003_b.json", "2026-12-02T00:00:00", "b" * 40, [1.5, 0.96, 1.5])
    assert main(["compare", str(folder / "0002_a.json"), str(folder / "0003_b.json")]) == 1  # no repeats beside
    assert "no repeated runs of one commit" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "storage")]) == 0
    out = capsys.readouterr().out
    assert "run to run (sd over 3 repeats, 1 commit(s))" in out and "regression" not in out.split("note:")[0]
    # the new side never measures its own spread: b's run repeated beside it still leaves a's spread alone
    base, new, beside = sides_to_compare(str(tmp_path / "storage"))
    assert [r.path.name for r in beside] == ["0001_a.json", "0002_a.json"] and new[0].path.name == "0003_b.json"


def test_between_run_spread_pools_each_section_and_basis(tmp_path):
    """Four time rows and one side-by-side row in two clean runs of one commit: the time rows pool into one
    spread (4 deviations), the lone paired row gives too few to say anything, and a dirty run repeats nothing."""
    runs = []
    for k, (scale, speedup, dirty) in enumerate(((1.0, 2.0, False), (1.2, 2.2, False), (0.5, 1.0, True))):
        rows = [bench(f"test_b{i}", samples(i, scale * (1 + i))) for i in range(4)]
        rows.append(_paired("test_p", scale, speedup))
        path = history(tmp_path / f"{k}.json", rows, f"2026-12-0{k + 1}T00:00:00")
        data = json.loads(path.read_text())
        data["commit_info"] = {"id": "c" * 40, "dirty": dirty}
        path.write_text(json.dumps(data))
        runs.append(load_run(path))
    assert between_run_spread(runs[:1]) == {}
    spreads = between_run_spread(runs)
    assert set(spreads) == {("inference", "time")}
    logs = np.log([[e.median for e in run.entries[:4]] for run in runs[:2]])
    expected = np.sqrt(np.sum((logs - logs.mean(axis=0)) ** 2) / 4)
    assert spreads[("inference", "time")].sigma == pytest.approx(expected)
    assert spreads[("inference", "time")].dof == 4 and spreads[("inference", "time")].commits == 1
