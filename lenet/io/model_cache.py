"""Train a model once, then load it: the cache behind the bench fixtures.

The key hashes everything that decides the trained weights: the spec, the
dataset (name and a fingerprint of its arrays), the training config, the
backend, the device kind and the package version.  Entries are ``.npz`` weight
files written atomically, with the training history and time in their
metadata, so a cached run still reports its training curves.  An entry that
cannot be read, that does not match its key, or whose content no longer
matches its digest (:mod:`lenet.io.weights`: weights zeroed or history edited
on disk), is retrained with a warning, never trusted.  Something else at an
entry's path (a folder) is refused before training: it is not lenet's to
replace.

Concurrent sessions (two terminals, two CI jobs on one runner) share the
cache safely: each entry has a lock file beside it (``.<entry>.lock``, a
``filelock`` lock, which the kernel drops if its holder dies), held from the
look-up to the write.  A session that finds the lock taken waits for it,
telling its ``on_wait`` callback (the bench shows it on the progress line),
then loads what the other session trained: each model is trained once.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from .. import __version__
from ..backends import Model
from ..spec import Arch
from ..training import TrainConfig
from . import weights as wio
from .history_checks import FieldError, history_rows, non_negative_number
from .paths import CacheError, CacheWarning, cache_dir
from .regular_file import kind_of


def default_cache_dir() -> Path:
    """``<cache root>/models`` (:mod:`lenet.io.paths`)."""
    return cache_dir("models")


def dataset_fingerprint(data) -> str:
    """Short hash of a dataset's splits, so a changed loader never reuses stale weights."""
    h = hashlib.blake2b(digest_size=12)
    for arr in (data.x_train, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test):
        h.update(str(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).data)
    return h.hexdigest()


def cache_key(arch: Arch, data, config: TrainConfig, backend: str, device: str) -> str:
    payload = {
        "arch": arch.to_dict(), "dataset": data.name, "data": dataset_fingerprint(data),
        "config": config.to_dict(), "backend": backend, "device": "gpu" if device != "cpu" else "cpu",
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def _check_meta(meta: dict, key: str, path: Path) -> None:
    """Raise WeightsError unless ``meta`` is what :func:`train_or_load` wrote for ``key``."""
    if meta.get("key") != key:
        raise wio.WeightsError(f"{path}: metadata key {meta.get('key')!r} does not match {key!r}")
    for field, check in (("history", history_rows), ("train_seconds", non_negative_number)):
        if field not in meta:
            raise wio.WeightsError(f"{path}: metadata lacks '{field}'")
        try:
            check(meta[field])
        except FieldError as e:
            raise wio.WeightsError(f"{path}: metadata '{field}' is {str(meta[field])[:60]!r}; expected {e}") from None


@dataclass
class TrainedModel:
    model: Model
    history: list  # per-epoch dicts (see lenet.training.History)
    train_seconds: float  # wall time of the whole training call
    cached: bool
    key: str


@contextlib.contextmanager
def entry_lock(path: Path, on_wait: Callable[[str | None], None] | None = None):
    """Hold the lock of the cache entry ``path``; while another session holds it, wait, telling ``on_wait``
    what is awaited (and ``None`` once the lock is taken)."""
    lock = FileLock(path.with_name(f".{path.name}.lock"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if on_wait:
                on_wait(f"waiting for another session to train {path.name}")
            try:
                lock.acquire()
            finally:
                if on_wait:
                    on_wait(None)
    except OSError as e:  # a read-only cache, outside the bench's check before the session
        raise CacheError(f"{lock.lock_file}: cannot lock the model cache entry ({e.strerror or e})") from None
    try:
        yield
    finally:
        lock.release()


def train_or_load(backend, arch: Arch, data, config: TrainConfig, device: str = "cpu",
                  cache_dir: str | os.PathLike | None = None, progress: bool = True,
                  backend_name: str | None = None,
                  on_wait: Callable[[str | None], None] | None = None) -> TrainedModel:
    """Load the trained model for this key from ``cache_dir``, or train and store it (under the entry's lock,
    see the module docstring; ``on_wait`` hears of a wait for it)."""
    name = backend_name or backend.NAME
    key = cache_key(arch, data, config, name, device)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{name}-{arch.name}-{data.name}")[:80]
    path = Path(cache_dir or default_cache_dir()) / f"{slug}-{key}.npz"
    if path.exists() and not path.is_file():
        raise CacheError(f"{path}: a model cache entry, but {kind_of(path.stat().st_mode)}, not a weight file; "
                         f"remove it, or choose another --model-cache")
    with entry_lock(path, on_wait):
        if path.exists():
            try:
                found, weights, meta = wio.load(path, require_digest=True)
                _check_meta(meta, key, path)
                wio.require_same_arch(arch, found, str(path))
                model = backend.build(arch, seed=config.seed, device=device)
                backend.set_weights(model, weights)
                return TrainedModel(model, meta["history"], meta["train_seconds"], True, key)
            except wio.WeightsError as e:  # load and _check_meta report every fault of an entry as one
                warnings.warn(f"ignoring unusable cache entry, retraining: {e}", CacheWarning, stacklevel=2)
        model = backend.build(arch, seed=config.seed, device=device)
        start = time.perf_counter()
        history = backend.train(model, data, config, progress=progress)
        seconds = time.perf_counter() - start
        rows = history.to_list()
        wio.save(path, arch, backend.get_weights(model),
                 {"key": key, "history": rows, "train_seconds": seconds, "backend": name, "dataset": data.name,
                  "config": config.to_dict()})
        return TrainedModel(model, rows, seconds, False, key)
