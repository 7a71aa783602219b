"""The scenarios section: MLPerf Inference's four scenarios as MLPerf's LoadGen ran them (single-stream and
multi-stream latency, the server's peak rate under a p99 bound, offline throughput), each with LoadGen's
verdict, so that the figures read as the benchmark the industry quotes reads them.
"""
from __future__ import annotations

from ...io.records import Record
from ..markdown import UNIT, Column, Table, fraction, integer, plain, sig, text
from .core import Context, PartRow, Section, flag_column, id_columns, in_order, ms_field, stat

SCENARIO_GROUPS = {"single-stream": "scenario single-stream", "multi-stream": "scenario multi-stream",
                   "server": "scenario server", "offline": "scenario offline"}


def _verdict(r) -> str | None:
    """LoadGen's verdict with its reasons (None for rows from before LoadGen ran the scenarios)."""
    return (r.get("loadgen") or {}).get("verdict")


def _short_verdict(r) -> str | None:
    v = _verdict(r)
    return None if v is None else v.split(" ", 1)[0]


def scenario_overview(recs: list[Record]) -> list[PartRow]:
    """One row per (machine, backend, arch, device): each scenario's record, by scenario name."""
    rows: dict[tuple, PartRow] = {}
    for r in recs:
        name = next((k for k, g in SCENARIO_GROUPS.items() if r.group == g), None)
        if name is None:
            continue
        rows.setdefault((r.label, *r.ident), PartRow.of(r, {"config": r.get("config")})).values[name] = r
    return list(rows.values())


def _of(scenario: str, value):
    """A column value read from one scenario's record of an overview row."""
    return lambda row: value(row.values[scenario]) if scenario in row.values else None


def _stream_table(ctx: Context, rows: list[Record], percentiles: tuple, metric: str, verdict_optional: bool,
                  caption: str, note: str) -> Table:
    """A stream scenario's latency per query: its percentiles, and the 99% upper bound of ``metric``, the
    percentile MLPerf quotes for it, from the order statistics."""
    return Table(id_columns(ctx) + [
        Column("queries", lambda r: r.get("queries"), integer),
        *(Column(f"{p} {UNIT}", ms_field(f"latency_{p}_ms")) for p in percentiles),
        Column(f"{metric} 99% upper bound {UNIT}", ms_field(f"{metric}_upper99_ms"), optional=True),
        Column("LoadGen verdict", _verdict, text, optional=verdict_optional, left=True),
        flag_column(),
    ], rows, caption=caption, note=note)


def scenarios_section(records: list[Record], ctx: Context) -> Section:
    recs = in_order(records)
    by = {name: [r for r in recs if r.group == group] for name, group in SCENARIO_GROUPS.items()}
    single, multi, server, offline = (by[k] for k in SCENARIO_GROUPS)
    tables = []
    overview = scenario_overview(recs)
    if any(_verdict(r) for r in recs):
        tables.append(Table(id_columns(ctx) + [
            Column(f"single-stream p90 {UNIT}", _of("single-stream", ms_field("latency_p90_ms")), optional=True),
            Column("single-stream verdict", _of("single-stream", _short_verdict), text, optional=True, left=True),
            Column(f"multi-stream p99 {UNIT}", _of("multi-stream", ms_field("latency_p99_ms")), optional=True),
            Column("multi-stream verdict", _of("multi-stream", _short_verdict), text, optional=True, left=True),
            Column("server peak queries/s", _of("server", lambda r: r.get("peak_qps")), sig, optional=True),
            Column("server verdict at peak", _of("server", _short_verdict), text, optional=True, left=True),
            Column("offline samples/s", _of("offline", lambda r: r.get("throughput_img_s")), sig, optional=True),
            Column("offline verdict", _of("offline", _short_verdict), text, optional=True, left=True),
        ], overview, caption="MLPerf metric per scenario",
            note="Each scenario's MLPerf metric, measured by MLPerf's LoadGen, with LoadGen's verdict (its reasons "
                 "are in the scenario's table). The server's peak is the highest rate searched whose p99 LoadGen "
                 "judged within the bound; its verdict there also asks early stopping to bound p99."))
    if single:
        tables.append(_stream_table(
            ctx, single, ("p50", "p90", "p99"), "p90", True, "Single stream (one sample per query, back to back)",
            "Latency per query. The p90 upper bound: the 99% upper confidence bound of p90 from the order "
            "statistics, as MLPerf's early stopping bounds it; how far the quoted p90 can be trusted."))
    if multi:
        tables.append(_stream_table(
            ctx, multi, ("p50", "p99"), "p99", False, "Multi stream (8 samples per query, back to back)",
            "Latency per query (its slowest sample); MLPerf's metric is p99. The upper bound: the 99% upper "
            "confidence bound of p99 from the order statistics (none below 459 queries)."))
    if server:
        tables.append(Table(id_columns(ctx) + [
            Column(f"p99 bound {UNIT}", ms_field("latency_bound_ms")),
            Column(f"service {UNIT}", ms_field("service_ms")),
            Column("peak queries/s", lambda r: r.get("peak_qps"), sig),
            Column("lowest failing queries/s", lambda r: r.get("peak_qps_below"), sig, optional=True),
            Column(f"p50 at peak {UNIT}", ms_field("latency_p50_ms")),
            Column(f"p99 at peak {UNIT}", ms_field("latency_p99_ms")),
            Column(f"LoadGen's p99 at peak {UNIT}", ms_field("loadgen_p99_ms"), optional=True),
            Column("runs", lambda r: len(r.get("search") or []), integer),
            Column("LoadGen verdict at peak", _verdict, text, left=True),
            flag_column(),
        ], server, caption="Server (Poisson arrivals, one query served at a time, p99 under the bound)",
            note="The peak lies between the highest rate whose p99 met the bound and the lowest that did not "
                 "(doubling, then bisection, as LoadGen's FindPeakPerformance). Service: one query's median time, "
                 "back to back. LoadGen judges the bound by its own p99 (its sorted sample at index floor(0.99 n)), "
                 "which the plot shows; ours interpolates. Without a passing rate the row shows the lowest rate "
                 "tried. The flag leaves out the spread rules: queueing spreads these latencies by design."))
    if offline:
        tables.append(Table(id_columns(ctx) + [
            Column("best batch", lambda r: r.batch_size, plain),
            Column("img/s", lambda r: r.get("throughput_img_s"), sig),
            Column(f"batch time {UNIT} (median)", stat("median")),
            Column("GFLOP/s (analytic)", lambda r: r.get("achieved_gflops"), sig, optional=True),
            Column("% of GEMM peak", lambda r: r.get("pct_of_peak"), sig, optional=True),
            Column("top-1 (LoadGen accuracy mode)", lambda r: (r.get("accuracy_mode") or {}).get("top1"), fraction,
                   optional=True),
            Column("top-1 (accuracy group)", lambda r: (r.get("accuracy_mode") or {}).get("reference_top1"),
                   fraction, optional=True),
            Column("LoadGen verdict", _verdict, text, optional=True, left=True),
            flag_column(),
        ], offline, caption="Offline (every sample available at once, at the best batch size)",
            note="img/s: LoadGen's samples per second over its one query (histories from before LoadGen: batch / "
                 "median). Accuracy mode: every test image once through predict, top-1 read from LoadGen's "
                 "accuracy log."))
        sweep = [PartRow.of(r, point) for r in offline for point in r.get("offline_sweep") or []]
        if sweep:
            tables.append(Table(id_columns(ctx) + [
                Column("batch", lambda r: r.get("batch_size"), plain),
                Column(f"batch time {UNIT} (median)", lambda r: r.get("median_s")),
                Column("img/s", lambda r: r.get("throughput_img_s"), sig),
            ], sweep, caption="Offline sweep (how the best batch was chosen)",
                note="Each batch size timed briefly; the best throughput is then measured in full above."))
    return Section("scenarios", "Scenarios", "MLPerf Inference's scenarios, run by MLPerf's LoadGen "
                   "(mlcommons-loadgen): single-stream and multi-stream latency, the server's peak rate under a "
                   "p99 latency bound, offline throughput.", tables)
