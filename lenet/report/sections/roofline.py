"""The roofline section: each timed figure's achieved GFLOP/s and arithmetic intensity under the machine's own
ceiling (GEMM peak and copy bandwidth measured in the same session), as nanoGPT's MFU does, so that a speed
reads against what this machine could do rather than against a number from elsewhere.
"""
from __future__ import annotations

from ...io.records import Record
from ..markdown import Column, Table, plain, sig, text
from .core import Context, Section, id_columns, in_order

ROOFLINE_SECTIONS = {"inference": "inference", "training": "training", "scenarios": "offline"}


def roofline_records(records: list[Record]) -> list[Record]:
    """Inference, training and offline rows that carry a roofline (achieved GFLOP/s and intensity)."""
    return [r for r in in_order(records) if r.section in ROOFLINE_SECTIONS and r.get("achieved_gflops") is not None
            and r.get("arithmetic_intensity_flop_per_byte") is not None]


def phase_of(r: Record) -> str:
    return ROOFLINE_SECTIONS[r.section]


def ceilings(records: list[Record]) -> dict:
    """Machine label -> its measured ceiling {gemm_gflops, bandwidth_gbs}, from machine_info or the rows."""
    out = {}
    for r in records:
        c = (r.run.session if r.run else {}).get("ceiling") or {}
        peak, bw = c.get("gemm_gflops") or r.get("peak_gflops"), c.get("bandwidth_gbs") or r.get("bandwidth_gbs")
        if peak and bw:
            out.setdefault(r.label, {"gemm_gflops": peak, "bandwidth_gbs": bw})
    return out


def roofline_section(records: list[Record], ctx: Context) -> Section | None:
    recs = roofline_records(records)
    if not recs:
        return None
    of_roof = lambda r: 100 * r.get("achieved_gflops") / r.get("roof_gflops") if r.get("roof_gflops") else None  # noqa
    points = Table(id_columns(ctx) + [
        Column("phase", phase_of, text, left=True),
        Column("batch", lambda r: r.batch_size, plain),
        Column("GFLOP/s (analytic)", lambda r: r.get("achieved_gflops"), sig),
        Column("FLOP/byte (analytic)", lambda r: r.get("arithmetic_intensity_flop_per_byte"), sig),
        Column("roof GFLOP/s", lambda r: r.get("roof_gflops"), sig, optional=True),
        Column("% of roof", of_roof, sig, optional=True),
        Column("% of GEMM peak", lambda r: r.get("pct_of_peak"), sig, optional=True),
    ], recs, note="GFLOP/s from the analytic 2 x MACs per sample (training: 3 x forward) over the median; "
                  "intensity from the analytic bytes moved (input, activations, weights once per batch); roof: "
                  "min(GEMM peak, intensity x bandwidth).")
    machines = ceilings(recs)
    tables = [points]
    if machines:
        tables.insert(0, Table([
            Column("machine", lambda r: r[0], text, left=True),
            Column("GEMM peak GFLOP/s (fp32)", lambda r: r[1]["gemm_gflops"], sig),
            Column("copy bandwidth GB/s", lambda r: r[1]["bandwidth_gbs"], sig),
        ], list(machines.items()), caption="The machine's ceiling, measured in the same session",
            note="GEMM: best of several NumPy float32 matrix products at the thread count in force; bandwidth: a "
                 "STREAM-like copy, bytes read + written."))
    return Section("roofline", "Roofline", "Each figure under this machine's own ceiling, as nanoGPT's MFU does.",
                   tables)
