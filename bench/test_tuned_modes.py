"""Each framework's tuned mode against its default, in interleaved rounds: what an expert gains.

For every backend whose tuned mode (``Capabilities.tuned_mode``, docs/tuned-modes.md) differs from its default
for a phase, the two modes run side by side in time (:mod:`lenet.measure.paired`): inference on the same
weights (handcrafted's trained model) and input, training steps from the same initial weights along the same
epoch order of the speed dataset, each mode on its own trainer.  Every conversion a mode makes (tracing,
freezing, laying out weights or data) happens when its callable is made, before the rounds.  The row's
pytest-benchmark figure is one round's wall time; what to read is ``extra_info["speedup"][tuned_mode]``: the
tuned mode's speed over the default's, the median over rounds with its 95% interval.  A tuned mode whose
interval lies below 1 at some batch and thread count is not the tuned mode there (issue 26's rule).

Groups ``tuned-vs-default inference batch=N`` and ``tuned-vs-default train batch=N``; the ``full`` and
``speed`` profiles run this file (``Profile.runs``), at their inference and training batch sizes.
"""
from dataclasses import replace

import numpy as np
import pytest

from lenet.backends import capabilities, get_backend
from lenet.study.contenders import run_rounds, same_weights, stepper
from lenet.study.session import backend_device, device_unavailable
from lenet.training import epoch_batches


def _modes(backend_name: str, phase: str) -> tuple[str, str]:
    caps = capabilities(backend_name)
    return caps.default_mode(phase), caps.tuned_mode(phase)


def _record(benchmark, study, backend_name, arch_name, device, phase, batch, modes, paired, **extra) -> None:
    default, tuned = modes
    study.record(benchmark, backend_name, arch_name, device, phase=phase, batch_size=batch, default_mode=default,
                 tuned_mode=tuned, speedup={tuned: paired.speedup(tuned, default)}, paired=paired.as_dict(),
                 **extra)


def _device(backend, device: str) -> str:
    reason = device_unavailable(backend, device)
    if reason:
        pytest.skip(reason)
    return backend_device(backend, device)


@pytest.mark.benchmark(group="tuned-vs-default")
def test_tuned_inference(benchmark, study, tuned_backend, arch_name, device, infer_batch):
    benchmark.group = f"tuned-vs-default inference batch={infer_batch}"
    dev = _device(get_backend(tuned_backend), device)
    modes = _modes(tuned_backend, "infer")
    backend, model = same_weights(study, [tuned_backend], arch_name, dev)[tuned_backend]
    x = np.resize(study.dataset.x_test, (infer_batch, *study.dataset.input_shape))
    paired = run_rounds(benchmark, {mode: backend.make_forward(model, x, mode=mode) for mode in modes}).result()
    _record(benchmark, study, tuned_backend, arch_name, device, "infer", infer_batch, modes, paired,
            throughput={mode: infer_batch / paired.median_s(mode) for mode in modes})  # img/s


@pytest.mark.benchmark(group="tuned-vs-default")
def test_tuned_training(benchmark, study, tuned_backend, arch_name, device, train_batch):
    benchmark.group = f"tuned-vs-default train batch={train_batch}"
    backend = get_backend(tuned_backend)
    dev = _device(backend, device)
    modes = _modes(tuned_backend, "train")
    data, arch = study.speed_dataset, study.arch(arch_name)
    config = replace(study.train_config(), batch_size=train_batch, epochs=1)
    batches = [b for b in epoch_batches(len(data.y_train), config, 0) if len(b) == train_batch]
    calls = {}
    for mode in modes:
        trainer = backend.trainer(backend.build(arch, seed=config.seed, device=dev), data.x_train, data.y_train,
                                  config, mode=mode)
        calls[mode] = stepper(trainer, batches, config.lr)
    paired = run_rounds(benchmark, calls).result()
    _record(benchmark, study, tuned_backend, arch_name, device, "train", train_batch, modes, paired,
            speed_dataset=data.name, train_samples=len(data.y_train),
            step_time={mode: paired.median_s(mode) for mode in modes})  # seconds
