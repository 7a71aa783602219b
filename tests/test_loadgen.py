"""The LoadGen glue (lenet/measure/loadgen.py): settings checks, runs read back from LoadGen's logs, the peak search.

The runs use MLPerf's real LoadGen over a system that does no model work (it returns ``index % 10``), for
tens of milliseconds each; what is checked is what the glue reads, never how fast anything was.
"""
from __future__ import annotations

from importlib.metadata import version

import numpy as np
import pytest

from lenet.measure import loadgen as lg
from lenet.measure.timing import record_samples, untimed

SAMPLES = 50


@pytest.fixture
def loadgen_installed():
    pytest.importorskip("mlperf_loadgen", reason="MLPerf LoadGen not installed: pip install 'lenet-bench[loadgen]'")


@pytest.fixture
def tmp_logs(tmp_path, monkeypatch):
    """LoadGen's temporary log folders go under ``tmp_path``, so a test can see that none is left."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


class Recorder:
    """A system under test that does no work: it keeps each call's indices and returns ``index % 10``."""

    def __init__(self):
        self.calls: list[np.ndarray] = []

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        self.calls.append(indices.copy())
        return (indices % 10).astype(np.int32)


def nearest_rank(latencies: np.ndarray, percentile: float) -> float:
    """LoadGen's percentile: the sorted sample at index floor(n * p)."""
    a = np.sort(latencies)
    return float(a[min(int(len(a) * percentile / 100), len(a) - 1)])


# --- settings LoadGen would refuse ---------------------------------------------------------------------------

@pytest.mark.parametrize(("settings", "service_s", "named"), [
    (lg.Settings("server", 0.1, target_qps=0.0, latency_bound_s=0.01), None, "target_qps must be > 0"),
    (lg.Settings("server", 0.1, target_qps=-5.0, latency_bound_s=0.01), None, "target_qps must be > 0"),
    (lg.Settings("server", 0.1, target_qps=100.0, latency_bound_s=0.0), None, "latency_bound_s must be > 0"),
    (lg.Settings("server", 0.1, target_qps=100.0, latency_bound_s=0.001), 0.002,
     "latency_bound_s 1 ms is below one query's service time"),
    (lg.Settings("single-stream", 0.0), None, "min_duration_s must be > 0"),
    (lg.Settings("single-stream", 0.1, min_queries=0), None, "min_queries must be >= 1"),
    (lg.Settings("single-stream", 1.0, max_duration_s=0.5), None, "max_duration_s 0.5 is below min_duration_s"),
    (lg.Settings("multi-stream", 0.1, samples_per_query=0), None, "samples_per_query must be >= 1"),
    (lg.Settings("batch-stream", 0.1), None, "scenario: unknown 'batch-stream'"),
])
def test_bad_settings_name_the_setting(settings, service_s, named):
    with pytest.raises(lg.ScenarioSettingError, match=named):
        lg.check_settings(settings, service_s)


def test_bad_settings_are_refused_before_loadgen_starts():
    """A zero rate makes LoadGen wait forever for its first arrival; run() refuses it without calling infer."""
    infer = Recorder()
    with pytest.raises(lg.ScenarioSettingError, match="server: target_qps"):
        lg.run(lg.Settings("server", 0.1, target_qps=0.0, latency_bound_s=0.01), infer, SAMPLES)
    assert infer.calls == []


def test_a_bound_above_the_service_time_passes():
    lg.check_settings(lg.Settings("server", 0.1, target_qps=100.0, latency_bound_s=0.003), service_s=0.002)


# --- runs, read back from LoadGen's logs -----------------------------------------------------------------------

def test_single_stream_latencies_are_loadgens(loadgen_installed, tmp_logs):
    infer = Recorder()
    run = lg.run(lg.Settings("single-stream", 0.05, min_queries=64, expected_latency_s=1e-4), infer, SAMPLES)
    lat = run.query_latencies_s
    assert run.queries == len(lat) == len(infer.calls) == run.samples >= 64
    assert all(len(c) == 1 for c in infer.calls)
    for p in (50, 90, 99):  # our reading of the trace gives LoadGen's own percentiles, to the nanosecond
        assert round(nearest_rank(lat, p) * 1e9) == run.results[f"result_{p}.00_percentile_latency_ns"]
    assert list(tmp_logs.iterdir()) == []  # the log folder is gone
    assert run.version.split(" ")[0] == version("mlcommons-loadgen")  # "6.0.17 @ <commit>"


def test_multi_stream_query_latency_is_its_slowest_sample(loadgen_installed, tmp_logs):
    infer = Recorder()
    settings = lg.Settings("multi-stream", 0.05, min_queries=20, samples_per_query=lg.MULTI_STREAM_SAMPLES,
                           expected_latency_s=1e-4)
    run = lg.run(settings, infer, SAMPLES, max_batch=lg.MULTI_STREAM_SAMPLES)
    assert all(len(c) == lg.MULTI_STREAM_SAMPLES for c in infer.calls)
    assert run.queries == len(run.query_latencies_s) == len(infer.calls)
    assert run.samples == run.queries * lg.MULTI_STREAM_SAMPLES
    lat = run.query_latencies_s
    assert round(nearest_rank(lat, 99) * 1e9) == run.results["result_99.00_percentile_per_query_latency_ns"]


def test_offline_query_is_split_into_batches(loadgen_installed, tmp_logs):
    infer = Recorder()
    run = lg.run(lg.Settings("offline", 0.05, target_qps=2000.0), infer, SAMPLES, max_batch=16)
    sizes = [len(c) for c in infer.calls]
    assert max(sizes) == 16 and sum(sizes) == run.samples and len(run.call_seconds) == len(sizes)
    assert run.queries == 1 and run.samples_per_s > 0
    assert len(run.query_latencies_s) == 0  # offline keeps no trace: its one query has no latency distribution
    if run.valid:
        assert run.verdict() == "VALID"
    else:
        assert run.verdict().startswith("INVALID (") and run.reasons


def test_server_reads_each_query(loadgen_installed, tmp_logs):
    infer = Recorder()
    settings = lg.Settings("server", 0.05, min_queries=20, target_qps=400.0, latency_bound_s=0.05)
    run = lg.run(settings, infer, SAMPLES, service_s=1e-4)
    assert run.queries == len(run.query_latencies_s) == len(infer.calls) >= 20
    assert isinstance(run.valid, bool) and (run.valid or run.reasons)
    assert run.percentile_s(99) == pytest.approx(nearest_rank(run.query_latencies_s, 99), abs=1e-9)
    assert run.met_bound == (run.percentile_s(99) <= 0.05)  # LoadGen judges its own p99 against the bound
    assert run.as_dict()["loadgen"]["result_scheduled_samples_per_sec"] > 0


def test_accuracy_mode_returns_every_sample_once(loadgen_installed, tmp_logs):
    run = lg.run(lg.Settings("offline", 0.05, accuracy=True), Recorder(), SAMPLES, max_batch=16)
    assert run.predictions == {i: i % 10 for i in range(SAMPLES)}
    assert run.valid is None and run.verdict() == "accuracy mode"
    assert list(tmp_logs.iterdir()) == []


def test_an_error_in_the_system_is_raised_after_loadgen_finishes(loadgen_installed, tmp_logs):
    def broken(indices):
        raise ZeroDivisionError("model exploded")

    with pytest.raises(ZeroDivisionError, match="model exploded"):
        lg.run(lg.Settings("single-stream", 0.05, min_queries=8), broken, SAMPLES)
    assert list(tmp_logs.iterdir()) == []


def test_validity_reasons_come_from_loadgen():
    valid, reasons = lg.validity({"result_validity": "INVALID", "result_min_duration_met": True,
                                  "result_min_queries_met": False, "early_stopping_met": False,
                                  "result_invalid_reason": "", "early_stopping_result": " * Only processed 9\n"
                                                                                        "queries."})
    assert not valid and reasons == ("min queries not met", "early stopping not met", "* Only processed 9 queries.")
    assert lg.validity({"result_validity": "VALID", "early_stopping_result": "fine"}) == (True, ())


# --- the server's peak-rate search ------------------------------------------------------------------------------

def fake_run(met_bound: bool) -> lg.Run:
    """A server run that met the latency bound or not; never VALID (the search steps on the bound alone)."""
    return lg.Run(lg.Settings("server", 1.0, target_qps=1.0, latency_bound_s=1.0), False, ("early stopping",),
                  {"result_perf_constraints_met": met_bound}, np.empty(0), np.empty(0), 0, 0.0)


@pytest.mark.parametrize("start", [100.0, 1000.0, 7000.0])
def test_peak_search_brackets_the_threshold(start):
    threshold = 1234.0  # a server that meets the bound below this rate
    search = lg.find_peak_rate(lambda rate: fake_run(rate < threshold), start, steps=8)
    assert len(search.runs) == 8
    assert search.passing < threshold <= search.failing
    assert search.failing / search.passing < 1.2  # bisection narrowed the doubling's bracket
    rate, run = search.peak_run()
    assert rate == search.passing and run.met_bound


def test_peak_search_with_nothing_passing_keeps_the_lowest_rate():
    search = lg.find_peak_rate(lambda rate: fake_run(False), 100.0, steps=3)
    assert search.passing is None and search.failing == 25.0
    assert search.peak_run()[0] == 25.0


def test_peak_search_refuses_a_zero_start():
    with pytest.raises(lg.ScenarioSettingError, match="start rate must be > 0"):
        lg.find_peak_rate(lambda rate: fake_run(True), 0.0, steps=3)


# --- LoadGen's latencies as a benchmark's samples --------------------------------------------------------------

def test_record_samples_become_the_benchmark_rounds(benchmark):
    record_samples(benchmark, np.array([3e-3, 1e-3, 2e-3]))
    assert benchmark.stats.stats.data == [3e-3, 1e-3, 2e-3]
    assert benchmark.stats.stats.median == 2e-3
    with pytest.raises(RuntimeError, match="already been used"):
        record_samples(benchmark, [1.0])


def test_an_untimed_fixture_adds_no_error_of_its_own(benchmark):
    """Without ``untimed`` pytest-benchmark warns at teardown that the fixture was not used, which the ini's
    ``filterwarnings = error`` turns into a second error beside the test's own failure."""
    untimed(benchmark, "a setting LoadGen cannot run")
    assert benchmark.stats is None
