"""The static-vs-dynamic-graph section: eager against traced execution (tf.function, XLA, torch.compile) per
phase and batch, with the first call that traces or compiles apart and the calls it takes to pay it back.
"""
from __future__ import annotations

from ...io.records import Record, labels_of
from ..markdown import Column, Table, field_column, integer
from .core import RATIO_NOTE, Context, Section, extra_fields, id_columns, ratio_column, sort_key

GRAPH_FIELDS = ("mode", "phase", "batch_size")


def graph_section(records: list[Record], ctx: Context) -> Section:
    recs = sorted(records, key=lambda r: (sort_key(labels_of(records))(r), str(r.get("phase")), str(r.get("mode"))))
    cols = id_columns(ctx) + [field_column(k) for k in GRAPH_FIELDS] + [
        ratio_column(recs), field_column("first_call_s"), field_column("steady_s"),
        Column("break-even calls", break_even, lambda v: v if isinstance(v, str) else integer(v), optional=True),
    ]
    shown = {*GRAPH_FIELDS, "first_call_s", "steady_s", "break_even_calls"}
    cols += [field_column(k) for k in extra_fields(recs, shown)]
    note = ("First call: the one call that traces or compiles (eager has none to speak of); steady state: median "
            "after warm-up; break-even: calls after which the graph mode's first-call cost is repaid. "
            + RATIO_NOTE)
    return Section("graph", "Static vs dynamic graph", "Eager against traced (tf.function, XLA, torch.compile) per "
                   "phase and batch.", [Table(cols, recs, note=note)])


def break_even(r: Record):
    """Whole calls; a recorded null means the mode never pays back (it is not faster at steady state)."""
    if "break_even_calls" in r.extra and r.extra["break_even_calls"] is None:
        return "never"
    return r.get("break_even_calls")
