"""Static graph against eager: first call, steady state and break-even, per backend x phase x batch x mode.

Modes (each backend's declared ``train_modes`` / ``infer_modes``; a backend without an eager mode for a phase,
such as onnxruntime, is not generated for it):

- keras: ``eager`` (GradientTape / ``model(x)`` op by op), ``graph`` (one ``tf.function`` with a fixed input
  signature), ``xla`` (the same with ``jit_compile=True``), and Keras' own API: ``fit`` for training (its
  compiled train step through ``train_on_batch``; Keras' per-call overheads included) and ``predict`` for
  inference (``model.predict``);
- torch: ``eager`` and ``compile`` (``torch.compile``, inductor);
- jax: ``eager`` (op by op under ``jax.disable_jit()``) and ``jit`` (one XLA computation: the forward pass, or
  the whole training step, optimizer update included); a fresh ``jax.jit`` whose first call compiles in full;
- handcrafted: ``eager`` only, the no-graph baseline.

Each case runs on a fresh model with fresh traced or compiled functions:

- ``first_call_s``: the first step or call, tracing or compiling included.  Before it, one throwaway eager call
  per (backend, arch, device, phase, batch) on another model warms what every mode shares (the framework's
  runtime, kernel and primitive caches, allocator), so that ``first_call_s`` minus eager's is the price of
  tracing or compiling.  ``torch.compile``'s first call runs inside ``cold_compile()`` (dynamo reset,
  inductor and AOTAutograd caches off): otherwise an earlier case, or an earlier run's on-disk cache, would
  hide most of the compile; and before the first compile case of the session, ``warm_compiler()`` pays
  inductor's one-time process costs (about 10 s on 2 cores) on a one-op function, which would otherwise
  land on whichever case happens to run first.
- ``steady_s``: pytest-benchmark's median after warm-up.  Training: per step, one optimizer step on a fixed
  batch (the gather from the training tensor included, the loss read back); inference: per call, the forward
  pass on an input already converted to the framework's tensor on the device.
- ``ratio``: how many times faster the mode ran than eager (reference ``eager``) in interleaved rounds of the
  same work, on a model built from the same seed (the same weights) and the same input
  (:func:`lenet.study.contenders.pair_ratio`); eager's own row has none.  ``steady_s`` is taken apart from
  eager's, minutes from it, and a slow spell of the machine between the two moves their quotient; the ratio
  is immune to that.
- ``break_even_calls``: ``ceil((first - first_eager) / (steady_eager - steady))``, the calls after which the
  mode has repaid its dearer first call; None ("never") when it is not faster than eager at steady state, 0
  for eager itself (the baseline) and when the first call is not dearer than eager's.  Eager's figures come
  from the eager case of the same backend, arch, device, phase and batch, which is parametrized to run first;
  when it did not run (deselected), from a quick eager measurement made on the spot.

Groups are ``graph {backend} {phase} batch={b}`` with the mode as a parameter::

    pytest bench/test_graph.py --benchmark-group-by=group --benchmark-columns=median,min,rounds

Profiles: ``quick`` batch 64 and no torch.compile (its compile alone takes 20-60 s per case on 2 cores);
``full`` batches 1, 64 and 1024 with torch.compile.  The arch is the profile's first (lenet5) unless
``--archs`` names others.
"""
from __future__ import annotations

import pytest

from lenet.backends import get_backend
from lenet.measure.ceiling import roofline
from lenet.measure.timing import plan_rounds
from lenet.study.contenders import pair_ratio
from lenet.study.graph_modes import Case, GraphSession
from lenet.study.session import backend_device, device_unavailable
from lenet.testing import require_backend

WARMUP_CALLS = 3


@pytest.fixture(scope="session")
def graph_session() -> GraphSession:
    return GraphSession()


@pytest.mark.benchmark(group="graph")
def test_graph(benchmark, study, graph_session, graph_arch, device, graph_backend, phase, batch, mode):
    require_backend(graph_backend)
    backend = get_backend(graph_backend)
    reason = device_unavailable(backend, device) or backend.mode_unavailable(mode, backend_device(backend, device))
    if reason:
        pytest.skip(reason)
    benchmark.group = f"graph {graph_backend} {phase} batch={batch}"
    case = Case(study, backend, graph_arch, device, phase, batch)
    graph_session.warm(case, mode)

    fn, first = case.first_call(mode)
    for _ in range(WARMUP_CALLS):
        fn()
    rounds, iterations = plan_rounds(fn, study.profile.graph_budget_s, repeatable=phase == "infer")
    benchmark.pedantic(fn, rounds=rounds, iterations=iterations, warmup_rounds=1)
    steady = benchmark.stats.stats.median
    break_even = graph_session.break_even(case, mode, first, steady, rounds)
    paired = {} if mode == "eager" else {"ratio": pair_ratio(study, fn, graph_session.eager_call(case), "eager")}
    study.record(benchmark, graph_backend, graph_arch, device, mode=mode, phase=phase,
                 batch_size=batch, first_call_s=first, steady_s=steady, break_even_calls=break_even, **paired,
                 **roofline(case.arch, batch, steady, phase, study.ceiling))
