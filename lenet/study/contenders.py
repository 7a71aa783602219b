"""What the interleaved bench files share (bench/test_speed_ratios.py, bench/test_tuned_modes.py): models that
hold the same weights, a training step that walks the epoch order, and the rounds timed through
pytest-benchmark; and the ratio every comparing row of the other groups records, :func:`pair_ratio`.

The contenders of an interleaved row run the same weights (handcrafted's trained model, which every backend
can load) on the same input, so that their ratio says how fast each runs the same function.

``extra_info["ratio"]`` is one shape wherever a row is compared with a reference (checked by
:func:`lenet.io.history_checks.ratio`)::

    {"reference": "handcrafted" | "eager" | "base" | ..., "median": m, "low": l, "high": h,
     "confidence": 0.95, "rounds": n}

how many times faster the row's contender ran than the reference: the median over ``n`` interleaved rounds of
the per-round ratio ``t(reference) / t(row)``, with its interval (:meth:`lenet.measure.paired.Paired.speedup`).
The row's pytest-benchmark figure stays its own absolute time, taken apart, so that histories stay comparable.
"""
from __future__ import annotations

from ..backends import capabilities, get_backend, is_available
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
    return {name: holding(name, study.arch(arch_name), weights, device) for name in names}


def holding(name: str, arch, weights: dict, device: str = "cpu") -> tuple:
    """``(backend, model)``: a model of backend ``name`` on ``device`` that holds the canonical ``weights``."""
    backend = get_backend(name)
    model = backend.build(arch, seed=0, device=device)
    backend.set_weights(model, weights)
    return backend, model


def reference_backend(study: Study, phase: str) -> str:
    """The backend that the inference (``phase`` "infer") or training ("train") rows of the other backends are
    paired against: handcrafted, which every profile runs, else the first selected installed backend that
    runs ``phase``."""
    chosen = [b for b in study.options.backend_names if is_available(b)
              and (phase == "infer" or capabilities(b).trains)]
    return HANDCRAFTED if HANDCRAFTED in chosen else chosen[0]


_ROW, _REFERENCE = "row", "reference"  # the two contenders of a pair, whatever their names


def pair_ratio(study: Study, fn, reference_fn, reference: str) -> dict:
    """``extra_info["ratio"]``: how many times faster ``fn`` ran than ``reference_fn`` (named ``reference``),
    in the profile's ``pair_rounds`` interleaved rounds of ``pair_block_s`` blocks.

    Each call must do the same work every time (a forward pass on a fixed input, a :func:`stepper`); the
    :class:`Interleaved`'s calibration warms both up first, so a trace or compile is never timed.
    """
    rounds = Interleaved({_ROW: fn, _REFERENCE: reference_fn}, study.profile.pair_block_s)
    for _ in range(study.profile.pair_rounds):
        rounds.round()
    return {"reference": reference, **rounds.result().speedup(_ROW, _REFERENCE)}


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
