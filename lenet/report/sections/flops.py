"""The FLOPs section: the analytic counts from the spec, and each framework's own FLOP counter beside the
analytic figure in that counter's convention, so that a mismatch the convention does not explain shows.
"""
from __future__ import annotations

from ...io.records import Record
from ..markdown import Column, Table, field_column, integer, text
from .core import Context, PartRow, Section, id_columns, in_order


def per_sample(counter: dict):
    """A counter's value per sample (a counter that counts per batch, divided by its batch size)."""
    value = counter.get("value")
    if value is None:
        return None
    return value / counter.get("batch_size") if counter.get("per") == "batch" and counter.get("batch_size") else value


def flops_rows(records: list[Record]) -> list[PartRow]:
    """One row per benchmark and framework FLOP counter, beside the analytic count in its convention."""
    rows = []
    for r in in_order(records):
        for name, c in (r.get("flop_counters") or {}).items():
            expected = c.get("expected")
            rows.append(PartRow.of(r, {
                "counter": name, "convention": c.get("convention"), "per": c.get("per"),
                "batch_size": c.get("batch_size"), "value": c.get("value"), "per_sample": per_sample(c),
                "analytic": c.get("analytic_per_sample"),
                "match": None if expected is None else ("yes" if c.get("value") == expected else "NO")}))
    return rows


def flops_section(records: list[Record], ctx: Context) -> Section:
    recs = in_order(records)
    rows = flops_rows(recs)
    counters = Table(id_columns(ctx) + [
        Column("counter", lambda r: r.get("counter"), text, left=True),
        Column("convention", lambda r: r.get("convention"), text, left=True),
        Column("counted per", lambda r: None if r.get("per") is None else
               (f"batch of {r.get('batch_size')}" if r.get("per") == "batch" else r.get("per")), text, left=True),
        Column("counter value", lambda r: r.get("value"), integer),
        Column("counter value/sample", lambda r: r.get("per_sample"), integer),
        Column("analytic/sample (same convention)", lambda r: r.get("analytic"), integer),
        Column("matches", lambda r: r.get("match"), text),
    ], rows, caption="Framework counters against the analytic count")
    archs = {}
    for r in recs:
        archs.setdefault((r.ident[1], r.get("arch_name")), r)
    analytic = Table([
        Column("arch", lambda r: r.ident[1], text, left=True),
        Column("architecture", lambda r: r.get("arch_name"), text, optional=True, left=True),
        field_column("params", optional=False),
        Column("MACs/sample (macs: thop, fvcore)", lambda r: r.get("macs_per_sample"), integer),
        Column("FLOPs/sample (flops: 2 x MACs, torch flop_counter)", lambda r: r.get("flops_per_sample"), integer),
        Column("FLOPs/sample (flops_tf: 2 x MACs + bias + pool, TF profiler)",
               lambda r: r.get("flops_tf_per_sample"), integer),
    ], list(archs.values()), caption="Analytic counts (from the spec, per sample)")
    conventions = {}
    for r in recs:
        conventions.update(r.get("flop_conventions") or {})
    note = "; ".join(f"`{k}`: {v}" for k, v in conventions.items())
    if rows:
        counters.note = ("Conventions: " + note) if note else ""
    tables = [analytic] + ([counters] if rows else [])
    return Section("flops", "FLOPs", "Every count carries its convention; per batch and per sample are kept apart.",
                   tables)
