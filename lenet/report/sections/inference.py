"""The inference section: latency and throughput per backend and batch size, the median's interval and the
tail, the spread and rounds behind it, the first call (tracing, compilation) apart, and instruction counts when
the run counted them.  Steady state and first call are kept apart because they answer different questions.
"""
from __future__ import annotations

from ...io.records import Record
from ..markdown import UNIT, Column, Table, integer, plain, ratio, sig
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
    uncertainty_columns,
)


def inference_section(records: list[Record], ctx: Context) -> Section:
    recs = in_order(records)
    batch = Column("batch", lambda r: r.batch_size, plain)
    steady = Table(id_columns(ctx) + [
        batch,
        ratio_column(recs),
        Column(f"latency {UNIT} (median)", stat("median")),
        *uncertainty_columns(),
        Column("img/s (batch / median)", lambda r: per_second(r.batch_size, r.median), sig),
        flag_column(),
    ], recs, caption="Steady state (after warm-up)",
        note="The forward pass on a tensor already on the device; on GPU each call waits for the result. p90/p99 "
             "and the median's 95% interval (exact order statistics) are per call. ⚠ unstable: the machine was "
             "disturbed or the samples too spread to trust (lenet.measure.noise); do not quote that figure. "
             + RATIO_NOTE)
    spread = Table(id_columns(ctx) + [
        batch,
        Column(f"IQR {UNIT}", stat("iqr"), optional=True),
        Column(f"stddev {UNIT}", stat("stddev"), optional=True),
        Column("rounds", lambda r: r.stats.get("rounds"), integer, optional=True),
        Column("iterations", lambda r: r.stats.get("iterations"), integer, optional=True),
    ], recs, caption="Spread and rounds")
    tables = [steady, spread]
    first = [r for r in recs if r.get("first_call_s") is not None]
    if first:
        tables.append(Table(id_columns(ctx) + [
            batch,
            Column(f"first call {UNIT}", lambda r: r.get("first_call_s")),
            Column("first call / median", lambda r: per_second(r.get("first_call_s"), r.median), ratio),
        ], first, caption="First call (tracing, compilation, allocator warm-up)",
            note="Shown apart: not included in the steady-state figures above."))
    counted = instructions_table(recs, ctx, stat("median"))
    return Section("inference", "Inference", "Latency and throughput per backend and batch size.",
                   tables + ([counted] if counted else []))
