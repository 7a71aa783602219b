"""Memory: analytic parameter bytes, serialized and gzip size, and peak RSS in a fresh process.

Peak RSS is measured by memory-profiler in a new interpreter per backend and
phase (torch and TF in one process pollute each other's RSS).  ``baseline_mib``
is the process after imports, model build and input creation; ``delta_mib``
what the phase added on top.  On GPU the framework's peak allocation is
recorded as ``device_peak_bytes``.  An inference-only backend has no training
phase: its ``train_*`` fields are null.  The timed figure of this group is the
fresh process's whole run (interpreter start, framework import, one inference
at batch 1024): a cold start.

Each probe runs ``Profile.memory_repeats`` times, each in its own process; the figures are the median run's
and the repeats are kept (``*_peak_rss_repeats_mib``): the row is judged by their spread
(:func:`lenet.measure.noise.judge_memory`), not by the machine's load.
"""
import pytest

from lenet.backends import capabilities
from lenet.measure.memory import median_run, peak_rss_fresh_process
from lenet.measure.sizes import serialized_sizes
from lenet.measure.threads import requested
from lenet.study.session import backend_device


@pytest.mark.benchmark(group="memory")
def test_memory(benchmark, study, backend, backend_name, arch_name, device, trained, tmp_weights):
    dev = backend_device(backend, device)
    repeats = study.profile.memory_repeats
    runs = {"infer": [], "train": []}

    def probe(phase, batch, samples):
        runs[phase].append(peak_rss_fresh_process(backend_name, tmp_weights, phase, batch, samples, dev, requested()))

    benchmark.pedantic(probe, args=("infer", 1024, 1024), rounds=repeats, iterations=1)
    if capabilities(backend_name).trains:
        for _ in range(repeats):
            probe("train", study.train_config().batch_size, study.profile.memory_samples)
    infer, train = (median_run(runs[phase]) for phase in ("infer", "train"))
    sizes = serialized_sizes(tmp_weights)
    study.record(benchmark, backend_name, arch_name, device, **sizes,
                 infer_peak_rss_mib=infer["peak_mib"], infer_baseline_rss_mib=infer["baseline_mib"],
                 infer_delta_rss_mib=infer["delta_mib"], infer_batch_size=1024,
                 train_peak_rss_mib=train["peak_mib"], train_baseline_rss_mib=train["baseline_mib"],
                 train_delta_rss_mib=train["delta_mib"], train_epoch_samples=train["samples"],
                 infer_device_peak_bytes=infer["device_peak_bytes"],
                 train_device_peak_bytes=train["device_peak_bytes"],
                 infer_peak_rss_repeats_mib=[r["peak_mib"] for r in runs["infer"]],
                 train_peak_rss_repeats_mib=[r["peak_mib"] for r in runs["train"]] or None)
    assert infer["peak_mib"] >= infer["baseline_mib"] > 0
