"""Memory probe, run as ``python -m lenet.measure.probe`` in a fresh interpreter by :mod:`lenet.measure.memory`.

Loads one backend and one model, builds random inputs of the model's shape
(values do not change memory), records the resident set after that setup,
then runs the phase under ``memory_profiler.memory_usage`` and prints one
JSON line.  ``infer`` is one forward pass at ``--batch-size``; ``train`` is
one epoch over ``--samples`` images at ``--batch-size``.

The model is ``--weights``: canonical weights (``--artifact npz``, the
default), the CSR file of :mod:`lenet.compress.sparse` (``--artifact csr``),
or, for any other ``--artifact`` kind, a compressed artifact that the
backend's ``load_artifact`` hook rebuilds (``--aux``: the file it needs
beside it).  Only the backend's framework is imported.
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


def _model(backend, kind: str, file: str, device: str):
    if kind == "npz":
        return backend.load(file, device=device)
    from ..compress import sparse

    arch, weights = sparse.load(file)
    model = backend.build(arch, seed=0, device=device)
    backend.set_weights(model, weights)
    return model


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m lenet.measure.probe")
    p.add_argument("--backend", required=True)
    p.add_argument("--weights", required=True, help="the model file (see --artifact)")
    p.add_argument("--artifact", default="npz", help="npz (canonical weights), csr, or a backend's artifact kind")
    p.add_argument("--aux", default=None, help="the file a backend's artifact needs beside it")
    p.add_argument("--phase", choices=("infer", "train"), required=True)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)

    threads.set_threads(args.threads)
    backend = get_backend(args.backend)
    rng = np.random.default_rng(0)
    n = args.batch_size if args.phase == "infer" else args.samples
    model = None
    if args.artifact in ("npz", "csr"):
        model = _model(backend, args.artifact, args.weights, args.device)
        arch, make_forward = model.arch, lambda x: backend.make_forward(model, x)
    else:
        if args.phase != "infer":
            p.error(f"--artifact {args.artifact} runs --phase infer only")
        arch, make_forward = backend.load_artifact(args.artifact, args.weights, args.aux)
    x = rng.standard_normal((n, *arch.input_shape), dtype=np.float32)
    if args.phase == "infer":
        run = make_forward(x)
    else:
        y = rng.integers(0, arch.num_classes, size=n).astype(np.int64)
        config = TrainConfig(epochs=1, batch_size=args.batch_size, optimizer="sgd", lr=1e-3)
        trainer = backend.trainer(model, x, y, config)

        def run():
            run_epoch(trainer, y, config, epoch=0)
    if model is not None:
        backend.reset_peak_memory(model)
    baseline = psutil.Process().memory_info().rss / MIB
    peak = max(memory_usage((run, (), {}), interval=0.005, max_usage=True, include_children=False), baseline)
    print(json.dumps({
        "backend": args.backend, "artifact": args.artifact, "phase": args.phase, "batch_size": args.batch_size,
        "samples": n, "device": args.device, "baseline_mib": round(baseline, 2), "peak_mib": round(peak, 2),
        "delta_mib": round(peak - baseline, 2),
        "device_peak_bytes": backend.peak_memory(model) if model is not None else None,
    }))


if __name__ == "__main__":
    main()
