import json

import pytest

from lenet.io.history import HistoryError, load_run, load_runs
from lenet.study.gates import AccuracyRegression, check_accuracy, threshold
from lenet.study.speed_targets import check, format_rows


def test_gate_passes_and_fails_with_reason():
    check_accuracy("digits", "lenet5", 10, {"top1": 0.97, "top5": 1.0})
    with pytest.raises(AccuracyRegression, match=r"top1 0\.5000 < 0\.9500 \(gate: table \(default config\)\)"):
        check_accuracy("digits", "lenet5", 10, {"top1": 0.5, "top5": 1.0})


def test_gate_without_table_entry_still_demands_twice_chance():
    gate, source = threshold("imagelist:/data/x", "lenet5", 50)
    assert gate == {"top1": 0.04} and "chance" in source
    with pytest.raises(AccuracyRegression, match="2x chance"):
        check_accuracy("digits[:200]", "lenet5", 10, {"top1": 0.1, "top5": 0.5})


def _bench(group, backend, batch, median, arch="lenet5", threads=2, **extra):
    return {"name": f"test[{backend}]", "group": group, "params": {}, "stats": {"median": median},
            "extra_info": {"backend": backend, "arch": arch, "batch_size": batch, "device": "cpu",
                           "threads": {"requested": threads}, "train_samples": 60000, **extra}}


def _history(tmp_path, benchmarks, name="h.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"machine_info": {"node": "box"}, "commit_info": {}, "datetime": "2026-11-22T00:00:00",
                                "benchmarks": benchmarks}))
    return path


def test_speed_targets_from_history(tmp_path):
    path = _history(tmp_path, [
        _bench("train-epoch batch=64", "handcrafted", 64, 0.75), _bench("train-epoch batch=64", "torch", 64, 1.0),
        _bench("train-epoch batch=64", "keras", 64, 0.7),
        _bench("inference batch=1", "handcrafted", 1, 2e-4), _bench("inference batch=1", "torch", 1, 1e-4),
        _bench("inference batch=1024", "handcrafted", 1024, 0.01, pct_of_peak=30.0),
        _bench("inference batch=1024", "torch", 1024, 0.02), _bench("inference batch=1024", "keras", 1024, 0.012),
        _bench("inference batch=64", "handcrafted", 64, 1e-3, threads=1),
        _bench("inference batch=64", "torch", 64, 1e-3, threads=2),  # another thread count: not paired
    ])
    rows = {r["target"].split(":")[0]: r for r in check(load_run(path))}
    assert set(rows) == {"threads 2, train epoch lenet5 batch 64", "threads 2, inference lenet5 batch 1",
                         "threads 2, inference lenet5 batch 1024"}
    epochs = [r for r in check(load_run(path)) if "train epoch" in r["target"]]
    assert [(r["ratio"], r["passed"]) for r in epochs] == [(0.75, True), (0.75 / 0.7, False)]  # torch, keras
    assert not rows["threads 2, inference lenet5 batch 1"]["passed"]  # half torch's throughput at batch 1
    infer = [r for r in check(load_run(path)) if "batch 1024" in r["target"]]
    # each rival in turn (their limits may differ: lenet.study.speed_targets.infer_limit)
    assert [(r["target"].split(": ")[1], r["ratio"], r["passed"]) for r in infer[:2]] == [
        ("handcrafted / torch throughput, default modes", pytest.approx(2.0), True),
        ("handcrafted / keras throughput, default modes", pytest.approx(1.2), True)]
    # 30% of the GEMM peak, against 40% at 2 threads
    assert "GEMM peak" in infer[2]["target"] and infer[2]["ratio"] == 30.0 and infer[2]["passed"] is False
    assert "FAIL" in format_rows(check(load_run(path)))


def test_speed_targets_judge_runs_together_and_refuse_short_epochs(tmp_path, capsys):
    from lenet.cli import main

    one = _history(tmp_path, [_bench("inference batch=64", "handcrafted", 64, 1e-3, threads=1),
                              _bench("inference batch=64", "torch", 64, 2e-3, threads=1)], "one.json")
    two = _history(tmp_path, [_bench("inference batch=64", "handcrafted", 64, 1e-3),
                              _bench("inference batch=64", "torch", 64, 1.5e-3),
                              _bench("train-epoch batch=64", "handcrafted", 64, 0.1, train_samples=1437),
                              _bench("train-epoch batch=64", "torch", 64, 0.2, train_samples=1437)], "two.json")
    rows = check(load_run(one), load_run(two))
    assert [(r["target"].split(":")[0], r["passed"]) for r in rows] == [
        ("threads 1, inference lenet5 batch 64", True), ("threads 2, inference lenet5 batch 64", True),
        ("threads 2, train epoch lenet5 batch 64", None)]
    assert not rows[-1]["unstable"] and "1437 images" in rows[-1]["reasons"][0]
    assert main(["check-speed", str(one), str(two)]) == 1  # a target not judged is not passed
    out = capsys.readouterr().out
    assert "not judged: the epoch ran on 1437 images" in out and "UNSTABLE" not in out


def _paired(phase, batch, speedups, threads=2, **extra):
    group = f"speed-ratio {'inference' if phase == 'infer' else 'train'} batch={batch}"
    speedup = {rival: {"median": m, "low": lo, "high": hi} for rival, (lo, m, hi) in speedups.items()}
    return _bench(group, "handcrafted", batch, 1.0, threads=threads, phase=phase, speedup=speedup, **extra)


def test_interleaved_rows_are_judged_by_their_interval_and_replace_the_sequential_ones(tmp_path):
    path = _history(tmp_path, [
        _bench("inference batch=64", "handcrafted", 64, 1e-3), _bench("inference batch=64", "torch", 64, 5e-4),
        _paired("infer", 64, {"torch": (1.2, 1.3, 1.4), "keras": (1.0, 1.15, 1.3), "onnxruntime": (0.9, 0.95, 1.0),
                               "jax": (1.5, 1.6, 1.7)},
                rival_modes={"handcrafted": "eager", "torch": "frozen", "keras": "graph", "onnxruntime": "all",
                             "jax": "jit-nhwc"}),
        _paired("infer", 1024, {"torch": (0.8, 0.9, 1.0)}, pct_of_peak=30.0, unstable=True,
                unstable_reasons=["reference probe drifted +90%"]),
        _paired("train", 64, {"torch": (1.4, 1.5, 1.6), "keras": (0.5, 0.6, 0.7)}),
    ])
    rows = check(load_run(path))

    def row(*words):
        (found,) = [r for r in rows if all(w in r["target"] for w in words)]
        return found

    assert len(rows) == 8 and all("interleaved" in r["target"] for r in rows)  # the sequential pair is replaced
    assert row("batch 64:", "torch (frozen) throughput")["passed"] is True  # all of [1.2, 1.4] >= 1.1
    # every framework is a rival, in the mode the row names; rows recorded before modes were named ran defaults
    assert row("batch 64:", "onnxruntime (all) throughput")["passed"] is False
    assert row("batch 64:", "jax (jit-nhwc) throughput")["passed"] is True
    assert "handcrafted / torch (default mode) throughput" in row("batch 1024:", "torch")["target"]
    straddle = row("batch 64:", "keras (graph) throughput")
    assert straddle["passed"] is None and "straddles" in straddle["reasons"][0]
    # [0.8, 1.0] < 1.1, whatever the flags say
    assert row("batch 1024:", "torch (default mode) throughput")["passed"] is False
    assert row("GEMM peak")["passed"] is None  # the machine's flags hold there: it is no ratio
    torch_time = row("train step", "torch")
    assert torch_time["ratio"] == pytest.approx(1 / 1.5) and torch_time["passed"] is True
    assert torch_time["interval"] == [pytest.approx(1 / 1.6), pytest.approx(1 / 1.4)]
    assert row("train step", "keras")["passed"] is False  # all of [1/0.7, 1/0.5] above 1.0
    text = format_rows(check(load_run(path)))
    assert "PASS  [1.20, 1.40]" in text and "1.15, not judged" in text


def test_the_share_of_the_gemm_timed_in_the_rounds_is_judged_by_its_interval(tmp_path):
    share = {"median": 41.0, "low": 38.0, "high": 43.0, "confidence": 0.95, "rounds": 15}
    path = _history(tmp_path, [
        _paired("infer", 1024, {"torch": (1.2, 1.3, 1.4)}, threads=1, pct_of_peak=20.0,
                pct_of_gemm={**share, "low": 51.0, "median": 53.0, "high": 55.0}),
        _paired("infer", 1024, {"torch": (1.2, 1.3, 1.4)}, pct_of_peak=60.0, pct_of_gemm=share),
        _paired("infer", 1024, {"torch": (1.2, 1.3, 1.4)}, arch="lenet5-relu", pct_of_peak=60.0,
                pct_of_gemm={**share, "low": 30.0, "median": 35.0, "high": 39.9}),
    ])
    rows = [r for r in check(load_run(path)) if "GEMM" in r["target"]]
    # 50% at 1 thread, 40% at 2; the session peaks (20%, 60%) are not read where the rounds timed the GEMM
    assert [(r["limit"], r["passed"]) for r in rows] == [(">= 50", True), (">= 40", None), (">= 40", False)]
    assert all("same rounds" in r["target"] for r in rows) and rows[0]["interval"] == [51.0, 55.0]
    assert "straddles" in rows[1]["reasons"][0]
    with pytest.raises(HistoryError, match=r"extra_info.pct_of_gemm is .*low <= median <= high"):
        load_run(_history(tmp_path, [_paired("infer", 1024, {}, pct_of_gemm={**share, "low": 45.0})], "bad.json"))


def test_batch_one_against_onnxruntime_has_its_own_limit(tmp_path):
    path = _history(tmp_path, [_paired("infer", 1, {"onnxruntime": (0.82, 0.85, 0.9), "torch": (1.0, 1.05, 1.08)}),
                               _paired("infer", 64, {"onnxruntime": (0.82, 0.85, 0.9)})])
    rows = {(r["target"].split(":")[0].split(", ")[-1], r["target"].split("/ ")[1].split()[0]): r
            for r in check(load_run(path))}
    assert rows[("inference lenet5 batch 1", "onnxruntime")]["limit"] == ">= 0.8"
    assert rows[("inference lenet5 batch 1", "onnxruntime")]["passed"] is True
    assert rows[("inference lenet5 batch 1", "torch")]["passed"] is False  # every other rival: 1.1
    assert rows[("inference lenet5 batch 64", "onnxruntime")]["passed"] is False


def test_two_threads_are_judged_against_one_by_both_medians_intervals(tmp_path):
    def timed(threads, batch, seconds):
        return _paired("infer", batch, {"torch": (1.2, 1.3, 1.4)}, threads=threads,
                       paired={"per_call_s": {"handcrafted": seconds, "torch": seconds}, "calls_per_block": {}})

    one = [1.00, 1.01, 1.02, 1.03, 1.04, 1.05, 1.06]
    path = _history(tmp_path, [
        timed(1, 64, [t * 1e-3 for t in one]), timed(2, 64, [t * 0.5e-3 for t in one]),  # twice as fast
        timed(1, 1, [t * 1e-4 for t in one]), timed(2, 1, [t * 1.2e-4 for t in one]),  # slower
        timed(1, 1024, [t * 1e-2 for t in one]), timed(2, 1024, [t * 1e-2 for t in one]),  # level: straddles
        timed(2, 256, [1e-3] * 7)])  # no 1-thread row: not judged
    rows = [r for r in check(load_run(path)) if r["target"].startswith("threads 2 against 1")]
    assert [(r["target"].split(", ")[1].split(":")[0], r["passed"]) for r in rows] == [
        ("inference lenet5 batch 1", False), ("inference lenet5 batch 64", True),
        ("inference lenet5 batch 1024", None)]
    assert rows[1]["ratio"] == pytest.approx(2.0) and rows[1]["interval"][0] < 2.0 < rows[1]["interval"][1]


def _ratio(low, median, high):
    return {"reference": "handcrafted", "median": median, "low": low, "high": high, "confidence": 0.95, "rounds": 6}


def test_sequential_rows_with_a_ratio_are_judged_side_by_side_first(tmp_path):
    path = _history(tmp_path, [
        _bench("inference batch=64", "handcrafted", 64, 1e-3, unstable=True, unstable_reasons=["load 5"]),
        # timed apart torch looks 2x faster; side by side handcrafted is 1/0.8 = 1.25x faster: the ratio wins
        _bench("inference batch=64", "torch", 64, 5e-4, ratio=_ratio(0.75, 0.8, 0.85)),
        _bench("inference batch=64", "keras", 64, 2e-3),  # no ratio (an older row): the medians' quotient
        _bench("train-epoch batch=64", "handcrafted", 64, 0.1, train_samples=1437),
        _bench("train-epoch batch=64", "torch", 64, 0.2, train_samples=1437, ratio=_ratio(0.6, 0.7, 0.78)),
        _bench("train-epoch batch=64", "keras", 64, 0.2, train_samples=1437, ratio=_ratio(0.9, 1.0, 1.1)),
    ])
    rows = check(load_run(path))
    assert [r["target"].split(":")[0] for r in rows] == [
        "threads 2, side by side, inference lenet5 batch 64", "threads 2, inference lenet5 batch 64",
        "threads 2, side by side, train step lenet5 batch 64", "threads 2, side by side, train step lenet5 batch 64"]
    torch_infer, keras_infer, torch_step, keras_step = rows
    assert torch_infer["ratio"] == pytest.approx(1.25) and torch_infer["passed"] is True  # flags do not hold it
    assert torch_infer["interval"] == [pytest.approx(1 / 0.85), pytest.approx(1 / 0.75)]
    assert "handcrafted / keras throughput" in keras_infer["target"] and keras_infer["passed"] is None  # its flag holds
    # steps on 1437 images are judged: the rounds time them, not the epoch's length
    assert torch_step["ratio"] == 0.7 and torch_step["passed"] is True and torch_step["interval"] == [0.6, 0.78]
    assert keras_step["passed"] is None and "straddles" in keras_step["reasons"][0]


def test_a_malformed_speedup_names_the_field(tmp_path):
    bad = _paired("infer", 64, {"torch": (1.4, 1.3, 1.2)})  # low above high
    with pytest.raises(HistoryError, match=r"extra_info.speedup is .*low <= median <= high"):
        load_run(_history(tmp_path, [bad]))


def test_history_errors_name_the_file(tmp_path):
    bad = tmp_path / "corrupt.json"
    bad.write_text("{not json")
    with pytest.raises(HistoryError, match="corrupt.json: not valid JSON"):
        load_run(bad)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"hello": 1}))
    with pytest.raises(HistoryError, match="foreign.json: not a pytest-benchmark history"):
        load_run(foreign)
    partial = _history(tmp_path, [{"name": "x", "stats": {}, "extra_info": {}}], "partial.json")
    with pytest.raises(HistoryError, match=r"partial.json: benchmarks\[0\] \(x\): stats has no 'median'"):
        load_run(partial)
    (tmp_path / "empty").mkdir()
    with pytest.raises(HistoryError, match="empty: folder holds no pytest-benchmark"):
        load_runs([tmp_path / "empty"])


def test_speed_targets_refuse_unstable_and_impossible_figures(tmp_path, capsys):
    from lenet.cli import main

    shaky = _bench("inference batch=1", "handcrafted", 1, 1e-4)
    shaky["extra_info"].update(unstable=True, unstable_reasons=["load average 6.00 above the 2 usable cores"])
    drifted = _bench("train-epoch batch=64", "torch", 64, 0.9)
    drifted["extra_info"].update(unstable=True, unstable_reasons=["reference probe drifted +90%"])
    path = _history(tmp_path, [shaky, _bench("inference batch=1", "torch", 1, 2e-4),
                               _bench("train-epoch batch=64", "handcrafted", 64, 1.0), drifted])
    rows = {r["target"].split(":")[0]: r for r in check(load_run(path))}
    infer, epoch = rows["threads 2, inference lenet5 batch 1"], rows["threads 2, train epoch lenet5 batch 64"]
    assert infer["passed"] is None and "load average" in infer["reasons"][0]
    assert epoch["passed"] is None and "probe drifted" in epoch["reasons"][0]  # the torch side is the flagged one
    text = format_rows(list(rows.values()))
    assert "PASS" not in text and text.count("UNSTABLE, not judged") == 2 and "--threads 1" in text
    assert main(["check-speed", str(path)]) == 1
    assert "UNSTABLE" in capsys.readouterr().out
    # a zero time is never judged: the history holding it is refused, naming the field
    zero = _history(tmp_path, [_bench("train-epoch batch=64", "torch", 64, 0.0)], "zero.json")
    with pytest.raises(HistoryError, match=r"zero.json: .*stats.median"):
        load_run(zero)


def test_over_seeds_the_gate_judges_the_lower_end_of_the_interval():
    from lenet.study.seeds import spread

    good = {"test_top1": spread([0.97, 0.975, 0.98], [0, 1, 2]), "test_top5": spread([1.0, 0.998, 1.0], [0, 1, 2])}
    check_accuracy("digits", "lenet5", 10, {"top1": 0.97, "top5": 1.0}, spread=good)
    # one lucky seed above the floor does not pass: the mean is, but the interval's lower end is not
    lucky = {"test_top1": spread([0.96, 0.90, 0.93], [0, 1, 2]), "test_top5": good["test_top5"]}
    with pytest.raises(AccuracyRegression, match=r"top1 0\.8555 < 0\.9500 \(lower end of the 95% interval over 3"):
        check_accuracy("digits", "lenet5", 10, {"top1": 0.96, "top5": 1.0}, spread=lucky)
