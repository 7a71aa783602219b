"""The interleaved speed-ratios section: handcrafted's speed over each rival's, taken within rounds timed side by
side, with the median over rounds and its interval; a slow spell of a shared machine lands on every contender of
a round alike, so these ratios survive it where absolute figures taken minutes apart do not.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...io.records import Record, labels_of
from ...study.speed_targets import HANDCRAFTED
from ..markdown import Column, Table, integer, text
from .core import Context, Section, backend_order, interleaved_figures, machine_column, sort_key


@dataclass(frozen=True)
class RatioRow:
    """Handcrafted's speed over one rival's in one interleaved benchmark: the median over rounds of the per-round
    ratio, and its 95% interval."""

    record: Record
    rival: str
    median: float
    low: float
    high: float
    rounds: int | None = None


def speed_ratio_rows(records: list[Record]) -> list[RatioRow]:
    """One row per interleaved benchmark and rival: handcrafted's speed over the rival's."""
    order = sort_key(labels_of(records))
    recs = sorted(records, key=lambda r: (order(r)[:-1], str(r.get("phase")), r.get("batch_size") or 0))
    return [RatioRow(r, rival, s["median"], s["low"], s["high"], s.get("rounds")) for r in recs
            for rival, s in sorted((r.get("speedup") or {}).items(), key=lambda kv: backend_order(kv[0]))]


def speed_ratios_section(records: list[Record], ctx: Context) -> Section:
    cols = machine_column(ctx, lambda row: row.record.label) + [
        Column("arch", lambda row: row.record.get("arch"), text, left=True),
        Column("phase", lambda row: row.record.get("phase"), text),
        Column("batch", lambda row: row.record.get("batch_size"), integer),
        Column("threads", lambda row: (row.record.get("threads") or {}).get("requested"), integer),
        Column("rival", lambda row: row.rival, text),
        Column("rival's mode", lambda row: (row.record.get("rival_modes") or {}).get(row.rival, "default"), text),
        Column("handcrafted's speed over the rival's", lambda row: row.median, lambda v: f"{v:.2f}x"),
        Column("95% interval", lambda row: f"[{row.low:.2f}, {row.high:.2f}]", text),
        Column("rounds", lambda row: row.rounds, integer, optional=True),
        # the two contenders' medians in the same rounds
        Column("handcrafted / rival", lambda row: interleaved_figures(row.record, (HANDCRAFTED, row.rival)), text),
    ]
    intro = ("Handcrafted against every framework in its tuned mode (docs/tuned-modes.md), on the same weights and "
             "input, timed side by side: rounds of a block each, in a rotating order (bench/test_speed_ratios.py). "
             "The ratio is taken within each round; the median over rounds and its 95% order-statistic interval are "
             "shown. A slow spell of the machine lands on every contender of a round alike. Training compares step "
             "times (speed = 1 / time). Rows recorded before the modes were named ran each rival's default mode.")
    return Section("speed-ratios", "Speed ratios, interleaved", intro, [Table(cols, speed_ratio_rows(records))])
