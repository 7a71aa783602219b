"""Static graph against eager (bench/test_graph.py): the cases, their fresh timed callables, break-even.

A case is one (backend, arch, device, phase, batch); its modes are the backend's declared ``train_modes`` /
``infer_modes``, eager first, and a backend that declares no eager mode for a phase (an inference-only
backend's training; ORT's optimization levels) has no case for it.  torch.compile's ``compile`` mode is
generated only where the profile says so (``Profile.graph_compile``: 20-60 s of compiling per case on
2 cores).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..backends import capabilities
from ..measure.timing import first_call, median_seconds
from .profiles import Profile
from .session import Study, backend_device

PHASES = ("train", "infer")


def modes(backend_name: str, phase: str, profile: Profile) -> tuple:
    """The backend's declared modes for ``phase`` that ``profile`` runs, eager first; none without eager."""
    declared = capabilities(backend_name).modes(phase)
    if "eager" not in declared:
        return ()
    return ("eager",) + tuple(m for m in declared if m != "eager" and (profile.graph_compile or m != "compile"))


def cases(backend_names, profile: Profile) -> list[tuple[str, str, int, str]]:
    """``(backend, phase, batch, mode)`` for every generated mode, each case's eager first."""
    return [(b, phase, batch, mode) for b in backend_names for phase in PHASES for batch in profile.graph_batches
            for mode in modes(b, phase, profile)]


def case_id(backend_name: str, phase: str, batch: int, mode: str) -> str:
    return f"{backend_name}-{phase}-b{batch}-{mode}"


def break_even_calls(first: float, steady: float, first_eager: float, steady_eager: float) -> int | None:
    """Calls after which a mode's dearer first call is repaid by its faster steady state; None if never.

    ``ceil((first - first_eager) / (steady_eager - steady))``; 0 when the first call is not dearer.
    """
    if not steady < steady_eager:
        return None
    return max(0, math.ceil((first - first_eager) / (steady_eager - steady)))


class Case:
    """Makes fresh timed callables for one (backend, arch, device, phase, batch), in any mode."""

    def __init__(self, study: Study, backend, arch_name: str, device: str, phase: str, batch: int):
        self.backend, self.phase, self.batch = backend, phase, batch
        self.key = (backend.NAME, arch_name, device, phase, batch)
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


@dataclass
class GraphSession:
    """What the graph cases share in a session: which are warmed, eager's (first_call_s, steady_s), and each
    case's eager callable, which every graph mode of the case is paired against."""

    warmed: set = field(default_factory=set)
    eager: dict = field(default_factory=dict)
    eager_calls: dict = field(default_factory=dict)

    def warm(self, case: Case, mode: str) -> None:
        """One eager call per case (it warms what every mode shares: the framework's runtime, kernel caches,
        allocator; the callable is kept, :meth:`eager_call`), and the backend's one-time ``warm_up`` per mode
        (inductor's process costs)."""
        if case.key not in self.warmed:
            self.eager_calls[case.key] = case.make("eager")
            self.eager_calls[case.key]()
            self.warmed.add(case.key)
        if mode != "eager" and (case.backend.NAME, mode) not in self.warmed:
            case.backend.warm_up(mode)
            self.warmed.add((case.backend.NAME, mode))

    def eager_call(self, case: Case):
        """The case's eager callable from :meth:`warm`: same arch, seed (so the same initial weights) and input
        as every mode's."""
        return self.eager_calls[case.key]

    def break_even(self, case: Case, mode: str, first: float, steady: float, rounds: int) -> int | None:
        """:func:`break_even_calls` against the case's eager figures (0 for eager itself, which records them);
        when the eager case did not run (deselected), eager is measured here, quickly."""
        if mode == "eager":
            self.eager[case.key] = (first, steady)
            return 0
        if case.key not in self.eager:
            eager_fn, eager_first = case.first_call("eager")
            self.eager[case.key] = (eager_first, median_seconds(eager_fn, repeats=max(5, min(rounds, 50))))
        return break_even_calls(first, steady, *self.eager[case.key])
