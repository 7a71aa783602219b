"""Refuse an output that cannot be written before any work is done for it, not after an hour of benchmarks;
save the bench's histories one session at a time.

A read-only folder (a read-only mount, a folder without write permission, a
path under a file or in ``/proc``) would otherwise surface only when the first
model is cached or when pytest-benchmark saves the history at the end of the
session.  :func:`require_writable` finds the nearest existing folder of a path
(missing ones are created when writing) and creates, then drops, a temporary
file in it: permissions, read-only mounts and ACLs all answer the same way a
real write would.  Callers pass their own error type, as with
:func:`lenet.io.memory_budget.require_fits`.

pytest-benchmark names a saved history ``<next free number>_<commit>_<start time, to the second>.json``
and finds the free number just before it writes: two sessions of one commit, started in the same second
(two CI jobs on one runner) and ending together, would pick the same name, and one history would
overwrite the other or fail.  :func:`storage_lock` is held around the save, so the second session looks
for the free number only after the first has taken it.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from filelock import FileLock


def require_writable(path: str | os.PathLike, what: str, error: type[Exception], *, folder: bool = False) -> None:
    """Raise ``error`` naming ``what`` and ``path`` unless a file (or, with ``folder``, files in a folder)
    can be written at ``path``."""
    target = Path(path)
    if folder and target.exists() and not target.is_dir():
        raise error(f"{what} {path}: is not a folder")
    if not folder and target.is_dir():
        raise error(f"{what} {path}: is a folder; give a file name")
    existing = target if folder else target.parent
    while not existing.exists():  # missing folders are created when writing
        existing = existing.parent
    if not existing.is_dir():
        raise error(f"{what} {path}: {existing} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise error(f"{what} {path}: cannot write in {existing} ({e.strerror or e})") from None


def storage_folder(uri: str) -> Path | None:
    """The folder of a pytest-benchmark ``--benchmark-storage`` value (``file://PATH`` or a bare path, as its
    ``load_storage`` reads it); None for a storage that is not a folder (elasticsearch)."""
    if "://" not in uri:
        return Path(uri)
    return Path(uri.removeprefix("file://")) if uri.startswith("file://") else None


def require_bench_outputs_writable(model_cache: str | os.PathLike, storage: str | None,
                                   json_path: str | os.PathLike | None, error: type[Exception]) -> None:
    """Raise ``error`` unless the bench session can write its outputs: the model cache, the history's folder
    (pytest-benchmark's per-machine folder in ``storage``, the ``--benchmark-storage`` value; None when the
    session saves no history) and ``--benchmark-json``.  Called from the bench's ``pytest_configure``."""
    require_writable(model_cache, "--model-cache", error, folder=True)
    folder = storage_folder(storage) if storage else None
    if folder is not None:
        from pytest_benchmark.utils import get_machine_id  # where FileStorage saves: <storage>/<machine id>/

        require_writable(folder / get_machine_id(), "--benchmark-storage", error, folder=True)
    if json_path is not None:
        require_writable(json_path, "--benchmark-json", error)


def storage_lock(storage: str | None):
    """The lock a session holds while it saves its history in ``storage`` (a ``--benchmark-storage`` value),
    ``.lenet-save.lock`` in that folder; a lock that does nothing when the session saves no file there."""
    folder = storage_folder(storage) if storage else None
    return FileLock(folder / ".lenet-save.lock") if folder is not None else contextlib.nullcontext()
