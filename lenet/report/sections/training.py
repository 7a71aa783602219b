"""The training section: the time of one epoch per backend and batch size, its throughput, and the optimizer
steps inside it (p50/p90/p99), since an epoch's median hides a slow step that a step's tail shows.
"""
from __future__ import annotations

from ...io.records import Record
from ..markdown import UNIT, Column, Table, integer, plain, sig, text
from .core import (
    RATIO_NOTE,
    Context,
    Section,
    flag_column,
    id_columns,
    in_order,
    instructions_table,
    per_second,
    ratio_column,
    stat,
    sub_field,
)


def training_section(records: list[Record], ctx: Context) -> Section:
    recs = in_order(records)
    samples = lambda r: r.get("train_samples")  # noqa: E731
    batch = Column("batch", lambda r: r.batch_size, plain)
    epochs = Table(id_columns(ctx) + [
        Column("activation / architecture", lambda r: r.get("activation") or r.get("arch_name"), text,
               optional=True, left=True),
        batch,
        ratio_column(recs),
        Column("images/epoch", samples, integer),
        Column(f"epoch {UNIT} (median)", stat("median")),
        Column("img/s (images / median)", lambda r: per_second(samples(r), r.median), sig),
        flag_column(),
    ], recs, note="Each round is one epoch in the shared seeded order, after a few warm-up steps; data converted "
                  "to framework tensors before timing. " + RATIO_NOTE + " In training it pairs steps, not epochs.")
    steps = Table(id_columns(ctx) + [
        batch,
        Column("speed dataset", lambda r: r.get("speed_dataset"), text, left=True),
        Column(f"IQR {UNIT}", stat("iqr"), optional=True),
        Column("rounds", lambda r: r.stats.get("rounds"), integer, optional=True),
        Column(f"step p50 {UNIT}", sub_field("step_timing", "p50_s"), optional=True),
        Column(f"step p90 {UNIT}", sub_field("step_timing", "p90_s"), optional=True),
        Column(f"step p99 {UNIT}", sub_field("step_timing", "p99_s"), optional=True),
    ], recs, caption="Spread and steps", note="IQR: of the epoch times; steps: one optimizer step each.")
    counted = instructions_table(recs, ctx, sub_field("step_timing", "p50_s"))
    return Section("training", "Training", "Time of one training epoch per backend and batch size.",
                   [epochs, steps] + ([counted] if counted else []))
