"""Refuse an allocation that cannot fit before making it, with an error that says how big it would be.

A corrupt header (a weight file claiming terabytes), a typo (``--input-size
100000``) or a label of 100,000,000 would otherwise end in a ``MemoryError``
from deep inside NumPy, or in the kernel's OOM killer.  Callers estimate the
bytes first and call :func:`require_fits` with their own error type.
"""
from __future__ import annotations

import psutil


def available_bytes() -> int:
    """Memory the system could hand out now (psutil's ``available``: free plus reclaimable cache)."""
    return int(psutil.virtual_memory().available)


_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")


def human(nbytes: float) -> str:
    """``1.5 GiB``, ``300 bytes``: binary units, as the OOM messages of the kernel and NumPy use."""
    value, step = float(nbytes), 0
    while value >= 1024 and step < len(_UNITS) - 1:
        value, step = value / 1024, step + 1
    return f"{value:,.0f} bytes" if step == 0 else f"{value:,.1f} {_UNITS[step]}"


def require_fits(nbytes: int, what: str, error: type[Exception], hint: str = "") -> None:
    """Raise ``error`` when ``nbytes`` for ``what`` exceed the memory available now."""
    available = available_bytes()
    if nbytes > available:
        raise error(f"{what} would need {human(nbytes)} of memory, but only {human(available)} is available"
                    + (f"; {hint}" if hint else ""))
