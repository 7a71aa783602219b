"""The report's timeline: each benchmark group over the runs of one machine, when it has 3 runs or more.

The same timeline as ``lenet history`` (:mod:`lenet.study.timeline`): runs ordered by commit time, each
benchmark's median and interval, change points found by Apache Otava on unflagged runs and kept only when the
bootstrap judge confirms them.  One plot per machine label and benchmark group.
"""
from __future__ import annotations

from pathlib import Path

from ..study.timeline import MIN_RUNS, TimelineError, build_timeline, describe_change
from . import plots as P
from .sections.core import Section


def timeline_section(labelled: list, label_of, out: Path, threshold: float) -> Section | None:
    """A section of timeline plots, one per machine label with :data:`MIN_RUNS` runs or more and group (change
    points confirmed beyond ``threshold``, a fraction); None when no label has that many runs."""
    by_label: dict[str, list] = {}
    for label, run in labelled:
        by_label.setdefault(label_of(label, run), []).append(run)
    section = Section("timeline", "Timeline", f"Machines with {MIN_RUNS} runs or more: each benchmark group over "
                      f"the runs, by commit time, as `lenet history` shows it; change points by Apache Otava on "
                      f"unflagged runs, kept when the bootstrap judge confirms them.")
    for label, runs in by_label.items():
        if len(runs) < MIN_RUNS:
            continue
        try:
            timeline = build_timeline(runs, threshold=threshold, where=label)
        except TimelineError as e:
            section.bullets.append(f"{label}: no timeline: {e}")
            continue
        groups: dict[str, list] = {}
        for s in timeline.series:
            groups.setdefault(s.group or "(no group)", []).append(s)
        for group, series in groups.items():
            section.plots.append(P.plot_timeline(series, len(timeline.runs), label, group, out))
        section.bullets += [f"{label}, `{s.name}`: change point at {describe_change(c)}"
                            for s in timeline.series for c in s.change_points if c.confirmed]
    return section if section.plots or section.bullets else None
