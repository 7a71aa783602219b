"""Measurement helpers that sit outside the backends: first-call cost, fresh-process memory, sizes.

Timing itself belongs to pytest-benchmark; what is here is what it does not do.

* :func:`first_call` times the very first call of a callable (tracing, compile,
  allocator warm-up), reported apart from steady-state time.
* :func:`peak_rss_fresh_process` runs :mod:`lenet.probe` in a new interpreter
  and reads its peak resident set with memory-profiler, because torch and TF
  in one process pollute each other's RSS (DESIGN section 4).
* :func:`serialized_sizes` is the on-disk and gzip size of a weight file.
"""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def first_call(fn) -> float:
    """Seconds taken by one call of ``fn`` (use on a fresh callable to see its first-call cost)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_seconds(fn, repeats: int = 20, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls (for secondary figures;
    the headline timing of a benchmark is pytest-benchmark's)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def serialized_sizes(path: str | os.PathLike) -> dict:
    """Bytes of a weight file on disk and gzip-compressed (level 9)."""
    data = Path(path).read_bytes()
    return {"file_bytes": len(data), "gzip_bytes": len(gzip.compress(data, compresslevel=9))}


def gpu_name() -> str | None:
    """Name of the first NVIDIA GPU (from nvidia-smi, framework-free), or None without one."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    names = out.stdout.strip().splitlines() if out.returncode == 0 else []
    return names[0].strip() if names else None


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
    args = ["--backend", backend, "--weights", str(weights), "--phase", phase, "--batch-size", str(batch_size),
            "--samples", str(samples), "--device", device]
    if threads:
        args += ["--threads", str(threads)]
    return run_probe("lenet.probe", args, timeout)


def run_probe(module: str, args: list[str], timeout: float = 600) -> dict:
    """Run ``python -m module args`` in a fresh interpreter and return the JSON of its last output line."""
    cmd = [sys.executable, "-m", module, *args]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise ProbeError(f"probe {module} {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
