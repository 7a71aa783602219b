"""One cache root for everything lenet-bench downloads, decodes or trains, and one warning for a bad entry.

The root is ``$LENET_CACHE`` when it is set and not empty (an empty value counts as unset, rather than
meaning the working directory), else ``~/.cache/lenet-bench``.  Each kind of entry has its own folder:

* ``<root>/<dataset>/``  idx files downloaded for ``mnist``, ``fashion-mnist``, ``kmnist`` (:mod:`lenet.data`);
* ``<root>/imagelist/``  decoded image lists (:mod:`lenet.data.imagelist`);
* ``<root>/models/``     trained models of the bench (:mod:`lenet.io.model_cache`; ``--model-cache`` overrides).

A cache entry is never trusted blindly: one that is unreadable, inconsistent with its key or altered since it was
written (its content digest) is rebuilt, and a :class:`CacheWarning` names it.  A cache that cannot be used at all
(not a folder, not writable, an entry that is a folder) is a :class:`CacheError`, raised before any work for it.
"""
from __future__ import annotations

import os
from pathlib import Path


class CacheWarning(UserWarning):
    """A cache entry was unusable (unreadable or inconsistent with its key) and has been rebuilt."""


class CacheError(OSError):
    """A cache that cannot be used at all: refused with the path named, since rebuilding it cannot help."""


def cache_root() -> Path:
    """``$LENET_CACHE`` if set and not empty, else ``~/.cache/lenet-bench`` (read at each call)."""
    return Path(os.environ.get("LENET_CACHE") or Path.home() / ".cache" / "lenet-bench")


def cache_dir(name: str) -> Path:
    """The cache folder for entries of kind ``name`` (a dataset name, ``"imagelist"``, ``"models"``)."""
    return cache_root() / name
