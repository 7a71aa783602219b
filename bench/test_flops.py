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
from lenet.measure.flops import mismatches, reconcile
from lenet.study.session import backend_device

FLOP_BATCH = 8  # the TF profiler needs a fixed batch; counts are divided back to per sample


@pytest.mark.benchmark(group="flops")
def test_flops(benchmark, study, backend, backend_name, arch_name, device):
    arch = study.arch(arch_name)
    model = backend.build(arch, seed=0, device=backend_device(backend, device))
    counters = backend.count_flops(model, FLOP_BATCH)
    declared = set(capabilities(backend_name).flop_counters)
    assert set(counters) <= declared, f"{backend_name} counted with {sorted(counters)}, declares {sorted(declared)}"
    # timed: one run of the framework's counters (they must also be deterministic)
    again = benchmark.pedantic(backend.count_flops, args=(model, FLOP_BATCH), rounds=1, iterations=1)
    assert again == counters, f"{backend_name}'s FLOP counters changed between two calls: {counters} vs {again}"
    checked = reconcile(arch, counters)
    study.record(benchmark, backend_name, arch_name, device, flop_counters=checked)
    assert not mismatches(checked), "; ".join(mismatches(checked))
