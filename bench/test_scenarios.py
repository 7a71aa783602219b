"""MLPerf Inference's scenarios per backend x arch x device, driven by MLPerf's own LoadGen.

LoadGen (``mlcommons-loadgen``, through :mod:`lenet.measure.loadgen`) issues the queries, times them and gives
its VALID/INVALID verdict with its reasons (``extra_info["loadgen"]``); our statistics
(:func:`lenet.measure.stats.summarize`: percentiles, the median's interval, the p90 bound) apply to the
per-query latencies read back from its trace, and those latencies are the benchmark's samples.

- **single-stream** (``scenario single-stream``): one sample per query, the next issued when the last completes,
  for the profile's duration and query count.  Metric: p90 latency.  Same meaning as the hand-written group
  before it, which `lenet compare` matches: the samples are still one-sample query latencies, now as LoadGen
  measures them (from its issue to the completion), so they include LoadGen's dispatch, a few microseconds.
- **multi-stream** (``scenario multi-stream``): 8 samples per query, back to back.  Metric: p99 per-query latency.
- **server** (``scenario server``): one-sample queries arriving at random (Poisson) at a target rate, served one at
  a time in arrival order; the highest rate whose p99 stays under the profile's bound is searched over several
  LoadGen runs (:func:`lenet.measure.loadgen.find_peak_rate`, stepping on LoadGen's own judgment of p99 against
  the bound; its VALID verdict at the peak, which also asks early stopping to bound p99, is recorded beside it),
  every step kept for the latency-against-rate plot.
  The samples are the per-query latencies at the peak rate; they include queueing, so their spread is the
  scenario's, not the machine's noise.
- **offline** (``scenario offline``): every sample in one query, run in batches of the best size of a short sweep
  over ``offline_batches``.  Metric: LoadGen's samples per second.  The samples are the batch calls' times, as
  in the hand-written group (`lenet compare` matches it); the throughput is now LoadGen's (the whole query, last
  batch included) rather than batch / median.  Then LoadGen's accuracy mode runs every test image once through
  ``predict`` and its accuracy log's top-1 is checked against the accuracy group's.

Scenario rows are not paired (they carry no ``extra_info["ratio"]``): LoadGen runs a whole scenario per call
(its minimum duration, its query count, the server's search of several runs), and what it measures (a p90 over
a run, a rate sustained under a bound, a whole query's throughput) has no meaning for a block of a few calls, so
no other backend's blocks can be interleaved into a run; alternating whole runs would double the group's time
and still leave each figure seconds from its counterpart.  The ratio a scenario rests on, one backend's forward
pass against another's at batch 1 (single-stream, server) and at larger batches (offline), is what the inference
group pairs; the scenario rows are judged by the machine's state around them (their trust rule in
:mod:`lenet.schema`) and re-timed when flagged, and their absolute figures are quoted only unflagged.

As MLPerf's query-sample library loads samples into memory before timing, each performance run's input (test
images at the query's batch size) is converted to the framework's tensor beforehand, as in the inference group;
the network's work does not depend on the pixels, so which images a query names changes no timing.
"""
from __future__ import annotations

import numpy as np
import pytest

from lenet.measure.ceiling import roofline
from lenet.measure.stats import quantile_upper_bound, summarize
from lenet.measure.timing import batch_of, first_call, median_seconds, record_samples, untimed

pytest.importorskip("mlperf_loadgen", reason="MLPerf LoadGen not installed: pip install 'lenet-bench[loadgen]'")
from lenet.measure import loadgen as lg  # noqa: E402  (after the skip: it needs mlperf_loadgen)

PILOT_CALLS = 20
# every LoadGen run stops at this many times the time it needs (its minimum duration, or for a server step the
# time its query count takes to arrive at its rate, if longer, up to the profile's server_max_step_s): on a
# loaded machine a run that has not met its query count by then ends INVALID (min queries not met) rather than
# running on for minutes
MAX_DURATION_FACTOR = 4


def _pilot(backend, trained, data, batch: int):
    """A warmed-up forward pass over ``batch`` test images, and the sorted seconds of :data:`PILOT_CALLS` calls."""
    forward = backend.make_forward(trained.model, batch_of(data.x_test, batch))
    for _ in range(4):
        first_call(forward)
    return forward, sorted(first_call(forward) for _ in range(PILOT_CALLS))





def _latency_fields(latencies: np.ndarray) -> dict:
    s = summarize(latencies, what="query latencies")
    return {"queries": s.n, "latency_p50_ms": s.p50 * 1e3, "latency_p90_ms": s.p90 * 1e3,
            "latency_p99_ms": s.p99 * 1e3, "p90_upper99_ms": _ms(s.p90_upper)}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


def _record(benchmark, study, ids, run: lg.Run, timings, **extra) -> None:
    record_samples(benchmark, timings)
    study.record(benchmark, *ids, loadgen=run.as_dict(), loadgen_valid=run.valid, **extra)


@pytest.mark.benchmark(group="scenario single-stream")
def test_single_stream(benchmark, study, backend, backend_name, arch_name, device, trained):
    p = study.profile
    forward, times = _pilot(backend, trained, study.dataset, 1)
    # LoadGen generates its queries for min duration / expected latency: the fastest call, so that a run faster
    # than the pilot's median does not run out of queries before its minimum duration (INVALID)
    settings = lg.Settings("single-stream", p.scenario_min_duration_s, p.scenario_min_queries,
                           MAX_DURATION_FACTOR * p.scenario_min_duration_s, expected_latency_s=times[0],
                           seed=study.options.seed)
    run = lg.run(settings, lambda idx: forward(), len(study.dataset.x_test))
    _record(benchmark, study, (backend_name, arch_name, device), run, run.query_latencies_s,
            scenario="single-stream", batch_size=1, duration_s=run.duration_s,
            **_latency_fields(run.query_latencies_s))


@pytest.mark.benchmark(group="scenario multi-stream")
def test_multi_stream(benchmark, study, backend, backend_name, arch_name, device, trained):
    p, n = study.profile, lg.MULTI_STREAM_SAMPLES
    forward, times = _pilot(backend, trained, study.dataset, n)
    settings = lg.Settings("multi-stream", p.scenario_min_duration_s, p.multistream_min_queries,
                           MAX_DURATION_FACTOR * p.scenario_min_duration_s, samples_per_query=n,
                           expected_latency_s=times[0], seed=study.options.seed)
    run = lg.run(settings, lambda idx: forward(), len(study.dataset.x_test), max_batch=n)
    latencies = run.query_latencies_s
    _record(benchmark, study, (backend_name, arch_name, device), run, latencies,
            scenario="multi-stream", batch_size=n, samples_per_query=n, duration_s=run.duration_s,
            p99_upper99_ms=_ms(quantile_upper_bound(latencies, 0.99, 0.99)), **_latency_fields(latencies))


@pytest.mark.benchmark(group="scenario server")
def test_server(benchmark, study, backend, backend_name, arch_name, device, trained):
    p = study.profile
    forward, times = _pilot(backend, trained, study.dataset, 1)
    # the fastest call is what the system can do at best: whether the bound can be met at all (a loaded machine
    # slows the median, not the setting), and where the search starts (a start from a median that a spinning
    # thread pool made 100x slower leaves too few steps to come back up); the median is recorded beside it
    fastest, service = times[0], times[PILOT_CALLS // 2]
    bound = p.server_latency_bound_ms / 1e3

    def run_at(rate: float) -> lg.Run:
        needs = max(p.server_min_duration_s, p.server_min_queries / rate)
        cap = max(p.server_min_duration_s, min(MAX_DURATION_FACTOR * needs, p.server_max_step_s))
        settings = lg.Settings("server", p.server_min_duration_s, p.server_min_queries, cap, target_qps=rate,
                               latency_bound_s=bound, seed=study.options.seed)
        return lg.run(settings, lambda idx: forward(), len(study.dataset.x_test), service_s=fastest)

    # start at half the rate one server could sustain at best (utilisation 0.5), then bracket and bisect
    if fastest >= bound:
        # not a bad setting but this machine now: one query takes longer than the bound (a loaded machine's
        # stalled thread pool can make a 0.5 ms call take 100 ms), so no rate can meet it. Recorded as such, with
        # the pilot's calls as its samples, for the machine-state rules to judge and the end of the session to
        # re-time; a setting LoadGen cannot run at all is refused by lg.check_settings below.
        record_samples(benchmark, times)
        study.record(benchmark, backend_name, arch_name, device, scenario="server", batch_size=1,
                     latency_bound_ms=p.server_latency_bound_ms, service_ms=service * 1e3,
                     service_fastest_ms=fastest * 1e3, peak_qps=None,
                     no_rate_met_bound=f"one query's fastest service time, {fastest * 1e3:.3g} ms, exceeds the "
                                       f"{p.server_latency_bound_ms:g} ms bound on this machine now")
        return
    try:
        search = lg.find_peak_rate(run_at, 0.5 / fastest, p.server_search_steps)
    except lg.ScenarioSettingError as e:  # the profile's setting, named as the profile names it
        untimed(benchmark, "a scenario setting LoadGen cannot run")
        pytest.fail(f"profile {study.options.profile}: server_latency_bound_ms = {p.server_latency_bound_ms:g}: {e}",
                    pytrace=False)
    rate, peak = search.peak_run()
    steps = [{"target_qps": r, "met_bound": run.met_bound, "valid": run.valid, "verdict": run.verdict(),
              "completed_qps": run.samples_per_s, "loadgen_p99_ms": _ms(run.percentile_s(99)),
              **_latency_fields(run.query_latencies_s)}
             for r, run in search.runs]
    _record(benchmark, study, (backend_name, arch_name, device), peak, peak.query_latencies_s,
            scenario="server", batch_size=1, latency_bound_ms=p.server_latency_bound_ms,
            service_ms=service * 1e3, service_fastest_ms=fastest * 1e3, peak_qps=search.passing,
            peak_qps_below=search.failing, peak_run_qps=rate, loadgen_p99_ms=_ms(peak.percentile_s(99)), search=steps,
            **_latency_fields(peak.query_latencies_s))


@pytest.mark.benchmark(group="scenario offline")
def test_offline(benchmark, study, backend, backend_name, arch_name, device, trained):
    p, data = study.profile, study.dataset
    sweep, forwards = [], {}
    for batch in p.offline_batches:
        forwards[batch] = forward = backend.make_forward(trained.model, batch_of(data.x_test, batch))
        per_call = first_call(forward)
        per_call = median_seconds(forward, repeats=max(3, min(50, int(p.offline_sweep_s / per_call))), warmup=1)
        sweep.append({"batch_size": batch, "median_s": per_call, "throughput_img_s": batch / per_call})
    best = max(sweep, key=lambda r: r["throughput_img_s"])
    batch, forward = best["batch_size"], forwards[best["batch_size"]]
    # LoadGen sizes its one query from the expected rate; one set above the real rate keeps the run at least
    # min_duration long (a shorter one is INVALID)
    settings = lg.Settings("offline", p.scenario_min_duration_s, target_qps=1.5 * best["throughput_img_s"],
                           seed=study.options.seed)
    run = lg.run(settings, lambda idx: forward(), len(data.x_test), max_batch=batch)
    accuracy = _accuracy_mode(study, backend, trained, batch)
    median = float(np.median(run.call_seconds))
    _record(benchmark, study, (backend_name, arch_name, device), run, run.call_seconds,
            scenario="offline", batch_size=batch, throughput_img_s=run.samples_per_s, samples=run.samples,
            duration_s=run.duration_s, offline_sweep=sweep, accuracy_mode=accuracy,
            **roofline(study.arch(arch_name), batch, median, "infer", study.ceiling))
    reference = trained.metrics["test"]["top1"]
    # predict() here sees LoadGen's order and batching, the accuracy group one batch: a logit's last bits may
    # differ, and a near-tie flip one image, not more
    assert abs(accuracy["top1"] - reference) * accuracy["samples"] <= 1 + 1e-9, (
        f"LoadGen accuracy mode top-1 {accuracy['top1']:.4f} differs from the accuracy group's {reference:.4f}")


def _accuracy_mode(study, backend, trained, batch: int) -> dict:
    """LoadGen's accuracy mode (every test image once, offline) through ``predict``; top-1 from its log."""
    data = study.dataset
    run = lg.run(lg.Settings("offline", study.profile.scenario_min_duration_s, accuracy=True, seed=study.options.seed),
                 lambda idx: backend.predict(trained.model, data.x_test[idx]).argmax(axis=1), len(data.x_test),
                 max_batch=batch)
    predicted = np.array([run.predictions[i] for i in range(len(data.x_test))])
    return {"top1": float(np.mean(predicted == data.y_test)), "samples": len(predicted),
            "reference_top1": trained.metrics["test"]["top1"]}
