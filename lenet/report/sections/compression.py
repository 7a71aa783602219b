"""The compression section: pruning (masked against physically removed), quantization and low-rank, each level
against the uncompressed model: accuracy and sizes, work and speed, ratios to the base, and a verdict where a
technique makes the model slower (it is reported as slower).
"""
from __future__ import annotations

from dataclasses import replace

from ...io.records import Record
from ..markdown import UNIT, Column, Table, field_column, field_header, ratio, signed_points, text
from .core import RATIO_NOTE, Context, PartRow, Section, extra_fields, id_columns, in_order, ratio_column

COMPRESSION_FIELDS = ("top1", "top5", "nonzero_params", "dense_bytes", "file_bytes", "gzip_bytes", "executed_macs",
                      "latency_b1_ms", "latency_b256_ms", "peak_rss_mib")


def compression_rows(records: list[Record]) -> list[PartRow]:
    """The base model of each (machine, backend, arch, device) once (a row without a record), then every
    technique x level (its record's row)."""
    rows, bases = [], set()
    for r in in_order(records):
        key = (r.label, *r.ident)
        if key not in bases and any(r.get("base_" + f) is not None for f in COMPRESSION_FIELDS):
            bases.add(key)
            rows.append(PartRow.of(r, {"technique": "none (base)", "level": None,
                                       **{f: r.get("base_" + f) for f in COMPRESSION_FIELDS}}))
        rows.append(PartRow.of(r, {k: v for k, v in r.extra.items() if k not in ("backend", "arch", "device")}, r))
    return rows


def relative(r, f: str):
    """A compressed model's ``f`` over the uncompressed model's (``base_f``), or None."""
    base, new = r.get("base_" + f), r.get(f)
    return new / base if base and new is not None else None


def top1_change_points(r):
    return (r.get("top1") - r.get("base_top1")) * 100 \
        if r.get("top1") is not None and r.get("base_top1") is not None else None


def slower_at(r, threshold_time: float) -> list[int]:
    """Batch sizes (1, 256) at which a compressed model's latency is beyond ``threshold_time`` % of the base's."""
    return [b for b in (1, 256) if (q := relative(r, f"latency_b{b}_ms")) and q > 1 + threshold_time / 100]


SIZE_FIELDS = ("top1", "top5", "nonzero_params", "dense_bytes", "file_bytes", "gzip_bytes")


def compression_section(records: list[Record], ctx: Context) -> Section:
    threshold_time = ctx.threshold_time
    rows = compression_rows(records)
    recs = in_order(records)
    shown = {"technique", "level", *COMPRESSION_FIELDS}
    others = [k for k in extra_fields(recs, shown) if not k.startswith("base_")]
    what = [field_column("technique", optional=False), field_column("level", optional=False)]
    size = Table(id_columns(ctx) + what + [field_column(k) for k in SIZE_FIELDS], rows,
                 caption="Accuracy and size (the base row is the uncompressed model)")
    work = Table(id_columns(ctx) + what + [ratio_column(rows)]
                 + [field_column(k) for k in COMPRESSION_FIELDS if k not in SIZE_FIELDS],
                 rows, caption="Work and speed", note=RATIO_NOTE + " Compression pairs the forward pass at batch 1.")
    details = [replace(r, values={**r.values, "value": r.get(k),
                                  "field": field_header(k).replace(UNIT, "ms" if k.endswith("_ms") else "s")})
               for r in rows for k in others if r.get(k) is not None]

    def verdict(r):
        slower = slower_at(r, threshold_time)
        return f"slower ({', '.join(f'batch {b}' for b in slower)})" if slower else None

    relative_rows = [r.record for r in rows if r.record is not None]
    ratios = ("nonzero_params", "gzip_bytes", "executed_macs", "latency_b1_ms", "latency_b256_ms")
    rel = Table(id_columns(ctx) + what + [
        Column("Δ top-1 points", top1_change_points, signed_points),
        *[Column(f"{field_column(f).header.replace(' ' + UNIT, '')} / base", lambda r, f=f: relative(r, f), ratio,
                 optional=True) for f in ratios],
        Column("verdict", verdict, text, optional=True),
    ], relative_rows, caption="Relative to the uncompressed model",
        note=f"Ratios below 1 are smaller or faster. Masked pruning executes every multiply: its executed MACs stay "
             f"at the base figure. 'slower': latency more than {threshold_time:g}% above the base model's. Dense "
             f"bytes, file bytes and peak RSS against the base: see the two tables above.")
    tables = [size, work, rel]
    if details:
        tables.append(Table(id_columns(ctx) + what + [Column("field", lambda r: r.get("field"), text, left=True),
                                                        Column("value", lambda r: r.get("value"), left=True)],
                            details, caption="Technique details",
                            note="What each technique recorded beyond the figures above, one field per row."))
    return Section("compression", "Compression", "Pruning (masked vs physically removed), quantization and "
                   "low-rank, each against the uncompressed model.", tables)
