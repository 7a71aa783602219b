"""Where the handcrafted network's time goes: per layer, forward and backward (``lenet profile-layers``).

Each scenario runs the real code path, the benchmarked forward (:func:`.measurement.make_forward`) or one
:meth:`.model.Trainer.step`, with every layer's ``forward`` and ``backward``, the loss, the optimizer
step and the batch loading wrapped in a ``perf_counter`` pair (about 0.1 us each, against calls of
microseconds and more).  A cell is the median over rounds of the time one call of the scenario spends
there; where worker threads run chunks side by side, it is the mean over the threads that ran it, so a
column's cells add up to about the wall time of one call.  ``other`` is the wall time left over:
dispatch, chunking, copying logits out.

This is a diagnostic, not a benchmark: figures of the same run are comparable with each other, and the
headline figures are pytest-benchmark's (``bench/``).
"""
from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict
from contextlib import contextmanager

import numpy as np

from ...spec import build_arch
from ...training import TrainConfig
from . import parallel
from .measurement import make_forward
from .model import build, trainer

INFER_BATCHES = (1, 64, 1024)
TRAIN_BATCH = 64


class _Recorder:
    """Seconds spent per (thread, key) during one call of a scenario."""

    def __init__(self):
        self.seconds: dict[tuple, float] = defaultdict(float)

    def wrap(self, obj, method: str, key: str) -> None:
        inner = getattr(obj, method)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[(threading.get_ident(), key)] += time.perf_counter() - start

        setattr(obj, method, timed)  # an instance attribute: it shadows the class's method

    def per_key(self) -> dict[str, float]:
        """Mean over the threads that ran each key."""
        totals, threads = defaultdict(float), defaultdict(set)
        for (thread, key), s in self.seconds.items():
            totals[key] += s
            threads[key].add(thread)
        return {key: totals[key] / len(threads[key]) for key in totals}


def _layer_key(i: int, layer, phase: str) -> str:
    return f"{i} {type(layer).__name__} {phase}"


@contextmanager
def _instrumented(recorder: _Recorder, targets: list[tuple]):
    """Wrap ``(obj, method, key)`` targets for the duration; restore the class methods afterwards."""
    for obj, method, key in targets:
        recorder.wrap(obj, method, key)
    try:
        yield
    finally:
        for obj, method, _ in targets:
            delattr(obj, method)


def _net_targets(nets) -> list[tuple]:
    targets = []
    for net in nets:
        for i, layer in enumerate(net.layers):
            targets += [(layer, "forward", _layer_key(i, layer, "fwd")),
                        (layer, "backward", _layer_key(i, layer, "bwd"))]
        targets += [(net.loss, "forward", "loss fwd (softmax, cross-entropy)"), (net.loss, "backward", "loss bwd")]
    return targets


def _run(fn, targets, rounds: int, warmup: int = 3) -> dict[str, float]:
    """Median seconds per key (and ``wall``) over ``rounds`` calls of ``fn``."""
    for _ in range(warmup):
        fn()
    samples = defaultdict(list)
    for _ in range(rounds):
        recorder = _Recorder()
        with _instrumented(recorder, targets):
            start = time.perf_counter()
            fn()
            wall = time.perf_counter() - start
        per_key = recorder.per_key()
        per_key["other"] = max(wall - sum(per_key.values()), 0.0)
        per_key["wall"] = wall
        for key, s in per_key.items():
            samples[key].append(s)
    return {key: statistics.median(v) for key, v in samples.items()}


def profile_layers(arch_name: str = "lenet5", *, infer_batches=INFER_BATCHES, train_batch: int = TRAIN_BATCH,
                   rounds: int = 30, seed: int = 0) -> dict[str, dict[str, float]]:
    """``{scenario: {key: median seconds per call}}`` for LeNet-style ``arch_name`` on random 1x32x32 input.

    Scenarios: ``infer b=<n>`` for each of ``infer_batches`` and ``train b=<train_batch>`` (one Adam step).
    """
    arch = build_arch(arch_name, 10, (1, 32, 32))
    rng = np.random.default_rng(seed)
    model = build(arch, seed=seed)
    targets = _net_targets(model.net.replicas(parallel.workers()))
    out = {}
    for n in infer_batches:
        x = rng.standard_normal((n, *arch.input_shape), dtype=np.float32)
        out[f"infer b={n}"] = _run(make_forward(model, x), targets, rounds)
    x = rng.standard_normal((max(train_batch, 256), *arch.input_shape), dtype=np.float32)
    y = rng.integers(0, arch.num_classes, len(x))
    tr = trainer(model, x, y, TrainConfig(batch_size=train_batch, optimizer="adam", lr=1e-4, seed=seed))
    step = tr.make_step(np.arange(train_batch), 1e-4)
    train_targets = targets + [(tr.optimizer, "step", "optimizer (Adam)"), (tr, "_load", "load batch")]
    out[f"train b={train_batch}"] = _run(step, train_targets, rounds)
    return out


def format_profile(profile: dict[str, dict[str, float]], title: str = "") -> str:
    """A markdown table: one row per key, one column per scenario, ``ms (% of wall)``."""
    scenarios = list(profile)
    keys = []
    for scenario in scenarios:
        keys += [k for k in profile[scenario] if k not in keys and k not in ("other", "wall")]
    forward = sorted((k for k in keys if not k.endswith("bwd") and k[0].isdigit()), key=lambda k: int(k.split()[0]))
    backward = sorted((k for k in keys if k.endswith("bwd") and k[0].isdigit()), key=lambda k: -int(k.split()[0]))
    rest = [k for k in keys if not k[0].isdigit()]
    lines = [title] if title else []
    lines += ["| where | " + " | ".join(scenarios) + " |", "|---|" + "---:|" * len(scenarios)]
    for key in forward + rest + backward + ["other", "wall"]:
        cells = []
        for scenario in scenarios:
            s, wall = profile[scenario].get(key), profile[scenario]["wall"]
            cells.append("" if s is None else f"{s * 1e3:.3f}" if key == "wall" else
                         f"{s * 1e3:.3f} ({100 * s / wall:.0f}%)")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines.append("(ms per call, median of the rounds; % of that scenario's wall time)")
    return "\n".join(lines)
