"""The "what an expert gains" section: each framework's tuned mode (the one its performance guide recommends)
against its default, timed side by side in interleaved rounds: the gap between them is itself a finding.
"""
from __future__ import annotations

from ...io.records import Record, labels_of
from ..markdown import Column, Table, integer, text
from .core import Context, Section, backend_order, interleaved_figures, machine_column, sort_key


def tuned_modes_section(records: list[Record], ctx: Context) -> Section:
    """Each framework's tuned mode against its default, per batch and thread count (bench/test_tuned_modes.py)."""
    order = sort_key(labels_of(records))
    rows = sorted(records, key=lambda r: (backend_order(r.get("backend")), order(r)[:-1], str(r.get("phase")),
                                          r.get("batch_size") or 0))

    def gain(r: Record) -> dict:
        return r.get("speedup")[r.get("tuned_mode")]

    def measured(r: Record) -> str:  # default / tuned, medians in the same rounds
        return interleaved_figures(r, (r.get("default_mode"), r.get("tuned_mode")))

    cols = machine_column(ctx) + [
        Column("backend", lambda r: r.get("backend"), text, left=True),
        Column("arch", lambda r: r.get("arch"), text, left=True),
        Column("device", lambda r: r.get("device"), text),
        Column("phase", lambda r: r.get("phase"), text),
        Column("batch", lambda r: r.get("batch_size"), integer),
        Column("threads", lambda r: (r.get("threads") or {}).get("requested"), integer),
        Column("default mode", lambda r: r.get("default_mode"), text),
        Column("tuned mode", lambda r: r.get("tuned_mode"), text),
        Column("tuned's speed over the default's", lambda r: gain(r)["median"], lambda v: f"{v:.2f}x"),
        Column("95% interval", lambda r: f"[{gain(r)['low']:.2f}, {gain(r)['high']:.2f}]", text),
        Column("default / tuned", measured, text),
    ]
    intro = ("Each framework's tuned mode (the one its own performance guide recommends, docs/tuned-modes.md) "
             "against its default, on the same weights and input, timed side by side in interleaved rounds "
             "(bench/test_tuned_modes.py): the median over rounds of the per-round ratio, with its 95% interval. "
             "Backends whose tuned mode is their default (handcrafted, Keras, ONNX Runtime) have no row. A tuned "
             "mode whose interval lies below 1 is not the tuned mode at that batch and thread count.")
    return Section("tuned-modes", "What an expert gains", intro, [Table(cols, rows)])
