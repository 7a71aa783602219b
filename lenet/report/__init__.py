"""``lenet report``: pytest-benchmark histories -> a README-ready markdown report, one self-contained HTML page,
PNG plots and one CSV per table.

    from lenet.report import build_report
    report = build_report([".benchmarks/cpu", ".benchmarks/gpu"], "report/", labels=["cpu box", "gpu box"])

Modules, one concern each:

* :mod:`.markdown`: number formats (units in headers, never in cells), tables and the markdown document;
* :mod:`.sections`: one module per section (overall, accuracy, inference, ...) and their shared core;
* :mod:`.findings`: "What this run shows", sentences generated from the records with their figures;
* :mod:`.plots`: matplotlib figures on the Agg canvas, written atomically;
* :mod:`.html`: the same sections as one HTML page (plots embedded, sortable tables, no network);
* :mod:`.csv_out`: every table as CSV, raw figures;
* :mod:`.compare`: the two runs to compare and the table of :mod:`lenet.study.compare`'s verdicts;
* :mod:`.timeline`: per machine with 3 runs or more, each group over the runs with its change points;
* :mod:`.summary`: the headline table the bench prints at the end of a session, from benchmarks not saved yet;
* :mod:`.errors`: what the report refuses (one line, exit status 2).

The records come from :mod:`lenet.io.records` (histories' typed entries, labelled by machine).

A section appears only when the histories hold its group; the others are
listed under "Not run in these histories".  Nothing is estimated or filled in.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import schema
from ..io.atomic import write_text
from ..io.history import Run, load_runs
from ..io.records import Record, flatten, in_section, labels_of, machine_label
from ..study.compare import Comparison, Verdict, compare_runs
from . import csv_out
from . import plots as P
from .compare import pick_pair, verdicts_table
from .errors import ReportError
from .findings import Finding, findings
from .html import page
from .markdown import document, text
from .sections import core as T
from .sections.histories import histories_table, parts_table
from .sections.overall import CORE_SECTIONS, overall_section
from .sections.roofline import roofline_section
from .sections.speed_targets import speed_section
from .timeline import timeline_section

__all__ = ["Report", "ReportError", "build_report", "load_labelled", "render"]

README = "README.md"
HTML = "index.html"
TITLE = "lenet-bench report"

CORE = CORE_SECTIONS
# Document sections that are not benchmark groups: the markdown and the page both have them.
FRAME = ("findings", "histories", "timeline", "conventions", "comparison", "not-run", "other")


@dataclass
class Report:
    readme: Path
    markdown: str
    sections: list  # tables.Section of the benchmark groups (and overall, speed, roofline), in order
    not_run: list[str]  # titles of sections whose groups no history holds
    plots: list  # plots.PlotInfo
    records: list[Record]
    comparison: Comparison | None = None
    other_groups: list[str] = field(default_factory=list)
    html: Path | None = None
    csv: list[Path] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    document: list = field(default_factory=list)  # every section of the markdown and the page, in order

    @property
    def flagged(self) -> list[Verdict]:
        return self.comparison.flagged if self.comparison else []

    def section(self, key: str):
        return next((s for s in self.document if s.key == key), None)


def load_labelled(histories: Sequence, labels: Sequence | None = None) -> list[list[tuple[str | None, Run]]]:
    """Per HISTORY argument, its runs paired with that argument's label (None: derive from machine_info)."""
    if labels and len(labels) != len(histories):
        raise ReportError(f"{len(labels)} --label name(s) for {len(histories)} history argument(s): give one label "
                          f"per HISTORY, in the same order")
    labels = list(labels or [None] * len(histories))
    return [[(label, run) for run in load_runs([h])] for h, label in zip(histories, labels)]


def _group_names(section: str) -> str:
    return " or ".join(f"`{p}…`" if p in ("inference", "train-epoch", "graph", "mlp-sweep") else f"`{p}`"
                       for p in schema.sections()[section].prefixes)


def render(per_arg: list[list[tuple[str | None, Run]]], out: str | os.PathLike, compare: bool = False,
           threshold_time: float = 10.0) -> Report:
    labelled = [pair for pairs in per_arg for pair in pairs]
    comparison = None
    if compare:  # checked first: a wrong number of runs fails before anything is written
        base, new = pick_pair([[run for _, run in pairs] for pairs in per_arg])
        beside = [run for pairs in per_arg for _, run in pairs if run is not new]
        comparison = compare_runs([base], [new], threshold=threshold_time / 100, repeats=beside)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records, used = flatten(labelled)

    sections, not_run, plots = [], [], []
    known = [r for r in records if r.section is not None]
    ctx = T.Context(tuple(labels_of(records)), threshold_time)
    if any(r.section in CORE for r in known):
        sections.append(overall_section(known, ctx))
    else:
        not_run.append(f"Overall performance (needs any of {', '.join(_group_names(s) for s in CORE)})")
    speed_sections = set()
    for key, declared in schema.sections().items():  # every declared section, in the schema's order
        recs = in_section(records, key)
        if not recs:
            not_run.append(f"{declared.title} (group {_group_names(key)})")
            continue
        section = schema.resolve(declared.builder)(recs, ctx)
        section.plots = [p for plotter in declared.plots for p in _plot_list(schema.resolve(plotter)(recs, out))]
        sections.append(section)
        if declared.speed:
            speed_sections.add(key)
    # Accuracy against latency and memory (LeNets and MLPs together, as in Study E): under the headline
    # table, or under the MLP sweep when that is all there is.
    tradeoffs = [p for p in (P.plot_accuracy_vs_latency(known, out), P.plot_accuracy_vs_memory(known, out)) if p]
    host = next((s for s in sections if s.key in ("overall", "mlp-sweep")), None)
    if host:
        host.plots += tradeoffs
    timed = [i for i, s in enumerate(sections) if s.key in speed_sections]
    if timed:  # the speed targets and the roofline judge the timed groups together: after the last of them
        roofline = roofline_section(known, ctx)
        if roofline:
            roofline.plots = [p for p in (P.plot_roofline(known, out),) if p]
        sections[timed[-1] + 1:timed[-1] + 1] = [s for s in (speed_section(known, ctx), roofline) if s]
    else:
        not_run.append("Speed targets (groups `inference…` and `train-epoch…`)")
    for s in sections:
        plots += s.plots
    other = sorted({r.group or "(no group)" for r in records if r.section is None})

    label_of = lambda label, run: label or machine_label(run)  # noqa: E731
    found = findings(known, ctx)
    frame = _frame(labelled, used, label_of, found, comparison, not_run, other)
    frame["timeline"] = [s for s in (timeline_section(labelled, label_of, out, threshold_time / 100),) if s]
    plots += [p for s in frame["timeline"] for p in s.plots]
    doc = frame["findings"] + frame["histories"] + frame["timeline"] + frame["conventions"] + sections \
        + frame["comparison"] + frame["not-run"] + frame["other"]
    _name_tables(doc)
    md = document(TITLE, _lead(labelled, label_of, records), doc)
    readme = out / README
    write_text(readme, md)
    csvs = csv_out.write_tables(out, doc)
    html = out / HTML
    write_text(html, page(TITLE, _lead(labelled, label_of, records), doc))
    return Report(readme, md, sections, not_run, plots, records, comparison, other, html, csvs, found, doc)


def _plot_list(made) -> list:
    """A plotter's result as a list: one plot, several, or none."""
    return [p for p in (made if isinstance(made, list) else [made]) if p]


def build_report(histories: Sequence, out: str | os.PathLike, labels: Sequence | None = None, compare: bool = False,
                 threshold_time: float = 10.0) -> Report:
    """Read ``histories`` (files or storage folders) and write ``out/README.md`` plus its PNG plots."""
    return render(load_labelled(histories, labels), out, compare, threshold_time)


def _lead(labelled, label_of, records) -> list[str]:
    labels = labels_of(records) or list(dict.fromkeys(label_of(lbl, run) for lbl, run in labelled))
    datasets = sorted({str(r.get("dataset")) for r in records if r.get("dataset")})
    return [f"Generated by `lenet report` from {len(labelled)} pytest-benchmark run(s) on {len(labels)} machine(s)"
            + (f"; dataset(s): {', '.join(f'`{d}`' for d in datasets)}." if datasets else ".")
            + f" The same report as one page: `{HTML}`; every table as CSV under `{csv_out.FOLDER}/`."]


def _frame(labelled, used, label_of, found, comparison, not_run, other) -> dict:
    """The document's sections that are not benchmark groups, by key (each a list of zero or one section)."""
    S = T.Section
    frame = {key: [] for key in FRAME}
    frame["findings"] = [S("findings", "What this run shows", "Generated from the figures below; each sentence "
                           "quotes the numbers it rests on.", bullets=[f.text for f in found])]
    parts = parts_table(labelled, label_of)
    frame["histories"] = [S("histories", "Histories", tables=[histories_table(labelled, used, label_of),
                                                               *([parts] if parts else [])])]
    frame["conventions"] = [S("conventions", "Conventions", bullets=[
        "Times are pytest-benchmark **medians after warm-up** unless a header says p50/p90/p99; the unit (µs, ms "
        "or s) is in each column header, chosen per column. First-call cost (tracing, compilation) is shown apart.",
        "Figures keep 4 significant digits; the CSV files keep every digit (durations there in seconds).",
        "Accuracies are fractions in [0, 1]; accuracy changes are in percentage points.",
        "Parameter bytes are float32 (4 bytes per parameter); MB = 10^6 bytes, MiB = 2^20 bytes.",
        "MACs are multiply-accumulates per sample, bias excluded (what thop reports); FLOPs state their "
        "convention (`flops` = 2 x MACs; `flops_tf` = 2 x MACs + bias adds + pool reads, TF profiler).",
        "Peak RSS is measured by memory-profiler in a fresh process per backend and phase.",
        "⚠ unstable marks a figure measured on a disturbed machine or too spread to trust: do not quote it.",
        "A dash (-) means the figure was not measured in these histories."])]
    if comparison:
        frame["comparison"] = [_comparison_section(comparison, labelled, label_of)]
    if not_run:
        frame["not-run"] = [S("not-run", "Not run in these histories", "These sections need benchmark groups that "
                              "none of the histories holds; run the bench suites that produce them to fill them in.",
                              bullets=not_run)]
    if other:
        frame["other"] = [S("other", "Other groups", "Other groups in these histories, not rendered: "
                            + ", ".join(f"`{g}`" for g in other))]
    return frame


def _name_tables(sections) -> None:
    """Each table's CSV name: its section key, then its caption's first words; unique within the report."""
    seen: dict[str, int] = {}
    for s in sections:
        for t in s.tables:
            caption = re.sub(r"\(.*?\)", "", t.caption)
            words = re.findall(r"[a-z0-9]+", caption.lower())[:4]
            name = "-".join([s.key, *words])
            seen[name] = seen.get(name, 0) + 1
            t.name = name if seen[name] == 1 else f"{name}-{seen[name]}"


def _comparison_section(comparison: Comparison, labelled, label_of) -> T.Section:
    (base,), (new,) = comparison.base_runs, comparison.new_runs
    names = {id(run): label_of(lbl, run) for lbl, run in labelled}
    who = lambda run: f"{names.get(id(run), machine_label(run))}, `{run.path.name}` ({run.datetime[:19]})"  # noqa
    rows = comparison.verdicts
    intro = (f"Base: {who(base)}  \nNew: {who(new)}\n\n"
             f"Benchmarks matched by fullname and params: {len(rows)}. A time change counts when the "
             f"{comparison.confidence:.0%} bootstrap interval of new/base (ratio of medians, from the raw samples) "
             f"excludes 1 and the ratio is beyond ±{comparison.threshold:.0%}; a benchmark flagged unstable on "
             f"either side is inconclusive; a test top-1 change counts beyond its binomial standard error at the "
             f"test-set size. ⚠ marks a regression; {len(comparison.regressions)} regression(s), "
             f"{len(comparison.flagged)} flagged.")
    after = [f"{what}: " + ", ".join(f"`{text(n)}`" for n in names_)
             for what, names_ in (("Only in base", comparison.only_base), ("Only in new", comparison.only_new))
             if names_]
    return T.Section("comparison", "Comparison", intro, tables=[verdicts_table(rows)] if rows else [],
                     bullets=[f"Note: {n}" for n in comparison.notes], after=after)


def summary_lines(report: Report) -> list[str]:
    """What the CLI prints: where the report went, what it lacks, what the comparison flagged."""
    lines = [f"wrote {report.readme} ({len(report.sections)} section(s), {len(report.plots)} plot(s)), "
             f"{report.html.name} and {len(report.csv)} CSV file(s) under {csv_out.FOLDER}/"]
    if report.not_run:
        lines.append("not run in these histories: " + "; ".join(report.not_run))
    if report.comparison:
        c = report.comparison
        lines.append(f"compared {c.base_runs[0].path.name} -> {c.new_runs[0].path.name}: {len(c.verdicts)} matched, "
                     f"{len(report.flagged)} flagged, {len(c.regressions)} regression(s)")
        lines += [f"  {v.name}: {', '.join(v.flags)}" for v in report.flagged]
    return lines

