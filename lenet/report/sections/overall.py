"""The headline table: one row per machine, backend, architecture and device with its test accuracy, latency at
batch 1, throughput at batch 1024, epoch time and peak memory, as the reference studies open with; then the
sizes and work behind those figures.  It gathers the core groups (accuracy, inference, training, memory,
FLOPs) and is also what the bench prints at the end of a session (:mod:`lenet.report.summary`).
"""
from __future__ import annotations

from ...io.records import Record, labels_of
from ..markdown import UNIT, Column, Table, fraction, integer, sig
from .core import Context, PartRow, Section, id_columns, ms_field, per_second, sort_key

CORE_SECTIONS = ("accuracy", "inference", "training", "memory", "flops")


def overall_rows(records: list[Record]) -> list[PartRow]:
    """One row per (machine, backend, arch, device) with the headline figures; missing ones are absent."""
    rows: dict[tuple, PartRow] = {}
    for r in records:
        if r.section not in CORE_SECTIONS:
            continue
        row = rows.setdefault((r.label, *r.ident), PartRow.of(r)).values
        for k in ("params", "param_bytes", "macs_per_sample", "config"):
            if r.get(k) is not None:
                row.setdefault(k, r.get(k))
        if r.get("unstable"):
            row["unstable"] = row.get("unstable", 0) + 1
        if r.section == "accuracy" or "test_top1" not in row:  # the accuracy benchmark's figures win
            for k in ("test_top1", "test_top5"):
                if r.get(k) is not None:
                    row[k] = r.get(k)
        if r.section == "inference" and r.batch_size == 1:
            row["infer_b1_ms"] = r.median * 1e3
        elif r.section == "inference" and r.batch_size == 1024:
            row["infer_b1024_img_s"] = per_second(r.batch_size, r.median)
        elif r.section == "training":
            row[f"epoch_s_b{r.batch_size}"] = r.median
        elif r.section == "memory":
            row["file_bytes"] = r.get("file_bytes")
            row["infer_peak_rss_mib"] = r.get("infer_peak_rss_mib")
    return sorted(rows.values(), key=sort_key(labels_of(records)))


def overall_section(records: list[Record], ctx: Context) -> Section:
    """The headline table (at most 10 columns) and a detail table of sizes and work."""
    rows = overall_rows(records)
    records = [r for r in records if r.section in CORE_SECTIONS]
    batches = [r.batch_size for r in records if r.section == "training" and r.batch_size]
    train_batch = max(set(batches), key=lambda b: (batches.count(b), -b)) if batches else None
    headline = id_columns(ctx) + [
        Column("test top-1", lambda r: r.get("test_top1"), fraction),
        Column(f"inference {UNIT}, batch 1 (median)", ms_field("infer_b1_ms")),
        Column("img/s, batch 1024", lambda r: r.get("infer_b1024_img_s"), sig),
        Column(f"train epoch {UNIT}, batch {train_batch} (median)" if train_batch else f"train epoch {UNIT} (median)",
               lambda r: r.get(f"epoch_s_b{train_batch}")),
        Column("peak RSS MiB (inference, batch 1024)", lambda r: r.get("infer_peak_rss_mib"), sig),
        Column("⚠ unstable benchmarks", lambda r: r.get("unstable"), integer, optional=True),
    ]
    note = ("Timings: pytest-benchmark medians after warm-up; the other inference and training batch sizes are in "
            "their sections. Peak RSS: memory-profiler in a fresh process. A dash: not run in these histories. "
            "'⚠ unstable benchmarks': how many of the row's figures were measured on a disturbed machine (see "
            "each section).")
    detail = id_columns(ctx) + [
        Column("test top-5", lambda r: r.get("test_top5"), fraction),
        Column("params", lambda r: r.get("params"), integer),
        Column("param bytes (float32)", lambda r: r.get("param_bytes"), integer),
        Column("param MB (10^6 bytes)", lambda r: r.get("param_bytes") / 1e6 if r.get("param_bytes") else None, sig),
        Column("file bytes (.npz)", lambda r: r.get("file_bytes"), integer),
        Column("MACs/sample (thop convention)", lambda r: r.get("macs_per_sample"), integer),
    ]
    return Section("overall", "Overall performance",
                   "The reference studies' headline table, one row per machine, backend, architecture and device.",
                   [Table(headline, rows, note=note),
                    Table(detail, rows, caption="Sizes and work",
                          note="MACs: analytic, per sample, bias excluded (what thop reports); each framework's "
                               "own FLOP counter is in the FLOPs section.")])
