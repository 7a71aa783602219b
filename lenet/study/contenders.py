"""What the interleaved bench files share (bench/test_speed_ratios.py, bench/test_tuned_modes.py): models that
hold the same weights, a training step that walks the epoch order, and the rounds timed through
pytest-benchmark.

The contenders of an interleaved row run the same weights (handcrafted's trained model, which every backend
can load) on the same input, so that their ratio says how fast each runs the same function.
"""
from __future__ import annotations

from ..backends import get_backend
from ..measure.paired import Interleaved
from .session import Study
from .speed_targets import HANDCRAFTED

BLOCK_S = 0.25  # per contender and round: long enough to average over a few scheduler ticks
ROUNDS = 15  # the median's 95% interval then spans the 4th to the 12th of the 15 ratios


def same_weights(study: Study, names, arch_name: str, device: str = "cpu") -> dict:
    """``name -> (backend, model)`` on ``device``, every model holding handcrafted's trained weights for
    ``arch_name``."""
    source = study.trained(HANDCRAFTED, arch_name, "cpu")
    weights = get_backend(HANDCRAFTED).get_weights(source.model)
    models = {}
    for name in names:
        backend = get_backend(name)
        model = backend.build(study.arch(arch_name), seed=0, device=device)
        backend.set_weights(model, weights)
        models[name] = (backend, model)
    return models


def run_rounds(benchmark, calls: dict) -> Interleaved:
    """:data:`ROUNDS` interleaved rounds of ``calls`` as the benchmark's rounds (its figure: one round's wall
    time); the :class:`Interleaved`'s calibration warms every contender up first."""
    rounds = Interleaved(calls, BLOCK_S)
    benchmark.pedantic(rounds.round, rounds=ROUNDS, iterations=1)
    return rounds


def stepper(trainer, batches: list, lr: float):
    """One training step on the next full batch of the epoch order, from the first again after the last."""
    position = [0]

    def step():
        trainer.step(batches[position[0] % len(batches)], lr)
        position[0] += 1

    return step
