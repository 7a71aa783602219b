"""Measurement helpers that sit outside the backends: first-call cost, fresh-process memory, sizes.

Timing itself belongs to pytest-benchmark; what is here is what it does not do.

* :func:`first_call` times the very first call of a callable (tracing, compile,
  allocator warm-up), reported apart from steady-state time.
* :func:`plan_rounds` chooses pytest-benchmark's rounds and iterations from a
  short pilot: enough rounds to fill the time budget, and more (up to a cap)
  when the pilot's spread says the median's interval would otherwise be wider
  than :data:`lenet.noise.CI_REL_WIDTH_MAX`, so that precision, not a fixed
  count, decides how long a figure is timed.
* :func:`peak_rss_fresh_process` runs :mod:`lenet.probe` in a new interpreter
  and reads its peak resident set with memory-profiler, because torch and TF
  in one process pollute each other's RSS (DESIGN section 4).
* :func:`serialized_sizes` is the on-disk and gzip size of a weight file.
"""
from __future__ import annotations

import gzip
import json
import math
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


PILOT_CALLS = 11
MIN_ROUNDS = 7  # the fewest samples with a 95% order-statistic interval of the median is 6
ROUND_SECONDS = 1e-3  # calls under a millisecond are repeated within a round (the round's mean is the sample)


def plan_rounds(fn, budget_s: float, *, repeatable: bool = True, max_budget_s: float | None = None,
                max_rounds: int = 1000) -> tuple[int, int]:
    """``(rounds, iterations)`` for ``benchmark.pedantic(fn, ...)`` from a pilot of :data:`PILOT_CALLS` calls.

    ``iterations`` makes a round last about :data:`ROUND_SECONDS` (1 unless ``repeatable``: a training step
    changes the model, so each of its rounds is one step); ``rounds`` fills ``budget_s``, then grows up to
    ``max_budget_s`` (default 4 x the budget) while the pilot's spread predicts a median interval wider than
    the bound.  The prediction uses the median's asymptotic standard error, ``1.2533 sigma / sqrt(n)`` with
    ``sigma = IQR / 1.349``.
    """
    from .noise import CI_REL_WIDTH_MAX

    pilot = sorted(first_call(fn) for _ in range(PILOT_CALLS))
    per_call = max(pilot[PILOT_CALLS // 2], 1e-9)
    q1, q3 = pilot[PILOT_CALLS // 4], pilot[(3 * PILOT_CALLS) // 4]
    iterations = max(1, int(ROUND_SECONDS / per_call)) if repeatable else 1
    per_round = per_call * iterations
    rounds = int(budget_s / per_round)
    sigma_rel = (q3 - q1) / 1.349 / per_call
    needed = math.ceil((2 * 1.96 * 1.2533 * sigma_rel / (0.8 * CI_REL_WIDTH_MAX)) ** 2)  # 20% margin
    cap = int((max_budget_s if max_budget_s is not None else 4 * budget_s) / per_round)
    rounds = max(rounds, min(needed, cap))
    return min(max(rounds, MIN_ROUNDS), max_rounds), iterations


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
