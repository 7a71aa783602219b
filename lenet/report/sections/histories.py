"""The tables that say where the figures come from: each history file read (machine, commit, CPU, how many of
its benchmarks the report used) and the wall time of each part of each session.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...io.history import Run
from ..markdown import Column, Table, code, integer, sig, text


@dataclass(frozen=True)
class RunRow:
    """One history's run under its machine label, and how many of its benchmarks the report used."""

    label: str
    run: Run
    used: int


@dataclass(frozen=True)
class PartTime:
    """The wall time of one part of one run's session (a bench file, model training, the total)."""

    label: str
    run: str  # the history file's name
    part: str
    seconds: float


def histories_table(labelled_runs: list, used: dict, label_of) -> Table:
    """Each history read: machine, file(s), when, commit, CPU, and how many of its benchmarks were used."""
    rows = [RunRow(label_of(label, run), run, used.get(id(run), 0)) for label, run in labelled_runs]
    commit = lambda r: ((r.run.commit.get("id") or "")[:10] +  # noqa: E731
                        (" (dirty)" if r.run.commit.get("dirty") else "")) or None
    return Table([
        Column("machine", lambda r: r.label, text, left=True),
        Column("file", lambda r: ", ".join(p.name for p in r.run.files), code, left=True),  # a run's shards
        Column("saved (UTC)", lambda r: r.run.datetime[:19] or None, text, left=True),
        Column("commit", commit, text, left=True),
        Column("CPU", lambda r: (r.run.machine.get("cpu") or {}).get("brand_raw"), text, left=True),
        Column("cores", lambda r: (r.run.machine.get("cpu") or {}).get("count"), integer),
        Column("python", lambda r: r.run.machine.get("python_version"), text),
        Column("benchmarks", lambda r: len(r.run.entries), integer),
        Column("used", lambda r: r.used, integer),
    ], rows, note="Runs sharing a machine label are merged: where one benchmark appears in several, the newest "
                  "run's figure is used ('used' counts them).")


def parts_table(labelled_runs: list, label_of) -> Table | None:
    """The wall time of each part of each run's session (bench files, model training, the total), when recorded."""
    rows = [PartTime(label_of(label, run), run.path.name, part, seconds)
            for label, run in labelled_runs
            for part, seconds in (run.session.get("parts_wall_s") or {}).items()]
    if not rows:
        return None
    return Table([
        Column("machine", lambda r: r.label, text, left=True, collapsible=True),
        Column("run", lambda r: r.run, code, left=True, collapsible=True),  # several runs: which one
        Column("part", lambda r: r.part, text, left=True),
        Column("wall time (s)", lambda r: r.seconds, sig),
    ], rows, caption="Wall time per part",
        note="Each bench file's tests from start to end; 'model training' is the time spent training models that "
             "were not in the model cache, taken out of the tests that first needed them.")
