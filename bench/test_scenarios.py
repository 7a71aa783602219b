"""MLPerf-style inference scenarios per backend x arch x device: single-stream latency and offline throughput.

- **single-stream**: one sample per query, issued back to back, at least ``scenario_min_queries`` (1,024)
  queries and ``scenario_min_duration_s`` seconds (the profile's), as MLPerf's single-stream scenario does.
  Reported: p50, p90 and p99 latency per query and, as MLPerf's early stopping does, the 99% upper bound of
  p90 from the order statistics (``p90_upper99_ms``), which tells how far the quoted p90 can be trusted.
- **offline**: throughput with every sample available at once, at the backend's best batch size, found by a
  short sweep over the profile's ``offline_batches`` (each timed for ``offline_sweep_s``); the sweep's
  figures are kept in ``offline_sweep``.

Inputs are converted to the framework's tensor on the device before timing, as in the inference group.
"""
from __future__ import annotations

import numpy as np
import pytest

from lenet.measure.ceiling import roofline
from lenet.measure.stats import summarize
from lenet.measure.timing import first_call, median_seconds, plan_rounds


def _input(data, batch: int) -> np.ndarray:
    return np.resize(data.x_test, (batch, *data.input_shape))


@pytest.mark.benchmark(group="scenario single-stream")
def test_single_stream(benchmark, study, backend, backend_name, arch_name, device, trained):
    profile = study.profile
    forward = backend.make_forward(trained.model, _input(study.dataset, 1))
    for _ in range(10):
        forward()
    per_query = median_seconds(forward, repeats=20, warmup=0)
    queries = max(profile.scenario_min_queries, int(profile.scenario_min_duration_s / max(per_query, 1e-9)))
    queries = min(queries, 200_000)
    benchmark.pedantic(forward, rounds=queries, iterations=1, warmup_rounds=10)
    s = summarize(benchmark.stats.stats.data, what=benchmark.name)
    study.record(benchmark, backend_name, arch_name, device, scenario="single-stream",
                 batch_size=1, queries=s.n, duration_s=float(np.sum(benchmark.stats.stats.data)),
                 latency_p50_ms=s.p50 * 1e3, latency_p90_ms=s.p90 * 1e3, latency_p99_ms=s.p99 * 1e3,
                 p90_upper99_ms=s.p90_upper * 1e3 if s.p90_upper is not None else None)


@pytest.mark.benchmark(group="scenario offline")
def test_offline(benchmark, study, backend, backend_name, arch_name, device, trained):
    profile = study.profile
    sweep = []
    for batch in profile.offline_batches:
        forward = backend.make_forward(trained.model, _input(study.dataset, batch))
        per_call = first_call(forward)
        per_call = median_seconds(forward, repeats=max(3, min(50, int(profile.offline_sweep_s / per_call))),
                                  warmup=1)
        sweep.append({"batch_size": batch, "median_s": per_call, "throughput_img_s": batch / per_call})
    best = max(sweep, key=lambda r: r["throughput_img_s"])
    forward = backend.make_forward(trained.model, _input(study.dataset, best["batch_size"]))
    rounds, _ = plan_rounds(forward, profile.scenario_min_duration_s, repeatable=False)
    benchmark.pedantic(forward, rounds=rounds, iterations=1, warmup_rounds=2)
    median = benchmark.stats.stats.median
    study.record(benchmark, backend_name, arch_name, device, scenario="offline",
                 batch_size=best["batch_size"], throughput_img_s=best["batch_size"] / median,
                 offline_sweep=sweep, **roofline(study.arch(arch_name), best["batch_size"], median, "infer",
                                                 study.ceiling))
