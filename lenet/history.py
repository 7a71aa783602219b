"""Reading pytest-benchmark histories (the JSON files ``--benchmark-autosave`` writes).

Accepts a file or a storage folder (every ``*.json`` below it, newest last).
Anything that is not a pytest-benchmark history gets a clear error naming
the file.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


class HistoryError(ValueError):
    """A file that is not a readable pytest-benchmark history."""


@dataclass(frozen=True)
class Run:
    """One saved session: where it came from, its machine info and its benchmarks."""

    path: Path
    machine: dict
    commit: dict
    datetime: str
    benchmarks: list  # pytest-benchmark entries: name, group, params, stats, extra_info

    @property
    def label(self) -> str:
        node = self.machine.get("node", "?")
        gpu = (self.machine.get("lenet") or {}).get("gpu")
        return f"{node}{' ' + gpu if gpu else ''} {self.datetime[:19]}"


def load_run(path: str | os.PathLike) -> Run:
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HistoryError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HistoryError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list) or "machine_info" not in doc:
        raise HistoryError(f"{path}: not a pytest-benchmark history (expected keys 'machine_info' and "
                           f"'benchmarks')")
    for i, b in enumerate(doc["benchmarks"]):
        if not isinstance(b, dict) or not {"name", "stats", "extra_info"} <= set(b):
            raise HistoryError(f"{path}: benchmarks[{i}] lacks 'name', 'stats' or 'extra_info'")
        if not isinstance(b["stats"], dict) or "median" not in b["stats"]:
            raise HistoryError(f"{path}: benchmarks[{i}] ({b.get('name')}): stats has no 'median'")
    return Run(path, doc["machine_info"], doc.get("commit_info") or {}, doc.get("datetime", ""), doc["benchmarks"])


def load_runs(paths) -> list[Run]:
    """Runs from files and storage folders, in the order given (folders: sorted by file name)."""
    runs = []
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(p.rglob("*.json"))
            if not files:
                raise HistoryError(f"{p}: folder holds no pytest-benchmark .json files")
            runs += [load_run(f) for f in files]
        else:
            runs.append(load_run(p))
    return runs
