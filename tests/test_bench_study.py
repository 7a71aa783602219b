"""The bench suite end to end: quick profile on a tiny dataset, real pytest-benchmark storage.

Runs ``pytest bench/`` in a subprocess exactly as a user would (the session's
``quick_run`` fixture in tests/conftest.py, shared with tests/test_report.py), then checks
that the saved history is valid pytest-benchmark storage carrying our
extra_info, that ``pytest-benchmark compare`` reads it, that the summary table
is printed, and that zeroed weights in the model cache make the accuracy gate
fail.
"""
import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lenet.backends import available_backends, capabilities
from lenet.counting import count
from lenet.io import weights as wio
from lenet.io.history import load_run
from lenet.schema import FORMAT
from lenet.spec import build_arch
from lenet.study.sweep import sweep_archs

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

COMMON_FIELDS = {"backend", "arch", "device", "dataset", "epochs", "seed", "threads", "params", "param_bytes",
                 "macs_per_sample", "flops_per_sample", "flops_tf_per_sample", "flop_conventions"}


def test_quick_profile_saves_valid_storage(quick_run):
    tmp, proc = quick_run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    files = list((tmp / "storage").rglob("0001_*.json"))  # the quick run's (later tests run the bench again there)
    assert len(files) == 1
    run = load_run(files[0])
    groups = {b["group"].split(" ")[0] for b in run.benchmarks}
    assert {"accuracy", "inference", "train-epoch", "memory"} <= groups
    backends = {b["extra_info"]["backend"] for b in run.benchmarks}
    assert backends == set(available_backends())
    for b in run.benchmarks:
        assert COMMON_FIELDS <= set(b["extra_info"]), b["name"]
        assert b["extra_info"]["lenet_format"] == FORMAT  # readers migrate older formats by it
        info = b["extra_info"]
        if b["group"].startswith("mlp-sweep"):  # a sweep row describes its own model
            expected = count(dict(sweep_archs("quick", 10))[info["arch"]])
        else:  # every other row (compression included) carries its base architecture's figures
            expected = count(build_arch(info["arch"], 10, tuple(info["input_shape"])))
        assert b["extra_info"]["params"] == expected.params, b["name"]
        assert b["extra_info"]["macs_per_sample"] == expected.macs, b["name"]
    acc = [b for b in run.benchmarks if b["group"] == "accuracy"]
    assert all({"test_top1", "test_top5", "val_top1", "val_top5", "history"} <= set(b["extra_info"]) for b in acc)
    assert all(len(b["extra_info"]["history"]) == 4 for b in acc)
    assert {b["extra_info"]["config"] for b in run.benchmarks} == {"default"}
    lenet_info = run.machine["lenet"]
    assert "threads" in lenet_info and "handcrafted_versions" in lenet_info
    # machine_info holds only what describes the machine; the session's measurements are beside it
    assert not {"parts_wall_s", "ceiling", "probe_reference_s"} & set(lenet_info)
    assert not {"hz_actual", "hz_actual_friendly"} & set(run.machine.get("cpu") or {})
    session = run.session
    parts = session["parts_wall_s"]  # the wall time of each part of the session
    assert {"accuracy", "inference", "model training", "total (session)"} <= set(parts)
    assert sum(v for k, v in parts.items() if k != "total (session)") <= parts["total (session)"]
    assert "wall time per part" in proc.stdout
    assert "overall performance" in proc.stdout and ", batch 1 (median)" in proc.stdout
    assert "Sizes and work" in proc.stdout
    # the machine's ceiling, measured once in the session
    assert session["ceiling"]["gemm_gflops"] > 0 and session["ceiling"]["bandwidth_gbs"] > 0
    assert session["probe_reference_s"] > 0 and session["noise_bounds"]["probe_drift_max"] > 0


def _reference_of(b: dict) -> str | None:
    """What a quick-run row is paired against (lenet.schema's pairing), None where it is not."""
    e, group = b["extra_info"], b["group"]
    if group.startswith(("inference", "train-epoch")):
        return None if e["backend"] == "handcrafted" else "handcrafted"
    if group.startswith("graph"):
        return None if e["mode"] == "eager" else "eager"
    return "base" if group.startswith("compression") else None


def test_every_timing_carries_its_samples_statistics_and_flag(quick_run):
    tmp, proc = quick_run
    run = load_run(next((tmp / "storage").rglob("0001_*.json")))
    groups = {b["group"] for b in run.benchmarks}
    assert {"scenario single-stream", "scenario multi-stream", "scenario server", "scenario offline"} <= groups
    flagged = []
    for b in run.benchmarks:
        e, data = b["extra_info"], b["stats"]["data"]
        assert len(data) == b["stats"]["rounds"] and all(v > 0 for v in data), b["name"]
        t = e["timing"]
        assert t["n"] == len(data) and t["p50_s"] <= t["p90_s"] <= t["p99_s"], b["name"]
        assert t["p50_s"] == pytest.approx(float(np.percentile(data, 50)))
        if len(data) >= 6:
            lo, hi = t["median_ci95_s"]
            assert lo <= b["stats"]["median"] <= hi, b["name"]
        assert {"load1_before", "probe_drift", "others_cpu_cores"} <= set(e["noise"])
        assert isinstance(e["unstable"], bool) and e["unstable"] == bool(e["unstable_reasons"])
        if e["unstable"]:
            flagged.append(b["name"])
        # every comparing row carries its ratio to its reference, in the quick profile's 6 rounds
        assert (e.get("ratio") or {}).get("reference") == _reference_of(b), b["name"]
        assert "ratio" not in e or e["ratio"]["rounds"] == 6, b["name"]
        if b["group"].startswith(("inference", "train-epoch", "scenario offline")):
            assert e["achieved_gflops"] > 0 and e["pct_of_peak"] > 0, b["name"]
        if b["group"].startswith("train-epoch"):
            step, overhead = e["step_timing"]["p50_s"], e["step_timer_overhead_s"]
            assert step > 0 and overhead > 0
            assert e["step_timer_overhead_fraction"] == pytest.approx(overhead / step)
        if b["group"].startswith("scenario"):  # LoadGen's verdict, and our statistics over what it timed
            assert isinstance(e["loadgen_valid"], bool) and e["loadgen"]["verdict"].startswith(("VALID", "INVALID"))
        if b["group"] in ("scenario single-stream", "scenario multi-stream", "scenario server"):
            assert e["queries"] == len(data) and e["latency_p50_ms"] <= e["latency_p90_ms"] <= e["latency_p99_ms"]
        if b["group"] == "scenario server":
            assert e["search"] and all(s["target_qps"] > 0 for s in e["search"])
        if b["group"] == "scenario offline":
            assert e["throughput_img_s"] > 0 and 0 <= e["accuracy_mode"]["top1"] <= 1
    # the end-of-session warning names exactly the flagged rows (whichever this machine produced)
    for name in flagged:
        assert name in proc.stdout
    # the flagged benchmarks' warning (the session's own reference-probe warning may appear on a loaded machine)
    assert ("benchmark(s) were measured on a disturbed machine" in proc.stdout) == bool(flagged)


def test_pytest_benchmark_compare_reads_it(quick_run):
    tmp, _ = quick_run
    files = list((tmp / "storage").rglob("*.json"))
    proc = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(files[0])],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "test_inference" in proc.stdout


def test_zeroed_weights_fail_the_accuracy_gate(quick_run, bench):
    tmp, _ = quick_run
    entries = list((tmp / "models").glob("handcrafted-*.npz"))
    assert entries
    for path in entries:  # a valid cache entry whose weights were wiped
        arch, w, meta = wio.load(path)
        wio.save(path, arch, {k: np.zeros_like(v) for k, v in w.items()}, meta)
    proc = bench(tmp, "bench/test_accuracy.py", "--backends", "handcrafted")
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "AccuracyRegression" in proc.stdout and "top1" in proc.stdout


def test_corrupt_cache_entry_is_retrained_with_warning(quick_run, bench):
    tmp, _ = quick_run
    for path in (tmp / "models").glob("handcrafted-*.npz"):
        path.write_bytes(b"garbage")
    # as a user runs it: the project's filterwarnings = error must not turn the warning into a failure
    proc = bench(tmp, "bench/test_accuracy.py", "--backends", "handcrafted")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "ignoring unusable cache entry" in proc.stdout
    assert json.loads(json.dumps(wio.load(next((tmp / "models").glob("handcrafted-*.npz")))[2]))["history"]


def test_a_named_profile_generates_only_its_groups():
    proc = subprocess.run([sys.executable, "-m", "pytest", "bench/", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "--profile", "study-e"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    assert ids and all(i.startswith("bench/test_mlp_sweep.py::") and i.endswith("-torch-cpu]") for i in ids), ids[:5]
    assert "deselected" in proc.stdout


def test_only_the_speed_profile_runs_the_interleaved_ratios_and_full_runs_the_tuned_modes_too():
    def collected(profile):
        proc = subprocess.run([sys.executable, "-m", "pytest", "bench/", "--collect-only", "-q", "-p",
                               "no:cacheprovider", "--profile", profile], cwd=ROOT, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:]
        return {line.split("::")[0] for line in proc.stdout.splitlines() if "::" in line}

    quick, full = collected("quick"), collected("full")
    assert not {"bench/test_speed_ratios.py", "bench/test_tuned_modes.py"} & quick
    assert "bench/test_tuned_modes.py" in full and "bench/test_speed_ratios.py" not in full
    assert collected("speed") == {"bench/test_inference.py", "bench/test_training.py", "bench/test_speed_ratios.py",
                                  "bench/test_tuned_modes.py"}


def test_interleaved_ratios_end_to_end(tmp_path, capsys):
    """Two interleaved rows of the speed profile, saved as pytest-benchmark storage and judged by check-speed."""
    from lenet.cli import main

    rivals = [b for b in ("torch", "keras") if b in available_backends()]
    if not rivals:
        pytest.skip("needs torch or keras")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/test_speed_ratios.py", "-p", "no:cacheprovider", "--profile", "speed",
         "--backends", ",".join(["handcrafted", rivals[0]]), "--archs", "lenet5", "--epochs", "1", "--threads", "1",
         "-k", "inference_speedup[lenet5-64] or inference_speedup[lenet5-1024] or train_step_speedup[lenet5-64]",
         "--progress", "log",
         "--model-cache", str(tmp_path / "models"), f"--benchmark-storage=file://{tmp_path / 'storage'}",
         "--benchmark-autosave", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    (path,) = (tmp_path / "storage").rglob("*.json")
    rows = load_run(path).benchmarks
    assert sorted((b["extra_info"]["phase"], b["extra_info"]["batch_size"]) for b in rows) == [
        ("infer", 64), ("infer", 1024), ("train", 64)]
    for b in rows:
        e = b["extra_info"]
        assert e["contenders"] == ["handcrafted", rivals[0]] and b["stats"]["rounds"] == 15
        phase = e["phase"]  # each contender in its tuned mode, named
        assert e["rival_modes"] == {"handcrafted": "eager", rivals[0]: capabilities(rivals[0]).tuned_mode(phase)}
        s = e["speedup"][rivals[0]]
        assert 0 < s["low"] <= s["median"] <= s["high"] and s["rounds"] == 15
        assert all(len(v) == 15 for v in e["paired"]["per_call_s"].values())
        # the GEMM runs in the rounds of the ceiling batch only, as a contender that is not a backend
        assert ("gemm" in e["paired"]["per_call_s"]) == ("pct_of_gemm" in e) == (e["batch_size"] == 1024)
    (big,) = [b["extra_info"] for b in rows if b["extra_info"]["batch_size"] == 1024]
    share = big["pct_of_gemm"]
    assert 0 < share["low"] <= share["median"] <= share["high"] and set(big["throughput"]) == {"handcrafted", rivals[0]}
    main(["check-speed", str(path)])
    out = capsys.readouterr().out
    mode = capabilities(rivals[0]).tuned_mode("infer")
    assert f"threads 1, interleaved, inference lenet5 batch 64: handcrafted / {rivals[0]} ({mode})" in out
    assert "threads 1, interleaved, train step lenet5 batch 64" in out
    assert "interleaved, inference lenet5 batch 1024: handcrafted % of the GEMM peak timed in the same rounds" in out


def test_tuned_modes_against_their_defaults_end_to_end(tmp_path):
    """The tuned-vs-default rows: only backends whose tuned mode differs are generated; each row times both
    modes in the same rounds and records the tuned one's speed over the default's with its interval."""
    tuned = [b for b in available_backends() if capabilities(b).tuned_mode("infer") != capabilities(b).default_mode(
        "infer")]
    if not tuned:
        pytest.skip("needs torch or jax, whose tuned inference modes differ from their defaults")
    collect = subprocess.run([sys.executable, "-m", "pytest", "bench/test_tuned_modes.py", "--collect-only", "-q",
                              "-p", "no:cacheprovider", "--profile", "speed"], cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    backends = {line.split("[")[1].split("-")[0] for line in collect.stdout.splitlines() if "::" in line}
    assert backends == {b for b in available_backends() if b in ("torch", "jax")}  # keras, ORT: tuned = default
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/test_tuned_modes.py", "-p", "no:cacheprovider", "--profile", "speed",
         "--backends", ",".join(["handcrafted", tuned[0]]), "--archs", "lenet5", "--epochs", "1", "--threads", "1",
         "-k", f"tuned_inference[{tuned[0]}-lenet5-cpu-64]", "--progress", "log",
         "--model-cache", str(tmp_path / "models"), f"--benchmark-storage=file://{tmp_path / 'storage'}",
         "--benchmark-autosave", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    (path,) = (tmp_path / "storage").rglob("*.json")
    (row,) = load_run(path).benchmarks
    e, caps = row["extra_info"], capabilities(tuned[0])
    assert row["group"] == "tuned-vs-default inference batch=64" and e["backend"] == tuned[0]
    assert (e["default_mode"], e["tuned_mode"]) == (caps.default_mode("infer"), caps.tuned_mode("infer"))
    s = e["speedup"][e["tuned_mode"]]
    assert 0 < s["low"] <= s["median"] <= s["high"] and s["rounds"] == 15
    assert set(e["paired"]["per_call_s"]) == set(e["throughput"]) == {e["default_mode"], e["tuned_mode"]}


def test_sigterm_ends_the_run_and_keeps_what_finished(tmp_path):
    """An interrupted run loses only the test in progress: the finished benchmarks are saved."""
    cmd = [sys.executable, "-m", "pytest", "bench/test_inference.py", "-p", "no:cacheprovider", "--dataset",
           "digits", "--limit", "300", "--epochs", "1", "--backends", "handcrafted", "--progress", "log",
           "--model-cache", str(tmp_path / "models"), f"--benchmark-storage=file://{tmp_path / 'storage'}",
           "--benchmark-autosave", "-q"]
    seen = []
    with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:  # the log lines say which test starts: stop the run during the third
            seen.append(line)
            if "lenet-bench 2/3" in line:
                proc.send_signal(signal.SIGTERM)
                break
        out = "".join(seen) + proc.stdout.read()
        assert proc.wait(timeout=300) == 2, out[-3000:]  # pytest's "interrupted"
    files = list((tmp_path / "storage").rglob("*.json"))
    assert len(files) == 1, out[-3000:]
    names = [b["name"] for b in load_run(files[0]).benchmarks]
    assert names == ["test_inference[handcrafted-lenet5-cpu-1]", "test_inference[handcrafted-lenet5-cpu-64]"]
    assert list((tmp_path / "models").glob("*.npz")) and not list(tmp_path.rglob("*.part"))
