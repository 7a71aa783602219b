"""Reading pytest-benchmark histories (the JSON files ``--benchmark-autosave`` writes).

Accepts a file or a storage folder (every ``*.json`` below it, newest last).
Only regular files are read: in a folder, a FIFO, a folder or a broken or
looping symlink named ``*.json`` is skipped with a :class:`HistoryNote`; named
directly, it is refused.  Nothing waits on a FIFO.  Anything that is not a
pytest-benchmark history, or holds a field of the wrong type or range (see
:mod:`lenet.io.history_checks`), gets a clear error naming the file, the
benchmark and the field.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..entry import Entry
from .history_checks import check_document
from .regular_file import kind_of, read_regular

DIGESTED = ("machine_info", "commit_info", "datetime", "benchmarks")  # what lenet_session.content_sha256 covers


def content_digest(doc: dict) -> str:
    """sha256 of a history's content (:data:`DIGESTED`, as canonical JSON): written by the bench into
    ``lenet_session.content_sha256`` and checked on load, so a history edited after it was saved is refused."""
    canonical = json.dumps({k: doc.get(k) for k in DIGESTED}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class HistoryError(ValueError):
    """A file that is not a readable pytest-benchmark history."""


class HistoryNote(UserWarning):
    """Something in a storage folder that is not a history file and was skipped."""


# What a session measured of the machine; kept in machine_info["lenet"] by histories written before the
# top-level "lenet_session" existed (pytest-benchmark compares machine_info between runs, so they moved out).
SESSION_FIELDS = ("ceiling", "probe_reference_s", "probe_reference_readings_s", "noise_bounds", "parts_wall_s")


@dataclass(frozen=True)
class Run:
    """One saved session: where it came from, its machine info, its own measurements and its benchmarks.

    ``session`` is the history's top-level ``lenet_session``: what the session measured of the machine (the
    ceiling, the probe's readings, the wall time per part; older histories kept these in ``machine_info.lenet``),
    the run id that the shards of one run share and which shard this is (:mod:`lenet.io.shards`).  A run merged
    from shards keeps its first shard's ``path`` and lists every shard file in ``sources``.  Readers read
    :attr:`entries`; ``benchmarks`` keeps the rows as saved, for what works on the file itself (merging shards).
    """

    path: Path
    machine: dict
    commit: dict
    datetime: str
    benchmarks: list  # pytest-benchmark's rows as saved: name, group, params, stats, extra_info
    session: dict = field(default_factory=dict)
    sources: tuple = ()

    @cached_property
    def entries(self) -> tuple[Entry, ...]:
        """The benchmarks, typed and migrated to today's rules (:meth:`lenet.entry.Entry.parse`), parsed once."""
        return tuple(map(Entry.parse, self.benchmarks))

    @property
    def files(self) -> tuple:
        """Every history file this run was read from (its shards', or its own)."""
        return self.sources or (self.path,)

    @property
    def label(self) -> str:
        node = self.machine.get("node", "?")
        gpu = (self.machine.get("lenet") or {}).get("gpu")
        return f"{node}{' ' + gpu if gpu else ''} {self.datetime[:19]}"


def load_run(path: str | os.PathLike) -> Run:
    """The history in the file ``path``, every field the readers use checked."""
    path = Path(path)
    try:
        data = read_regular(path)
    except FileNotFoundError:
        raise HistoryError(f"{path}: no such file") from None
    except OSError as e:
        raise HistoryError(f"{path}: cannot read it: {e.strerror or e}") from None
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise HistoryError(f"{path}: not UTF-8 text, so not a JSON history ({e.reason} at byte {e.start})") from None
    except ValueError as e:  # JSONDecodeError, and integers too long to convert
        raise HistoryError(f"{path}: not valid JSON ({e})") from None
    except RecursionError:
        raise HistoryError(f"{path}: not a pytest-benchmark history (JSON nested too deeply to read)") from None
    check_document(doc, path, HistoryError)
    recorded = (doc.get("lenet_session") or {}).get("content_sha256")
    if recorded is not None and recorded != content_digest(doc):
        raise HistoryError(f"{path}: content does not match its lenet_session.content_sha256 (the history was "
                           "edited after the bench saved it), so its figures cannot be trusted; if you edited it on "
                           "purpose, delete that field")
    legacy = doc["machine_info"].get("lenet") or {}
    session = doc.get("lenet_session") or {k: legacy[k] for k in SESSION_FIELDS if k in legacy}
    return Run(path, doc["machine_info"], doc.get("commit_info") or {}, doc.get("datetime") or "", doc["benchmarks"],
               session)


def _history_files(folder: Path) -> list[Path]:
    """The regular ``*.json`` files below ``folder``, sorted; anything else so named is skipped with a note."""
    files = []
    for p in sorted(folder.rglob("*.json")):
        try:
            mode = p.stat().st_mode
        except OSError as e:  # a broken or looping symlink
            warnings.warn(f"skipping {p}: {e.strerror or e}", HistoryNote, stacklevel=3)
            continue
        if stat.S_ISREG(mode):
            files.append(p)
        else:
            warnings.warn(f"skipping {p}: {kind_of(mode)}, not a history file", HistoryNote, stacklevel=3)
    return files


def load_runs(paths) -> list[Run]:
    """Runs from files and storage folders, in the order given (folders: sorted by file name); the shards of
    one run (one run id) are merged into one run, in the place of its first file (:func:`merge_shards`)."""
    from .shards import merge_shards  # here: shards builds on this module's Run

    runs = []
    for p in map(Path, paths):
        if p.is_dir():
            files = _history_files(p)
            if not files:
                raise HistoryError(f"{p}: folder holds no pytest-benchmark .json files")
            runs += [load_run(f) for f in files]
        else:
            runs.append(load_run(p))
    return merge_shards(runs)
