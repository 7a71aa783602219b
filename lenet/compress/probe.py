"""Peak memory of one inference of a compressed artifact, run as ``python -m lenet.compress.probe`` in a fresh process.

Kinds (``--file`` is the artifact; the framework is imported only when the kind needs it):

``npz``                canonical weights (``lenet.io.weights``) run by ``--backend``
``csr``                the sparse file of :mod:`lenet.compress.sparse`, rebuilt dense, run by ``--backend``
``torch-prune-hooks``  canonical weights run by torch with ``torch.nn.utils.prune`` masks and hooks live
``torch-int8-static``  ``torch.save``d state of the static int8 model; ``--aux`` the float weights it came from
``torch-int8-dynamic`` the same for the dynamic int8 model
``tflite``             a ``.tflite`` flatbuffer run in the TFLite interpreter
``handcrafted-int8``   the ``.npz`` of :class:`lenet.backends.handcrafted.int8.Int8Model`

The process builds a random float32 input of ``--batch-size`` images, records
its RSS after all that setup (``baseline_mib``), then runs one forward pass
under memory-profiler and prints one JSON line with ``peak_mib`` (the
process's peak RSS, imports included) and ``delta_mib``.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from ..measure import threads

MIB = 2**20
KINDS = ("npz", "csr", "torch-prune-hooks", "torch-int8-static", "torch-int8-dynamic", "tflite", "handcrafted-int8")


def _forward(kind: str, file: str, backend_name: str | None, aux: str | None, batch: int):
    from ..backends import get_backend
    from . import measure

    rng = np.random.default_rng(0)

    def inputs(shape):
        return rng.standard_normal((batch, *shape), dtype=np.float32)

    if kind in ("npz", "csr"):
        backend = get_backend(backend_name)
        if kind == "npz":
            model = backend.load(file)
        else:
            from . import sparse

            arch, weights = sparse.load(file)
            model = backend.build(arch, seed=0)
            backend.set_weights(model, weights)
        return measure.backend_forward(backend, model, inputs(model.arch.input_shape))
    if kind == "torch-prune-hooks":
        from . import pruning, torch_prune

        backend = get_backend("torch")
        model = backend.load(file)
        torch_prune.apply_masks(model.net, pruning.masks_from_zeros(backend.get_weights(model)), model.arch)
        return backend.make_forward(model, inputs(model.arch.input_shape))
    if kind in ("torch-int8-static", "torch-int8-dynamic"):
        from . import torch_quant

        model = get_backend("torch").load(aux)
        shape = model.arch.input_shape
        qnet = torch_quant.load(kind.rsplit("-", 1)[1], model.net, file, shape)
        del model
        return torch_quant.make_forward(qnet, inputs(shape))
    if kind == "tflite":
        from ..io.weights import load as load_weights
        from . import tflite

        arch = load_weights(aux)[0]
        return tflite.from_file(file, arch.input_shape).make_forward(inputs(arch.input_shape))
    if kind == "handcrafted-int8":
        from ..backends.handcrafted.int8 import Int8Model

        q = Int8Model.load(file)
        return q.make_forward(inputs(q.arch.input_shape))
    raise ValueError(f"unknown kind {kind!r}; choose one of {KINDS}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m lenet.compress.probe")
    p.add_argument("--kind", choices=KINDS, required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--backend", default=None)
    p.add_argument("--aux", default=None, help="float weights .npz (torch int8 kinds, tflite: the arch)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)

    import psutil
    from memory_profiler import memory_usage

    threads.set_threads(args.threads)
    forward = _forward(args.kind, args.file, args.backend, args.aux, args.batch_size)
    baseline = psutil.Process().memory_info().rss / MIB
    peak = max(memory_usage((forward, (), {}), interval=0.005, max_usage=True, include_children=False), baseline)
    print(json.dumps({"kind": args.kind, "backend": args.backend, "batch_size": args.batch_size,
                      "baseline_mib": round(baseline, 2), "peak_mib": round(peak, 2),
                      "delta_mib": round(peak - baseline, 2)}))


if __name__ == "__main__":
    main()
