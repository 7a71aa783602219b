"""Study E: MLPs of one and two hidden layers against LeNet-5: accuracy, memory and latency by size.

Each model is trained with the profile's config (``--config`` and ``--epochs`` apply),
then measured: test top-1/top-5; parameter bytes (analytic); peak RSS of one
inference at batch 64 in a fresh process (memory-profiler), and the framework's
peak device allocation on GPU; forward latency at batch 1 (the timed figure,
warmed up) and at batch 64.  MLPs see the flattened 28x28 image, LeNet-5 the
image padded to 32x32.  The quick profile runs 5 MLPs on torch only (the
study used PyTorch), the full profile the same 5 on every backend, ``sweep`` all 30 on every
backend, and ``study-e`` the 5 with Study E's own protocol on torch.
"""
import pytest

from lenet.counting import count
from lenet.measure.memory import peak_rss_fresh_process
from lenet.measure.threads import requested
from lenet.measure.timing import median_seconds, plan_rounds
from lenet.study.session import backend_device
from lenet.study.sweep import LENET_INPUT_SIZE, MLP_INPUT_SIZE, sweep_archs


@pytest.mark.benchmark(group="mlp-sweep")
def test_mlp_sweep(benchmark, study, backend, backend_name, device, sweep_model, tmp_path):
    size = LENET_INPUT_SIZE if sweep_model == "lenet5" else MLP_INPUT_SIZE
    data = study.dataset_at(size)
    arch = dict(sweep_archs(study.profile.sweep, data.num_classes, data.input_shape[0]))[sweep_model]
    dev = backend_device(backend, device)
    # named by its sweep label, the LeNet-5 row is the study's own lenet5 model (the same spec and data): trained
    # once in the session, by the backend the profile names for it if it names one
    tm = study.trained_arch(backend_name, arch, data, dev, key_name=sweep_model)
    weights = tmp_path / "model.npz"
    backend.save(tm.model, weights)
    mem = peak_rss_fresh_process(backend_name, weights, "infer", 64, 64, dev, requested())

    x1, x64 = data.x_test[:1], data.x_test[:64]
    forward64 = backend.make_forward(tm.model, x64)
    latency_b64 = median_seconds(forward64, repeats=20)
    forward1 = backend.make_forward(tm.model, x1)
    for _ in range(5):
        forward1()
    rounds, iterations = plan_rounds(forward1, study.profile.time_budget_s / 2)
    benchmark.pedantic(forward1, rounds=rounds, iterations=iterations, warmup_rounds=2)
    c = count(arch)
    hidden = [layer.units for layer in arch.layers[:-1] if layer.kind == "dense"]
    study.record(benchmark, backend_name, sweep_model, device, model_arch=arch,
                 hidden=hidden if sweep_model != "lenet5" else None,
                 activation_bytes_per_sample=c.activation_bytes,
                 test_top1=tm.metrics["test"]["top1"], test_top5=tm.metrics["test"]["top5"],
                 val_top1=tm.metrics["val"]["top1"], train_seconds=tm.train_seconds, history=tm.history,
                 latency_b1_ms=benchmark.stats.stats.median * 1e3, latency_b64_ms=latency_b64 * 1e3,
                 peak_rss_mib=mem["peak_mib"], baseline_rss_mib=mem["baseline_mib"],
                 device_peak_bytes=mem["device_peak_bytes"])
    assert tm.metrics["test"]["top1"] > 2.0 / data.num_classes, f"{sweep_model} did not learn"
