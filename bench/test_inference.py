"""Latency and throughput of the forward pass per backend x batch size x device.

The input is converted to the framework's tensor (and moved to the device)
before timing; the timed call runs the forward pass and, on GPU, waits for it.
The first call (tracing, allocator warm-up) is reported apart as
``first_call_s``; timing starts after a warm-up.  Each row also places its
median under the machine's measured ceiling (:func:`lenet.measure.ceiling.roofline`).
With ``--instrument instructions`` the forward pass is also counted under
valgrind (``extra_info["instructions"]``, :mod:`lenet.study.instrument`).

Every backend's row but the reference's also records ``extra_info["ratio"]``:
how many times faster its forward pass ran than the reference backend's
(:func:`lenet.study.contenders.reference_backend`: handcrafted, else the
first selected backend; on the CPU), holding this row's weights, on the same
input, timed in interleaved rounds (:func:`lenet.study.contenders.pair_ratio`).
The rows themselves are timed minutes apart, so a slow spell of a shared
machine between two of them biases their quotient; the ratio is immune to it.
The reference's own row has no ratio.
"""
import numpy as np
import pytest

from lenet.measure.ceiling import roofline
from lenet.measure.timing import first_call, plan_rounds
from lenet.study.contenders import holding, pair_ratio, reference_backend


@pytest.mark.benchmark(group="inference")
def test_inference(benchmark, study, backend, backend_name, arch_name, device, trained, infer_batch,
                   instrument):
    benchmark.group = f"inference batch={infer_batch}"
    x = np.resize(study.dataset.x_test, (infer_batch, *study.dataset.input_shape))
    forward = backend.make_forward(trained.model, x)
    first = first_call(forward)
    for _ in range(3):
        forward()
    rounds, iterations = plan_rounds(forward, study.profile.time_budget_s)
    benchmark.pedantic(forward, rounds=rounds, iterations=iterations, warmup_rounds=2)
    median = benchmark.stats.stats.median
    reference = reference_backend(study, "infer")
    paired = {}
    if backend_name != reference:
        ref, model = holding(reference, trained.model.arch, backend.get_weights(trained.model))
        paired["ratio"] = pair_ratio(study, forward, ref.make_forward(model, x), reference)
    study.record(benchmark, backend_name, arch_name, device, batch_size=infer_batch, first_call_s=first,
                 latency_ms=median * 1e3, throughput_img_s=infer_batch / median, **paired,
                 **roofline(study.arch(arch_name), infer_batch, median, "infer", study.ceiling))
    instrument.count(benchmark, backend_name, backend, trained.model, "infer", x, median)
