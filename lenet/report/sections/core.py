"""What every section of the report shares: the :class:`Section` a builder returns, the :class:`Context` it is
built in, the typed :class:`PartRow` of tables whose rows are not benchmarks, and the columns and orderings
that every table uses alike (machine, backend, arch, device, config; the flag; the timing's spread).

A builder takes the records of its section's groups (never empty: :mod:`lenet.report` renders only the
sections a history holds) and the context, and returns a :class:`Section`.  Values come straight from the
history: pytest-benchmark ``stats`` (seconds, converted to the unit in the header) and ``extra_info``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...backends import BACKENDS
from ...io.records import Record, labels_of
from ...schema import FIELDS
from ..markdown import UNIT, Column, Table, integer, plain, ratio, sig, text

# Fields every benchmark carries (lenet.schema.FIELDS, recorded by the study or the bench): not repeated as
# "other fields" in the data-driven sections.
COMMON_FIELDS = frozenset(f.name for f in FIELDS if f.recorded_by)


@dataclass
class Section:
    """One section of the report: its intro, bullets, tables, paragraphs after them and plots."""

    key: str
    title: str
    intro: str = ""
    tables: list = field(default_factory=list)
    plots: list = field(default_factory=list)  # PlotInfo, added by the orchestrator
    bullets: list = field(default_factory=list)  # a list under the intro (markdown inline)
    after: list = field(default_factory=list)  # paragraphs after the tables


@dataclass(frozen=True)
class Context:
    """What every section needs to know beyond its own records."""

    labels: tuple  # every machine label in the report, in order: a machine column when there are several
    threshold_time: float = 10.0  # percent: a compressed model this much slower is called slower


@dataclass(frozen=True)
class PartRow:
    """A table row that is not one benchmark but a part of one or a summary of several (a phase of a memory
    row, a FLOP counter, a compression level's base, a machine's headline figures): the identity every table
    shows, typed as a record's is, and the row's own figures by field name."""

    label: str
    backend: str
    arch: str
    device: str
    values: dict = field(default_factory=dict)
    record: Record | None = None  # the benchmark the row comes from, when it is one

    @classmethod
    def of(cls, r: Record, values: dict | None = None, record: Record | None = None) -> PartRow:
        """A row with ``r``'s machine label and identity."""
        return cls(r.label, r.backend, r.arch, r.device, dict(values or {}), record)

    def get(self, key: str, default=None):
        value = self.values.get(key, default)
        return default if value is None else value

    @property
    def batch_size(self):
        return self.values.get("batch_size")


def backend_order(name: str) -> tuple:
    """Backends in the registry's order (handcrafted, torch, keras, ...), unknown ones after, by name."""
    return (BACKENDS.index(name) if name in BACKENDS else len(BACKENDS), name)


def sort_key(labels: list[str]):
    """Rows (records or part rows) in label order, then backend, arch, device, batch."""
    def key(r: Record | PartRow):
        batch = r.batch_size
        return (labels.index(r.label) if r.label in labels else len(labels), backend_order(str(r.backend)),
                str(r.arch), str(r.device), batch if isinstance(batch, int | float) else -1)
    return key


def in_order(records: list[Record]) -> list[Record]:
    """``records`` in :func:`sort_key`'s order."""
    return sorted(records, key=sort_key(labels_of(records)))


def machine_column(ctx: Context, label=lambda r: r.label) -> list[Column]:
    """The machine's label as a column, only when the report has several machines."""
    return [Column("machine", label, text, left=True)] if len(ctx.labels) > 1 else []


def id_columns(ctx: Context, with_arch: bool = True) -> list[Column]:
    """machine (only when the report has several), backend, arch, device, training config."""
    cols = machine_column(ctx)
    cols.append(Column("backend", lambda r: r.backend, text, left=True))
    if with_arch:
        cols.append(Column("arch", lambda r: r.arch, text, left=True, collapsible=True))
    cols.append(Column("device", lambda r: r.device, text, left=True, collapsible=True))
    # the training config's name (lenet.study.configs); histories from before configs had names have none
    cols.append(Column("config", lambda r: r.get("config"), text, left=True, collapsible=True, optional=True))
    return cols


def per_second(amount, seconds):
    """``amount / seconds``, or None when either is missing or the time is zero."""
    return amount / seconds if amount is not None and seconds else None


def stat(name: str):
    """A pytest-benchmark statistic, seconds."""
    return lambda r: r.stats.get(name)


def sub_field(key: str, name: str):
    """A field of the mapping ``extra_info[key]`` (``timing``, ``step_timing``, ``instructions``)."""
    return lambda r: (r.get(key) or {}).get(name)


def ms_field(key: str):
    """An extra_info field in ms, as seconds (for a duration column)."""
    return lambda r: None if r.get(key) is None else r.get(key) / 1e3


def median_ci(r: Record):
    """The median's 95% interval (low, high), seconds, or None."""
    ci = (r.get("timing") or {}).get("median_ci95_s")
    return tuple(ci) if ci else None


FLAG = "⚠ unstable"


def flag(r: Record):
    """``⚠ unstable`` for a flagged benchmark (lenet.measure.noise), None otherwise."""
    return FLAG if r.get("unstable") else None


def flag_reasons(r: Record) -> str | None:
    """Why a benchmark was flagged: its reasons, given under the table (a cell holds only the flag)."""
    return "; ".join(r.get("unstable_reasons") or ["flagged"]) if r.get("unstable") else None


def flag_column() -> Column:
    return Column("flag", flag, text, optional=True, left=True, footnote=flag_reasons)


def uncertainty_columns() -> list[Column]:
    """The median's 95% interval, p90 and p99 per call (issue 9's timing fields; optional)."""
    return [
        Column(f"median 95% CI {UNIT}", median_ci, optional=True),
        Column(f"p90 {UNIT}", sub_field("timing", "p90_s"), optional=True),
        Column(f"p99 {UNIT}", sub_field("timing", "p99_s"), optional=True),
    ]


def ratio_column(rows) -> Column:
    """``× <reference> [95% CI]``: how many times faster a row ran than its reference in interleaved rounds
    (``extra_info["ratio"]``, lenet.study.contenders), with the median's interval; the reference is named in the
    header when every row shares it, else in each cell.  Dropped for histories written before ratios."""
    refs = {r.get("ratio")["reference"] for r in rows if r.get("ratio")}
    shared = next(iter(refs)) if len(refs) == 1 else None

    def cell(r):
        x = r.get("ratio")
        if not x:
            return None
        return f"{ratio(x['median'])}{'' if shared else ' ' + x['reference']} [{sig(x['low'], 3)}, {sig(x['high'], 3)}]"

    return Column(f"× {shared or 'reference'} [95% CI]", cell, text, optional=True)


RATIO_NOTE = ("× reference: how many times faster the row ran than its reference, timed side by side in interleaved "
              "rounds on the same input and weights (median of the per-round ratios, 95% interval); read it before "
              "the absolute figures, which were taken minutes apart.")


def extra_fields(records: list[Record], shown: set) -> list[str]:
    """Scalar extra_info keys not common to every benchmark and not already shown, in first-seen order."""
    keys = {}
    for r in records:
        for k, v in r.extra.items():
            if k not in COMMON_FIELDS and k not in shown and (v is None or isinstance(v, str | int | float | bool)):
                keys[k] = None
    return list(keys)


def interleaved_figures(r: Record, pair: tuple) -> str:
    """Two contenders' medians in the same interleaved rounds: throughput for inference, step time for training."""
    if r.get("phase") == "infer":
        return " / ".join(f"{(r.get('throughput') or {}).get(b, 0):,.0f}" for b in pair) + " img/s"
    return " / ".join(f"{(r.get('step_time') or {}).get(b, 0) * 1e3:.2f}" for b in pair) + " ms"


def instructions_table(records: list[Record], ctx: Context, wall) -> Table | None:
    """Instructions and estimated cycles per call beside the call's wall time (``wall``: seconds), or None when
    no record was counted (``--instrument instructions``, :mod:`lenet.measure.instructions`)."""
    counted = [r for r in records if r.get("instructions")]
    if not counted:
        return None
    formula = next(iter(counted)).get("instructions").get("cycles_formula", "")
    count = lambda name: sub_field("instructions", name)  # noqa: E731
    return Table(id_columns(ctx) + [
        Column("batch", lambda r: r.batch_size, plain),
        Column("one call", count("call"), text, left=True),
        Column(f"wall {UNIT} (median)", wall),
        Column("instructions", count("instructions"), integer),
        Column("L1 misses", count("l1_misses"), integer),
        Column("LL misses", count("ll_misses"), integer),
        Column("est. cycles", count("cycles"), integer),
    ], counted, caption="Instructions per call (cachegrind, 1 thread)",
        note=f"Counted under valgrind's cachegrind in fresh processes at 1 thread, as (count of 2k calls - count "
             f"of k calls) / k; caches simulated, not the host's. Estimated cycles = {formula}: a model, not a "
             "measurement. The wall time was taken at the run's own thread count. Counts repeat to well under "
             "1% on a busy machine, so `lenet compare` judges them at ±1%; a change that moves only memory "
             "traffic the simulated caches do not see is invisible to them (the comparison flags rows where "
             "time and instructions disagree).")
