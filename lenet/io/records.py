"""Runs flattened into records: one per benchmark, labelled by the machine it is reported under.

A *record* is one :class:`~lenet.entry.Entry` with the run it came from and its machine label.  Runs that
share a label (the same machine, or the same ``--label``) are merged: where a benchmark appears in several of
them (matched by fullname and params), the newest run's entry wins, so a storage folder reads as "the latest
figure of every benchmark ever run there".  The report reads records; so does the bench's end-of-session
summary (:mod:`lenet.report.summary`), from benchmarks not saved yet, through :func:`records_of`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from ..entry import Entry
from .history import Run


@dataclass(frozen=True)
class Record(Entry):
    """One benchmark as the report sees it: its entry, the machine label it is reported under, and its run
    (None for a session's benchmarks that no history holds yet)."""

    label: str = ""  # machine label (``--label`` or derived from machine_info)
    run: Run | None = None

    @classmethod
    def of(cls, entry: Entry, label: str, run: Run | None = None) -> Record:
        return cls(**{f.name: getattr(entry, f.name) for f in fields(Entry)}, label=label, run=run)


def records_of(label: str, entries: Iterable[Entry], run: Run | None = None) -> list[Record]:
    """``entries`` as records under ``label``, one per benchmark (a later entry of the same benchmark wins)."""
    chosen = {}
    for entry in entries:
        chosen[entry.key] = Record.of(entry, label, run)
    return list(chosen.values())


def gpu_names(run: Run) -> list[str]:
    """GPU names from ``machine_info['lenet']`` ("gpu"/"gpus"), else ["GPU"] when a backend saw a non-CPU device."""
    info = run.machine.get("lenet") or {}
    gpu = info.get("gpu") or info.get("gpus")
    if gpu:
        return [gpu] if isinstance(gpu, str) else list(dict.fromkeys(str(g) for g in gpu))
    seen = any(str(d).lower() != "cpu" for key, value in info.items() if key.endswith("_devices")
               and isinstance(value, list) for d in value)
    return ["GPU"] if seen else []


def machine_label(run: Run) -> str:
    """``node (cpu brand, GPU names)``: what tells a CPU box from a GPU box."""
    node = run.machine.get("node") or "?"
    brand = (run.machine.get("cpu") or {}).get("brand_raw")
    parts = [p for p in [brand, *gpu_names(run)] if p]
    return f"{node} ({', '.join(parts)})" if parts else node


def flatten(labelled_runs: list[tuple[str | None, Run]]) -> tuple[list[Record], dict]:
    """Records from ``[(label or None, run), ...]``, newest run winning per label and benchmark.

    Returns the records (in label order of first appearance, then run order)
    and ``{id(run): number of its benchmarks used}``.
    """
    by_label: dict[str, list[Run]] = {}
    for label, run in labelled_runs:
        by_label.setdefault(label or machine_label(run), []).append(run)
    records, used = [], {id(run): 0 for _, run in labelled_runs}
    for label, runs in by_label.items():
        chosen: dict[tuple, Record] = {}
        for run in sorted(runs, key=lambda r: r.datetime):  # stable: equal datetimes keep load order
            chosen.update((rec.key, rec) for rec in records_of(label, run.entries, run))
        for rec in chosen.values():
            used[id(rec.run)] += 1
        records += chosen.values()
    return records, used


def labels_of(records: list[Record]) -> list[str]:
    return list(dict.fromkeys(r.label for r in records))


def in_section(records: list[Record], section: str) -> list[Record]:
    return [r for r in records if r.section == section]
