"""Atomic file writes: a crash leaves either the old file or the new one, never half of one.

Temporary files.  A write goes to ``.<name>.<random>.part`` beside the target,
and the writer holds an exclusive ``flock`` on it from creation to the final
rename.  A writer killed with ``kill -9`` cannot remove its temporary file, but
the kernel drops its lock.  So every write first sweeps the temporary files of
the same target: one whose lock can be taken belongs to no living writer and
is deleted; one still locked belongs to a concurrent writer and is left alone.
Nothing depends on clocks or process ids, so concurrent writers (threads or
processes, on one machine) never remove each other's files.  The one race --
a sweeper deleting a file in the instant between its creator's ``mkstemp``
and ``flock`` -- is closed by the creator: once it holds the lock it checks
that its file still has a name (``st_nlink``), and starts again if not.
After the next completed write of a target, no stale temporary file of it
remains.  (On a platform without ``fcntl`` there is no sweep.)

A full disk.  A write that fails with ``ENOSPC`` (or ``EDQUOT``, a quota)
removes its temporary file like any failed write, so the previous file is
left as it was, and raises :class:`DiskFull` naming the file, the space it
needs (exactly, when the caller gave the size; otherwise at least what was
written before the disk filled) and the space free in its folder.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

from .memory_budget import human

try:
    import fcntl
except ImportError:  # not POSIX: no locks, hence no sweep
    fcntl = None


def _prefix(path: Path) -> str:
    return f".{path.name}."


def _lock(fd: int, blocking: bool = True) -> bool:
    """Take the exclusive lock on ``fd``; False if ``blocking`` is off and another holds it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def sweep_stale(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of ``path`` that no living writer holds; return those deleted."""
    path = Path(path)
    removed = []
    if fcntl is None or not path.parent.is_dir():
        return removed
    for tmp in path.parent.glob(f"{_prefix(path)}*.part"):
        try:
            fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:  # gone already, or not ours to open (a symlink, no permission)
            continue
        try:
            if _lock(fd, blocking=False) and os.fstat(fd).st_nlink:
                os.unlink(tmp)  # still holding the lock: its creator cannot be mid-check
                removed.append(tmp)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _locked_temp(path: Path) -> tuple[int, str]:
    """A new temporary file beside ``path``, open and locked by this writer."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=".part", dir=path.parent)
        _lock(fd)
        if os.fstat(fd).st_nlink:
            return fd, tmp
        os.close(fd)  # a sweeper removed it before we locked it: make another


class DiskFull(OSError):
    """A write ran out of space (``ENOSPC``/``EDQUOT``); its message says how much it needs and how much is free."""


_FULL = (errno.ENOSPC, errno.EDQUOT)


def _disk_full(path: Path, written: int, size: int | None) -> DiskFull:
    needs = human(size) if size is not None else f"more than the {human(written)} written before the disk filled"
    free = shutil.disk_usage(path.parent).free
    kept = f"; the previous {path.name} is left as it was" if path.exists() else ""
    return DiskFull(errno.ENOSPC, f"no space left on the device to write it: it needs {needs}, with {human(free)} "
                                  f"free in {path.parent}{kept}", str(path))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, size: int | None = None):
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    The temporary file lives in the destination folder so that ``os.replace``
    is a same-filesystem rename.  On any exception it is removed; a full disk
    is reported as :class:`DiskFull` (``size``: the bytes the caller will write,
    when it knows).  Stale temporary files of ``path`` left by killed writers
    are swept first (see the module docstring).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path)
    fd, tmp = _locked_temp(path)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the mode open() would
        os.replace(tmp, path)
    except BaseException as e:
        written = os.fstat(fd).st_size  # how far the write got, read before the file goes
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno in _FULL:
            os.ftruncate(fd, 0)  # still open, its blocks are still in use: free them before measuring free space
            raise _disk_full(path, written, size) from e
        raise
    finally:
        os.close(fd)  # releases the lock, after the rename


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask can only be read by setting it


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path, size=len(data)) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))
