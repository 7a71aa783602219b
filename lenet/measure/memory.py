"""Peak memory measured in a fresh process, because torch and TF in one process pollute each other's RSS.

:func:`peak_rss_fresh_process` runs :mod:`lenet.measure.probe` in a new
interpreter; the probe reads the resident set with memory-profiler while one
inference or one training epoch runs (DESIGN section 4).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys


class ProbeError(RuntimeError):
    """The memory probe process failed."""


def peak_rss_fresh_process(backend: str, weights: str | os.PathLike, phase: str, batch_size: int,
                           samples: int, device: str = "cpu", threads: int | None = None,
                           timeout: float = 600) -> dict:
    """Peak memory of one inference or one training epoch, measured in a new process.

    Returns the probe's JSON: ``baseline_mib`` (RSS after imports, model build
    and data creation), ``peak_mib`` (max RSS sampled by memory-profiler while
    the phase ran), ``delta_mib`` and, on GPU, ``device_peak_bytes``.
    """
    return _probe(["--backend", backend, "--weights", str(weights), "--phase", phase, "--batch-size", str(batch_size),
                   "--samples", str(samples), "--device", device], threads, timeout)


def median_run(runs: list[dict]) -> dict:
    """The probe run of median peak RSS (the lower middle one of an even count); every field null when no run
    was made (an inference-only backend's training)."""
    if not runs:
        return dict.fromkeys(("peak_mib", "baseline_mib", "delta_mib", "samples", "device_peak_bytes"))
    return sorted(runs, key=lambda r: r["peak_mib"])[(len(runs) - 1) // 2]


def peak_rss_artifact(backend: str, kind: str, file, aux=None, batch_size: int = 256, threads: int | None = None,
                      timeout: float = 600) -> dict:
    """Peak memory of one inference at ``batch_size`` of a compressed artifact, in a new process.

    ``kind`` ``"npz"`` is canonical weights, ``"csr"`` the sparse file of
    :mod:`lenet.compress.sparse`, both run by ``backend``; any other kind is
    the backend's own artifact, rebuilt by its ``load_artifact`` hook.
    """
    args = ["--backend", backend, "--artifact", kind, "--weights", str(file), "--phase", "infer",
            "--batch-size", str(batch_size)]
    return _probe(args + (["--aux", str(aux)] if aux else []), threads, timeout)


def _probe(args: list[str], threads: int | None, timeout: float) -> dict:
    return run_probe("lenet.measure.probe", args + (["--threads", str(threads)] if threads else []), timeout)


def run_probe(module: str, args: list[str], timeout: float = 600) -> dict:
    """Run ``python -m module args`` in a fresh interpreter and return the JSON of its last output line."""
    cmd = [sys.executable, "-m", module, *args]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise ProbeError(f"probe {module} {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
