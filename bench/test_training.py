"""Time of one training epoch per backend x batch size.

Quick profile: the study dataset's training split.  Full profile: 60,000
synthetic 32x32 images, the size of the reference speed figures.  Data is
converted to framework tensors once, before timing; each timed round is one
epoch in the shared seeded order (loss read back every step, in every
backend alike).  A few steps run first as warm-up.

Every step of the timed epochs is timed too (one ``perf_counter`` pair per
step): ``step_timing`` holds their p50/p90/p99, and ``step_timer_overhead_s``
what one such pair costs, to set against the step's median.

With ``--instrument instructions``, one training step at the benchmark's
batch size is also counted under valgrind (``extra_info["instructions"]``):
the step, not the epoch, since an epoch is steps plus the data order.

Every backend's row but the reference's also records ``extra_info["ratio"]``:
how many times faster its training step ran than the reference backend's
(:func:`lenet.study.contenders.reference_backend`: handcrafted, else the
first selected backend that trains; on the CPU), the reference starting from
this row's weights as the timed epochs left them, both stepping through the
same full batches of the shared epoch order on the same data, in interleaved
rounds (:func:`lenet.study.contenders.pair_ratio`).  Steps, not epochs: an
epoch is its steps plus the shared loop, the same for every backend, and a
block of steps fits the rounds where an epoch (seconds, in the full profile)
would not.  The reference's own row has no ratio.
"""
import math
from dataclasses import replace
from itertools import count

import pytest

from lenet.measure.ceiling import roofline
from lenet.measure.stats import summarize
from lenet.spec import build_arch
from lenet.study.contenders import holding, pair_ratio, reference_backend, stepper
from lenet.study.session import backend_device
from lenet.training import epoch_batches, run_epoch, timer_overhead_s


@pytest.mark.benchmark(group="train-epoch")
def test_train_epoch(benchmark, study, backend, backend_name, arch_name, device, train_batch, instrument):
    benchmark.group = f"train-epoch batch={train_batch}"
    data = study.speed_dataset
    arch = build_arch(arch_name, data.num_classes, data.input_shape)
    config = replace(study.train_config(), batch_size=train_batch, epochs=1)
    model = backend.build(arch, seed=config.seed, device=backend_device(backend, device))
    trainer = backend.trainer(model, data.x_train, data.y_train, config)
    epochs = count()
    # One whole untimed epoch first: it meets every batch shape the timed ones will (an epoch's last, partial
    # batch is a new shape, which jax.jit compiles anew: 1.3 s inside the first timed digits epoch of 0.2 s,
    # before this) and warms every backend's allocator and caches on them.
    run_epoch(trainer, data.y_train, config, next(epochs))
    step_times: list = []
    benchmark.pedantic(lambda: run_epoch(trainer, data.y_train, config, next(epochs), step_times=step_times),
                       rounds=study.profile.train_rounds, iterations=1)
    median = benchmark.stats.stats.median
    steps = summarize(step_times, what=f"{benchmark.name} steps")
    overhead = timer_overhead_s()
    steps_per_epoch = math.ceil(len(data.y_train) / train_batch)
    reference = reference_backend(study, "train")
    paired = {}
    if backend_name != reference:
        ref, ref_model = holding(reference, arch, backend.get_weights(model))
        ref_trainer = ref.trainer(ref_model, data.x_train, data.y_train, config)
        order = epoch_batches(len(data.y_train), config, 0)
        batches = [b for b in order if len(b) == train_batch] or order  # full ones (a --limit may leave none)
        paired["ratio"] = pair_ratio(study, stepper(trainer, batches, config.lr),
                                     stepper(ref_trainer, batches, config.lr), reference)
    study.record(benchmark, backend_name, arch_name, device, batch_size=train_batch, **paired,
                 speed_dataset=data.name, train_samples=len(data.y_train), epoch_s=median,
                 train_img_s=len(data.y_train) / median, activation=arch.name,
                 step_timing=steps.as_dict(), step_timer_overhead_s=overhead,
                 step_timer_overhead_fraction=overhead / steps.p50,
                 **roofline(arch, train_batch, median / steps_per_epoch, "train", study.ceiling))
    instrument.count(benchmark, backend_name, backend, model, "train", data.x_train[:train_batch],
                     median / steps_per_epoch, y=data.y_train[:train_batch])
