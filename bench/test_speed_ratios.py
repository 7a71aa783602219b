"""Handcrafted against torch and Keras in interleaved rounds: the speed ratios ``lenet check-speed`` judges.

The ``inference`` and ``train-epoch`` groups time one backend after another, minutes apart, so a slow spell of
a shared machine between two rows biases their ratio.  Here the contenders run side by side in time: every
round times a block of each (about :data:`BLOCK_S`), in a rotating order (:mod:`lenet.measure.paired`), and
the ratio is taken within each round.  The contenders run the same weights (handcrafted's trained model) on
the same input; training steps start from the same initial weights and walk the same epoch order, each on
its own copy of the speed dataset.  The pytest-benchmark figure of a row is the wall time of one round (of
every contender); what to read is ``extra_info["speedup"]``: handcrafted's speed over each rival's, the
median over rounds with its 95% interval.  At batch 1024 the machine's GEMM (a 1024 x 1024 fp32 product
through NumPy's BLAS) is timed as one more contender: ``extra_info["pct_of_gemm"]`` is handcrafted's
achieved FLOP/s as a % of the GEMM's in the same rounds.  The session's ceiling (``pct_of_peak``) is one
best-of-7 reading, minutes from the row: on this box it read 86 to 132 GFLOP/s at 2 threads on one day.

Only the ``speed`` profile runs this file (``Profile.groups``).
"""
from dataclasses import replace

import numpy as np
import pytest

from lenet.backends import get_backend, is_available
from lenet.measure.ceiling import gemm_call, roofline, share_of_gemm
from lenet.measure.paired import Interleaved
from lenet.study.speed_targets import CEILING_BATCH, HANDCRAFTED, RIVALS
from lenet.training import epoch_batches

BLOCK_S = 0.25  # per contender and round: long enough to average over a few scheduler ticks
ROUNDS = 15  # the median's 95% interval then spans the 4th to the 12th of the 15 ratios
GEMM = "gemm"  # at the ceiling batch, the machine's GEMM runs as one more contender (lenet.measure.ceiling)


def _contenders(study) -> list[str]:
    names = [b for b in (HANDCRAFTED, *RIVALS) if b in study.options.backend_names and is_available(b)]
    if HANDCRAFTED not in names or len(names) < 2:
        pytest.skip("needs the handcrafted backend and torch or keras")
    return names


def _same_weights(study, names: list[str], arch_name: str) -> dict:
    """``name -> (backend, model)``, every model holding handcrafted's trained weights for ``arch_name``."""
    source = study.trained(HANDCRAFTED, arch_name, "cpu")
    weights = get_backend(HANDCRAFTED).get_weights(source.model)
    models = {}
    for name in names:
        backend = get_backend(name)
        model = backend.build(study.arch(arch_name), seed=0)
        backend.set_weights(model, weights)
        models[name] = (backend, model)
    return models


def _run(benchmark, calls: dict) -> Interleaved:
    rounds = Interleaved(calls, BLOCK_S)  # its calibration warms every contender up
    benchmark.pedantic(rounds.round, rounds=ROUNDS, iterations=1)
    return rounds


def _speedups(paired, names: list[str]) -> dict:
    return {rival: paired.speedup(HANDCRAFTED, rival) for rival in names if rival != HANDCRAFTED}


@pytest.mark.benchmark(group="speed-ratio")
def test_inference_speedup(benchmark, study, arch_name, infer_batch):
    benchmark.group = f"speed-ratio inference batch={infer_batch}"
    names = _contenders(study)
    x = np.resize(study.dataset.x_test, (infer_batch, *study.dataset.input_shape))
    calls = {name: backend.make_forward(model, x) for name, (backend, model) in _same_weights(
        study, names, arch_name).items()}
    if infer_batch == CEILING_BATCH:
        calls[GEMM] = gemm_call()
    paired = _run(benchmark, calls).result()
    arch = study.arch(arch_name)
    share = {}
    if GEMM in calls:
        share["pct_of_gemm"] = share_of_gemm(arch, infer_batch, paired.speedup(HANDCRAFTED, GEMM))
    study.record(benchmark, HANDCRAFTED, arch_name, "cpu", phase="infer", batch_size=infer_batch,
                 contenders=names, speedup=_speedups(paired, names), paired=paired.as_dict(),
                 throughput={n: infer_batch / paired.median_s(n) for n in names},  # img/s
                 **share, **roofline(arch, infer_batch, paired.median_s(HANDCRAFTED), "infer", study.ceiling))


@pytest.mark.benchmark(group="speed-ratio")
def test_train_step_speedup(benchmark, study, arch_name, train_batch):
    """Training steps in blocks that walk the shared epoch order, one trainer per contender."""
    benchmark.group = f"speed-ratio train batch={train_batch}"
    names = _contenders(study)
    data = study.speed_dataset
    arch = study.arch(arch_name)
    config = replace(study.train_config(), batch_size=train_batch, epochs=1)
    calls = {}
    for name in names:
        backend = get_backend(name)
        model = backend.build(arch, seed=config.seed)
        trainer = backend.trainer(model, data.x_train, data.y_train, config)
        batches = [b for b in epoch_batches(len(data.y_train), config, 0) if len(b) == train_batch]
        calls[name] = _stepper(trainer, batches, config.lr)
    paired = _run(benchmark, calls).result()
    study.record(benchmark, HANDCRAFTED, arch_name, "cpu", phase="train", batch_size=train_batch,
                 contenders=names, speedup=_speedups(paired, names), paired=paired.as_dict(),
                 speed_dataset=data.name, train_samples=len(data.y_train),
                 step_time={n: paired.median_s(n) for n in names})  # seconds


def _stepper(trainer, batches: list, lr: float):
    """One training step on the next full batch of the epoch order, from the first again after the last."""
    position = [0]

    def step():
        trainer.step(batches[position[0] % len(batches)], lr)
        position[0] += 1

    return step
