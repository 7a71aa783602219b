"""Static graph against eager: first call, steady state and break-even, per backend x phase x batch x mode.

Modes (each backend's declared ``train_modes`` / ``infer_modes``; a backend without an eager mode for a phase,
such as onnxruntime, is not generated for it):

- keras: ``eager`` (GradientTape / ``model(x)`` op by op), ``graph`` (one ``tf.function`` with a fixed input
  signature), ``xla`` (the same with ``jit_compile=True``), and Keras' own API: ``fit`` for training (its
  compiled train step through ``train_on_batch``; Keras' per-call overheads included) and ``predict`` for
  inference (``model.predict``);
- torch: ``eager`` and ``compile`` (``torch.compile``, inductor);
- jax: ``eager`` (op by op under ``jax.disable_jit()``) and ``jit`` (one XLA computation: the forward pass, or
  the whole training step, optimizer update included); its first call runs after ``jax.clear_caches()``;
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

import math
from dataclasses import replace

import numpy as np
import pytest

from lenet.backends import BACKENDS, capabilities, get_backend
from lenet.measure.ceiling import roofline
from lenet.measure.timing import first_call, median_seconds, plan_rounds
from lenet.study.profiles import PROFILES
from lenet.testing import require_backend

from .conftest import _csv, backend_device

PHASES = ("train", "infer")
WARMUP_CALLS = 3


def _modes(backend_name: str, phase: str) -> tuple:
    """The backend's declared modes for ``phase``, eager first; none when it declares no eager baseline
    for the phase (an inference-only backend's training; ORT's optimization levels)."""
    modes = capabilities(backend_name).modes(phase)
    if "eager" not in modes:
        return ()
    return ("eager",) + tuple(m for m in modes if m != "eager")


def pytest_generate_tests(metafunc):
    if "mode" not in metafunc.fixturenames:
        return
    opt = metafunc.config.getoption
    profile = PROFILES[opt("--profile")]
    metafunc.parametrize("graph_arch", _csv(opt("--archs"), profile.archs[:1]), scope="session")
    cases = [(b, phase, batch, mode)
             for b in _csv(opt("--backends"), BACKENDS) for phase in PHASES for batch in profile.graph_batches
             for mode in _modes(b, phase)]
    metafunc.parametrize(("graph_backend", "phase", "batch", "mode"), cases,
                         ids=[f"{b}-{phase}-b{batch}-{mode}" for b, phase, batch, mode in cases])


def break_even_calls(first: float, steady: float, first_eager: float, steady_eager: float) -> int | None:
    """Calls after which a mode's dearer first call is repaid by its faster steady state; None if never.

    ``ceil((first - first_eager) / (steady_eager - steady))``; 0 when the first call is not dearer.
    """
    if not steady < steady_eager:
        return None
    return max(0, math.ceil((first - first_eager) / (steady_eager - steady)))


class Case:
    """Makes fresh timed callables for one (backend, arch, device, phase, batch), in any mode."""

    def __init__(self, study, backend, backend_name, arch_name, device, phase, batch):
        self.study, self.backend, self.phase, self.batch = study, backend, phase, batch
        self.dev = backend_device(backend, device)
        self.arch = study.arch(arch_name)
        self.config = replace(study.train_config(), batch_size=batch)
        data = study.dataset
        if phase == "infer":
            self.x = np.resize(data.x_test, (batch, *data.input_shape))
        else:  # a training set of one batch, gathered in a shuffled order at every step
            self.x = np.resize(data.x_train, (batch, *data.input_shape))
            self.y = np.resize(data.y_train, batch)
            self.idx = np.random.default_rng(self.config.seed).permutation(batch)

    def make(self, mode: str):
        """A zero-argument callable: one training step or one forward pass, on a freshly built model."""
        backend = self.backend
        model = backend.build(self.arch, seed=self.config.seed, device=self.dev)
        if self.phase == "infer":
            return backend.make_forward(model, self.x, mode=mode)
        trainer = backend.trainer(model, self.x, self.y, self.config, mode=mode)
        return trainer.make_step(self.idx, self.config.lr)

    def first_call(self, mode: str) -> tuple:
        """(fresh callable, seconds of its first call), from cold where the mode caches compiles (torch.compile)."""
        fn = self.make(mode)
        with self.backend.cold_start(mode):
            seconds = first_call(fn)
        return fn, seconds


@pytest.fixture(scope="session")
def graph_state() -> dict:
    """Session store: which cases have been warmed, and eager's (first_call_s, steady_s) per case."""
    return {"warmed": set(), "eager": {}}


@pytest.mark.benchmark(group="graph")
def test_graph(benchmark, study, graph_state, graph_arch, device, graph_backend, phase, batch, mode):
    require_backend(graph_backend)
    backend = get_backend(graph_backend)
    if device != "cpu" and not any(d in backend.devices() for d in (device, "cuda", "gpu")):
        pytest.skip(f"{graph_backend}: no {device} device visible (devices: {backend.devices()})")
    if mode == "compile":
        if not study.profile.graph_compile:
            pytest.skip(f"torch.compile runs in the full profile only (20-60 s of compiling per case on 2 cores, "
                        f"profile {study.opt('--profile')!r}): use --profile full")
    reason = backend.mode_unavailable(mode, backend_device(backend, device))
    if reason:
        pytest.skip(reason)
    benchmark.group = f"graph {graph_backend} {phase} batch={batch}"
    case = Case(study, backend, graph_backend, graph_arch, device, phase, batch)
    key = (graph_backend, graph_arch, device, phase, batch)
    if key not in graph_state["warmed"]:
        case.make("eager")()  # throwaway: warms what every mode shares (see the module docstring)
        graph_state["warmed"].add(key)
    if mode != "eager" and (graph_backend, mode) not in graph_state["warmed"]:
        backend.warm_up(mode)
        graph_state["warmed"].add((graph_backend, mode))

    fn, first = case.first_call(mode)
    for _ in range(WARMUP_CALLS):
        fn()
    rounds, iterations = plan_rounds(fn, study.profile.graph_budget_s, repeatable=phase == "infer")
    benchmark.pedantic(fn, rounds=rounds, iterations=iterations, warmup_rounds=1)
    steady = benchmark.stats.stats.median

    if mode == "eager":
        graph_state["eager"][key] = (first, steady)
        break_even = 0
    else:
        if key not in graph_state["eager"]:  # the eager case did not run: measure eager here, quickly
            eager_fn, eager_first = case.first_call("eager")
            graph_state["eager"][key] = (eager_first, median_seconds(eager_fn, repeats=max(5, min(rounds, 50))))
        first_eager, steady_eager = graph_state["eager"][key]
        break_even = break_even_calls(first, steady, first_eager, steady_eager)
    study.record(benchmark, graph_backend, graph_arch, device, in_summary=False, mode=mode, phase=phase,
                 batch_size=batch, first_call_s=first, steady_s=steady, break_even_calls=break_even,
                 **roofline(case.arch, batch, steady, phase, study.ceiling))
