"""One thread knob for every backend, so that they compete on equal terms.

:func:`set_threads` limits NumPy's BLAS (threadpoolctl) and tells every
backend already imported to set its own pools (torch intra/inter-op, TF
intra/inter-op); a backend imported later reads :func:`requested` when it
loads.  :func:`report` gives the counts actually in force.
"""
from __future__ import annotations

import os
import sys

from ..training import ConfigError

_requested: int | None = None
_limiter = None  # keeps the threadpoolctl limit alive


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), the default thread count and what noise rules count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_threads() -> int:
    env = os.environ.get("LENET_THREADS")
    if env:
        if not env.strip().isascii() or not env.strip().isdigit() or int(env) < 1:
            raise ConfigError(f"LENET_THREADS must be a positive integer, got {env!r}")
        return int(env)
    return usable_cores()


def requested() -> int:
    """The thread count in force (``LENET_THREADS`` or the usable cores until set)."""
    return _requested if _requested is not None else default_threads()


def set_threads(n: int | None = None) -> dict:
    """Apply ``n`` threads (default: :func:`requested`) everywhere; return :func:`report`."""
    global _requested, _limiter
    from threadpoolctl import threadpool_limits

    n = requested() if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"thread count must be a positive integer, got {n!r}")
    _requested = n
    _limiter = threadpool_limits(limits=n, user_api="blas")
    from ..backends import loaded_backends

    for module in loaded_backends():
        module.set_threads(n)
    return report()


def report() -> dict:
    """Thread counts actually in force: BLAS pools and each loaded backend's."""
    from threadpoolctl import threadpool_info

    from ..backends import loaded_backends

    out = {"requested": requested()}
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            out[f"blas_{pool.get('internal_api')}"] = pool.get("num_threads")
    for module in loaded_backends():
        out.update(module.thread_counts())
    return out


def loaded_frameworks() -> list[str]:
    return [m for m in ("torch", "tensorflow") if m in sys.modules]
