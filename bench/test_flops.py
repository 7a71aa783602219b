"""FLOPs: the analytic count beside each framework's own counter, reconciled by convention.

``thop`` reports MACs; ``torch.utils.flop_counter`` reports 2 x MACs without
bias; TF's profiler reports 2 x MACs plus bias adds and pooling reads, per
batch; XLA's cost analysis (jax) reports ``flops_xla`` (lenet.counting), per
batch.  Each counter must equal the analytic figure under its stated
convention; a mismatch the convention does not explain fails the test.  A backend that declares no counter
(handcrafted, onnxruntime) records the analytic count alone.
"""
import pytest

from lenet.backends import capabilities
from lenet.counting import count

from .conftest import backend_device

FLOP_BATCH = 8  # the TF profiler needs a fixed batch; counts are divided back to per sample


@pytest.mark.benchmark(group="flops")
def test_flops(benchmark, study, backend, backend_name, arch_name, device):
    arch = study.arch(arch_name)
    analytic = count(arch).as_dict()
    model = backend.build(arch, seed=0, device=backend_device(backend, device))
    counters = backend.count_flops(model, FLOP_BATCH)
    declared = set(capabilities(backend_name).flop_counters)
    assert set(counters) <= declared, f"{backend_name} counted with {sorted(counters)}, declares {sorted(declared)}"
    # timed: one run of the framework's counters (they must also be deterministic)
    again = benchmark.pedantic(backend.count_flops, args=(model, FLOP_BATCH), rounds=1, iterations=1)
    assert again == counters, f"{backend_name}'s FLOP counters changed between two calls: {counters} vs {again}"
    checked = {}
    for name, c in counters.items():
        expected = analytic[c["convention"]] * (c["batch_size"] if c["per"] == "batch" else 1)
        checked[name] = {**c, "expected": expected, "analytic_per_sample": analytic[c["convention"]]}
    study.record(benchmark, backend_name, arch_name, device, flop_counters=checked)
    for name, c in checked.items():
        assert c["value"] == c["expected"], (
            f"{name} counted {c['value']:,} but the analytic {c['convention']} "
            f"({'x batch ' + str(c['batch_size']) if c['per'] == 'batch' else 'per sample'}) is {c['expected']:,}")
