"""Handcrafted against every framework in its tuned mode, in interleaved rounds: the ratios ``lenet check-speed``
judges.

The ``inference`` and ``train-epoch`` groups time one backend after another, minutes apart, so a slow spell of
a shared machine between two rows biases their ratio.  Here the contenders run side by side in time: every
round times a block of each (about :data:`lenet.study.contenders.BLOCK_S`), in a rotating order
(:mod:`lenet.measure.paired`), and the ratio is taken within each round.  Each rival runs the mode its
framework's own performance guide recommends (``Capabilities.tuned_mode``, docs/tuned-modes.md: torch frozen
and channels-last, JAX NHWC inside jit, Keras' traced graph, ONNX Runtime with every graph optimisation),
named in ``extra_info["rival_modes"]``; bench/test_tuned_modes.py times each against its default.  The
contenders run the same weights (handcrafted's trained model) on the same input; training steps start from
the same initial weights and walk the same epoch order, each on its own copy of the speed dataset, for the
rivals that :data:`lenet.study.speed_targets.EPOCH_MAX_RATIO` sets a limit against.  The pytest-benchmark
figure of a row is the wall time of one round (of every contender); what to read is
``extra_info["speedup"]``: handcrafted's speed over each rival's, the median over rounds with its 95%
interval.  At batch 1024 the machine's GEMM (a 1024 x 1024 fp32 product through NumPy's BLAS) is timed as one
more contender: ``extra_info["pct_of_gemm"]`` is handcrafted's achieved FLOP/s as a % of the GEMM's in the
same rounds.  The session's ceiling (``pct_of_peak``) is one best-of-7 reading, minutes from the row: on this
box it read 86 to 132 GFLOP/s at 2 threads on one day.

Only the ``speed`` profile runs this file (``Profile.groups``).
"""
from dataclasses import replace

import numpy as np
import pytest

from lenet.backends import capabilities, get_backend, is_available
from lenet.measure.ceiling import gemm_call, roofline, share_of_gemm
from lenet.study.contenders import run_rounds, same_weights, stepper
from lenet.study.speed_targets import CEILING_BATCH, HANDCRAFTED, RIVALS, TRAIN_RIVALS
from lenet.training import epoch_batches

GEMM = "gemm"  # at the ceiling batch, the machine's GEMM runs as one more contender (lenet.measure.ceiling)


def _contenders(study, rivals) -> list[str]:
    names = [b for b in (HANDCRAFTED, *rivals) if b in study.options.backend_names and is_available(b)]
    if HANDCRAFTED not in names or len(names) < 2:
        pytest.skip(f"needs the handcrafted backend and one of {', '.join(rivals)}")
    return names


def _modes(names: list[str], phase: str) -> dict:
    """Each contender's tuned mode for ``phase`` (handcrafted's is its only one)."""
    return {name: capabilities(name).tuned_mode(phase) for name in names}


def _speedups(paired, names: list[str]) -> dict:
    return {rival: paired.speedup(HANDCRAFTED, rival) for rival in names if rival != HANDCRAFTED}


@pytest.mark.benchmark(group="speed-ratio")
def test_inference_speedup(benchmark, study, arch_name, infer_batch):
    benchmark.group = f"speed-ratio inference batch={infer_batch}"
    names = _contenders(study, RIVALS)
    modes = _modes(names, "infer")
    x = np.resize(study.dataset.x_test, (infer_batch, *study.dataset.input_shape))
    calls = {name: backend.make_forward(model, x, mode=modes[name]) for name, (backend, model) in same_weights(
        study, names, arch_name).items()}
    if infer_batch == CEILING_BATCH:
        calls[GEMM] = gemm_call()
    paired = run_rounds(benchmark, calls).result()
    arch = study.arch(arch_name)
    share = {}
    if GEMM in calls:
        share["pct_of_gemm"] = share_of_gemm(arch, infer_batch, paired.speedup(HANDCRAFTED, GEMM))
    study.record(benchmark, HANDCRAFTED, arch_name, "cpu", phase="infer", batch_size=infer_batch,
                 contenders=names, rival_modes=modes, speedup=_speedups(paired, names), paired=paired.as_dict(),
                 throughput={n: infer_batch / paired.median_s(n) for n in names},  # img/s
                 **share, **roofline(arch, infer_batch, paired.median_s(HANDCRAFTED), "infer", study.ceiling))


@pytest.mark.benchmark(group="speed-ratio")
def test_train_step_speedup(benchmark, study, arch_name, train_batch):
    """Training steps in blocks that walk the shared epoch order, one trainer per contender."""
    benchmark.group = f"speed-ratio train batch={train_batch}"
    names = _contenders(study, TRAIN_RIVALS)
    modes = _modes(names, "train")
    data = study.speed_dataset
    arch = study.arch(arch_name)
    config = replace(study.train_config(), batch_size=train_batch, epochs=1)
    batches = [b for b in epoch_batches(len(data.y_train), config, 0) if len(b) == train_batch]
    calls = {}
    for name in names:
        backend = get_backend(name)
        model = backend.build(arch, seed=config.seed)
        trainer = backend.trainer(model, data.x_train, data.y_train, config, mode=modes[name])
        calls[name] = stepper(trainer, batches, config.lr)
    paired = run_rounds(benchmark, calls).result()
    study.record(benchmark, HANDCRAFTED, arch_name, "cpu", phase="train", batch_size=train_batch,
                 contenders=names, rival_modes=modes, speedup=_speedups(paired, names), paired=paired.as_dict(),
                 speed_dataset=data.name, train_samples=len(data.y_train),
                 step_time={n: paired.median_s(n) for n in names})  # seconds
