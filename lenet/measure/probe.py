"""Memory probe, run as ``python -m lenet.measure.probe`` in a fresh interpreter by :mod:`lenet.measure.timing`.

Loads one backend and one weight file, builds random inputs of the model's
shape (values do not change memory), records the resident set after that
setup, then runs the phase under ``memory_profiler.memory_usage`` and prints
one JSON line.  ``infer`` is one forward pass at ``--batch-size``; ``train``
is one epoch over ``--samples`` images at ``--batch-size``.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import psutil
from memory_profiler import memory_usage

from ..backends import get_backend
from ..training import TrainConfig, run_epoch
from . import threads

MIB = 2**20


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m lenet.measure.probe")
    p.add_argument("--backend", required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--phase", choices=("infer", "train"), required=True)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)

    threads.set_threads(args.threads)
    backend = get_backend(args.backend)
    model = backend.load(args.weights, device=args.device)
    rng = np.random.default_rng(0)
    n = args.batch_size if args.phase == "infer" else args.samples
    x = rng.standard_normal((n, *model.arch.input_shape), dtype=np.float32)
    y = rng.integers(0, model.arch.num_classes, size=n).astype(np.int64)
    if args.phase == "infer":
        forward = backend.make_forward(model, x)
        run = forward
    else:
        config = TrainConfig(epochs=1, batch_size=args.batch_size, optimizer="sgd", lr=1e-3)
        trainer = backend.trainer(model, x, y, config)

        def run():
            run_epoch(trainer, y, config, epoch=0)
    backend.reset_peak_memory(model)
    baseline = psutil.Process().memory_info().rss / MIB
    peak = max(memory_usage((run, (), {}), interval=0.005, max_usage=True, include_children=False), baseline)
    print(json.dumps({
        "backend": args.backend, "phase": args.phase, "batch_size": args.batch_size, "samples": n,
        "device": args.device, "baseline_mib": round(baseline, 2), "peak_mib": round(peak, 2),
        "delta_mib": round(peak - baseline, 2), "device_peak_bytes": backend.peak_memory(model),
    }))


if __name__ == "__main__":
    main()
