"""The overall-performance table printed at the end of a bench session: the report's own headline table
(:func:`lenet.report.sections.overall.overall_section`), built from the session's benchmarks, typed as a saved history's
entries are, before any history holds them."""
from __future__ import annotations

from ..entry import Entry
from ..io.records import records_of
from .sections.core import Context
from .sections.overall import overall_rows, overall_section


def history_entry(benchmark) -> Entry | None:
    """A pytest-benchmark fixture as the entry a saved history would hold (None: it was not timed)."""
    stats = getattr(benchmark, "stats", None)
    if stats is None:
        return None
    return Entry.parse({"name": benchmark.name, "fullname": benchmark.fullname, "group": benchmark.group,
                        "params": benchmark.params or {}, "stats": {"median": stats.stats.median},
                        "extra_info": benchmark.extra_info})


def format_summary(benchmarks, label: str = "this session") -> str | None:
    """The headline and the sizes-and-work tables of ``benchmarks`` (pytest-benchmark fixtures) as aligned
    text; None when none of them belongs to the headline's groups (accuracy, inference, training, memory, FLOPs)."""
    records = records_of(label, [e for e in map(history_entry, benchmarks) if e is not None])
    if not overall_rows(records):
        return None
    section = overall_section(records, Context(labels=(label,)))
    return "\n\n".join(table.to_text() for table in section.tables)


def headline(study) -> tuple[str, str] | None:
    """(title, tables) of a bench session's overall-performance table (a :class:`lenet.study.session.Study`);
    None when no benchmark of its groups ran."""
    tables = format_summary(study.benchmarks)
    if tables is None:
        return None
    return f"lenet-bench overall performance ({study.options.dataset}, profile {study.options.profile})", tables
