"""The speed-targets section: the handcrafted backend's targets against each rival
(:mod:`lenet.study.speed_targets`), judged per machine from the inference, training and interleaved rows, with
PASS, FAIL or why a target was not judged.
"""
from __future__ import annotations

from ...io.records import Record, labels_of
from ...study.speed_targets import check_entries
from ..markdown import Column, Table, text
from .core import Context, Section, machine_column


def speed_rows(records: list[Record]) -> list[dict]:
    """The speed targets judged per machine label (:func:`lenet.study.speed_targets.check_entries`'s rows)."""
    rows = []
    for label in labels_of(records):
        mine = [r for r in records if r.label == label and r.section in ("inference", "training", "speed-ratios")
                and r.get("backend") and r.get("arch")]
        if not mine:
            continue
        rows += [{"label": label, **row} for row in check_entries(mine)]
    return rows


def _speed_result(row: dict) -> str:
    if row["passed"] is None:
        return "⚠ unstable: not judged" if row["unstable"] else "not judged: " + "; ".join(row["reasons"])
    interval = f" [{row['interval'][0]:.2f}, {row['interval'][1]:.2f}]" if row.get("interval") else ""
    return ("PASS" if row["passed"] else "FAIL") + interval


def speed_section(records: list[Record], ctx: Context) -> Section:
    rows = speed_rows(records)
    cols = machine_column(ctx, lambda r: r["label"]) + [
        Column("target", lambda r: r["target"], text, left=True),
        Column("ratio", lambda r: r["ratio"], lambda v: "-" if v is None else f"{v:.2f}"),
        Column("limit", lambda r: r["limit"], text),
        Column("result", _speed_result, text),
    ]
    intro = ("The handcrafted backend against torch, keras, onnxruntime and jax on the same machine, threads and "
             "batch (lenet/study/speed_targets.py): in the interleaved rows each rival runs its tuned mode, named in "
             "the target; the sequential rows time every backend in its default mode.")
    if not rows:
        intro += " No handcrafted/rival pairs on CPU in these histories: run the bench with handcrafted and a rival."
        return Section("speed", "Speed targets", intro)
    return Section("speed", "Speed targets", intro, [Table(cols, rows)])
