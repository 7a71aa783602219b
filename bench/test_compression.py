"""Compression: pruning (masked vs physically removed), int8 and low-rank, each against its uncompressed base.

One benchmark per (backend, technique, level) on the backend's trained model
(see :mod:`lenet.compress.runner` for the techniques and levels; the quick
profile runs one level of each, the full profile all of them).  The timed
figure is the compressed model's forward pass at batch 1 (warmed up; int8
runtimes take float images and return float logits, quantization included).
``extra_info`` carries the report's fields, measured the same way for the
compressed model and for its base (``base_<field>``):

top1/top5 on the test set; nonzero_params; dense_bytes (parameters stored
densely in their dtype); file_bytes and gzip_bytes of the artifact (.npz of
canonical weights, the CSR file for ``prune-sparse``, torch's state dict for
torch int8, the .tflite flatbuffer); executed_macs per sample (masked and
sparse-stored-but-dense-executed models execute every MAC; structured and
low-rank the new spec's analytic MACs; int8 the same count in int8);
latency at batch 1 and 256 (median ms, warmed up); peak_rss_mib of one
inference at batch 256 in a fresh process (imports included), where the profile probes it
(``Profile.compression_memory``; None where it does not).

``extra_info["ratio"]``: how many times faster the compressed model's batch-1 forward ran than its base's
(reference ``base``: the same backend's uncompressed model on the same input), timed in interleaved rounds
(:func:`lenet.study.contenders.pair_ratio`); ``latency_b1_ms`` and ``base_latency_b1_ms`` are taken apart,
minutes from each other, and a slow spell of the machine between them moves their quotient.

Compression is measured on the CPU (int8 kernels are CPU kernels); on
``--device gpu`` the group is skipped.  Timings share the machine with
everything else running: they are noisy.
"""
import pytest

from lenet.backends import get_backend
from lenet.compress.runner import Runner
from lenet.counting import count
from lenet.measure.threads import requested
from lenet.measure.timing import batch_of, plan_rounds
from lenet.study.contenders import pair_ratio

_RUNNERS: dict = {}


def _runner(study, backend_name, arch_name, tmp_path_factory) -> Runner:
    key = (backend_name, arch_name, study.dataset.name)
    if key not in _RUNNERS:
        backend = get_backend(backend_name)
        tm = study.trained(backend_name, arch_name, "cpu")
        _RUNNERS[key] = Runner(backend_name, backend, tm.model, study.dataset, study.train_config(),
                               tmp_path_factory.mktemp(f"compression-{arch_name}"),
                               finetune_epochs=study.profile.finetune_epochs, threads=requested(),
                               finetune_samples=study.profile.finetune_samples,
                               probe_memory=study.profile.compression_memory)
    return _RUNNERS[key]


@pytest.mark.benchmark(group="compression")
def test_compression(benchmark, study, compression_case, arch_name, device, tmp_path_factory):
    backend_name, case = compression_case
    if device != "cpu":
        pytest.skip("compression is measured on the CPU (int8 kernels are CPU kernels)")
    runner = _runner(study, backend_name, arch_name, tmp_path_factory)
    comp = runner.compress(case)

    x = batch_of(study.dataset.x_test, 1)
    forward = comp.make_forward(x)
    for _ in range(3):
        forward()
    rounds, iterations = plan_rounds(forward, study.profile.time_budget_s / 2)
    benchmark.pedantic(forward, rounds=rounds, iterations=iterations, warmup_rounds=2)
    paired = pair_ratio(study, forward, runner.base_forward(x), "base")
    rec = runner.record(comp, latency_b1_ms=benchmark.stats.stats.median * 1e3)
    # the common fields describe the base model (arch_name's spec); the compressed spec is named beside them
    small = count(comp.arch)
    study.record(benchmark, backend_name, arch_name, device, compressed_arch=comp.arch.name,
                 compressed_params=small.params, compressed_macs=small.macs, **comp.extra, **rec, ratio=paired)

    base_macs = count(runner.base.arch).macs
    assert rec["base_executed_macs"] == base_macs
    if case.technique in ("prune-masked", "prune-sparse", "int8-static", "int8-dynamic"):
        assert rec["executed_macs"] == base_macs, "masking, sparse storage and int8 execute every MAC"
    else:
        assert rec["executed_macs"] < base_macs, f"{case.id} should remove MACs"
    if case.technique.startswith("prune-") and case.technique != "prune-structured":
        scope, pct = case.level.split("-")
        assert rec["nonzero_params"] <= rec["base_nonzero_params"] * (1 - int(pct) / 100) + 300  # biases stay
    if case.technique == "prune-sparse":
        assert rec["file_bytes"] < rec["base_file_bytes"]
    # a compressed model that stopped classifying is a bug, not a trade-off
    assert rec["top1"] > 2.0 / runner.base.arch.num_classes, f"{backend_name} {case.id}: top-1 {rec['top1']:.3f}"
