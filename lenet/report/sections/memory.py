"""The memory section: parameter bytes, serialized sizes and the peak resident memory of one inference or
training run, each measured in a fresh process per backend (frameworks in one process pollute each other's RSS).
"""
from __future__ import annotations

from ...io.records import Record
from ..markdown import Column, Table, field_column, integer, sig, text
from .core import Context, PartRow, Section, id_columns, in_order


def memory_rows(records: list[Record]) -> list[PartRow]:
    """One row per benchmark and phase (inference, training) that measured a peak RSS."""
    rows = []
    for r in in_order(records):
        for phase, what in (("infer", f"inference, batch {r.get('infer_batch_size', '?')}"),
                            ("train", f"training, {r.get('train_epoch_samples', '?')} images")):
            if r.get(f"{phase}_peak_rss_mib") is None:
                continue
            rows.append(PartRow.of(r, {"phase": what, "peak": r.get(f"{phase}_peak_rss_mib"),
                                       "baseline": r.get(f"{phase}_baseline_rss_mib"),
                                       "delta": r.get(f"{phase}_delta_rss_mib"),
                                       "device_peak": r.get(f"{phase}_device_peak_bytes")}))
    return rows


def memory_section(records: list[Record], ctx: Context) -> Section:
    recs = in_order(records)
    sizes = Table(id_columns(ctx) + [field_column(k, optional=False) for k in
                                       ("params", "param_bytes", "file_bytes", "gzip_bytes")],
                  recs, caption="Sizes")
    rows = memory_rows(recs)
    rss = Table(id_columns(ctx) + [
        Column("phase", lambda r: r.get("phase"), text, left=True),
        Column("peak RSS MiB", lambda r: r.get("peak"), sig),
        Column("baseline RSS MiB", lambda r: r.get("baseline"), sig),
        Column("delta RSS MiB", lambda r: r.get("delta"), sig),
        Column("device peak bytes", lambda r: r.get("device_peak"), integer, optional=True),
    ], rows, caption="Resident memory",
        note="Method: memory-profiler samples the RSS of a fresh Python process per backend and phase (torch and "
             "TF in one process pollute each other's RSS). Baseline: after imports, model build and input "
             "creation; delta: what the phase added. Device peak: the framework's peak allocation (GPU only). "
             "MiB = 2^20 bytes.")
    return Section("memory", "Memory", "Parameter bytes, serialized size and peak resident memory.", [sizes, rss])
