"""The report's sections as markdown tables, built from records.

Each ``*_section`` function takes the records of its groups (all of them
non-empty; the orchestrator decides what is absent) and returns a
:class:`Section`.  Values come straight from the history: pytest-benchmark
``stats`` (seconds, converted to the unit in the header) and ``extra_info``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..backends import BACKENDS
from ..io.records import Record, labels_of
from ..schema import FIELDS
from ..study.speed_targets import HANDCRAFTED
from ..study.speed_targets import check_entries as check_speed_targets
from . import accuracy_seeds
from .markdown import (
    UNIT,
    Column,
    Table,
    code,
    field_column,
    field_header,
    fraction,
    general,
    integer,
    plain,
    ratio,
    sig,
    signed_points,
    text,
)

# Fields every benchmark carries (lenet.schema.FIELDS, recorded by the study or the bench): not repeated as
# "other fields" in the data-driven sections.
COMMON_FIELDS = frozenset(f.name for f in FIELDS if f.recorded_by)

# The groups of the headline table (graph, compression and MLP-sweep rows have tables of their own).
CORE_SECTIONS = ("accuracy", "inference", "training", "memory", "flops")


@dataclass
class Section:
    key: str
    title: str
    intro: str = ""
    tables: list = field(default_factory=list)
    plots: list = field(default_factory=list)  # PlotInfo, added by the orchestrator
    bullets: list = field(default_factory=list)  # a list under the intro (markdown inline)
    after: list = field(default_factory=list)  # paragraphs after the tables


def _backend_order(name: str) -> tuple:
    return (BACKENDS.index(name) if name in BACKENDS else len(BACKENDS), name)


def sort_key(labels: list[str]):
    """Rows in label order, then backend (handcrafted, torch, keras), arch, device, batch."""
    def key(row):
        r = row if isinstance(row, dict) else {"label": row.label, "backend": row.ident[0], "arch": row.ident[1],
                                               "device": row.ident[2], "batch_size": row.batch_size}
        batch = r.get("batch_size")
        return (labels.index(r["label"]) if r.get("label") in labels else len(labels),
                _backend_order(str(r.get("backend"))), str(r.get("arch")), str(r.get("device")),
                batch if isinstance(batch, int | float) else -1)
    return key


@dataclass(frozen=True)
class Context:
    """What every section needs to know beyond its own records."""

    labels: tuple  # every machine label in the report, in order: a machine column when there are several
    threshold_time: float = 10.0  # percent: a compressed model this much slower is called slower


def _id_columns(ctx: Context, with_arch: bool = True) -> list[Column]:
    """machine (only when the report has several), backend, arch, device, training config."""
    cols = [Column("machine", lambda r: r["label"] if isinstance(r, dict) else r.label, text, left=True)] \
        if len(ctx.labels) > 1 else []
    cols.append(Column("backend", lambda r: r["backend"] if isinstance(r, dict) else r.ident[0], text, left=True))
    if with_arch:
        cols.append(Column("arch", lambda r: r["arch"] if isinstance(r, dict) else r.ident[1], text, left=True,
                           collapsible=True))
    cols.append(Column("device", lambda r: r["device"] if isinstance(r, dict) else r.ident[2], text, left=True,
                       collapsible=True))
    # the training config's name (lenet.study.configs); histories from before configs had names have none
    cols.append(Column("config", lambda r: r.get("config"), text, left=True, collapsible=True, optional=True))
    return cols


def _sorted(records: list[Record]) -> list[Record]:
    return sorted(records, key=sort_key(labels_of(records)))


def _per_second(amount, seconds):
    """``amount / seconds``, or None when either is missing or the time is zero."""
    return amount / seconds if amount is not None and seconds else None


def _stat(name: str):
    """A pytest-benchmark statistic, seconds."""
    return lambda r: r.stats.get(name)


def _timing(key: str):
    """A field of ``extra_info['timing']``, seconds."""
    return lambda r: (r.get("timing") or {}).get(key)


def _ms_field(key: str):
    """An extra_info field in ms, as seconds (for a duration column)."""
    return lambda r: None if r.get(key) is None else r.get(key) / 1e3


def median_ci(r: Record):
    """The median's 95% interval (low, high), seconds, or None."""
    ci = (r.get("timing") or {}).get("median_ci95_s")
    return tuple(ci) if ci else None


FLAG = "⚠ unstable"


def flag(r: Record):
    """``⚠ unstable`` for a flagged benchmark (lenet.measure.noise), None otherwise."""
    return FLAG if r.get("unstable") else None


def flag_reasons(r: Record) -> str | None:
    """Why a benchmark was flagged: its reasons, given under the table (a cell holds only the flag)."""
    return "; ".join(r.get("unstable_reasons") or ["flagged"]) if r.get("unstable") else None


def flag_column() -> Column:
    return Column("flag", flag, text, optional=True, left=True, footnote=flag_reasons)


def uncertainty_columns() -> list[Column]:
    """The median's 95% interval, p90 and p99 per call (issue 9's timing fields; optional)."""
    return [
        Column(f"median 95% CI {UNIT}", median_ci, optional=True),
        Column(f"p90 {UNIT}", _timing("p90_s"), optional=True),
        Column(f"p99 {UNIT}", _timing("p99_s"), optional=True),
    ]


def extra_fields(records: list[Record], shown: set) -> list[str]:
    """Scalar extra_info keys not common to every benchmark and not already shown, in first-seen order."""
    keys = {}
    for r in records:
        for k, v in r.extra.items():
            if k not in COMMON_FIELDS and k not in shown and (v is None or isinstance(v, str | int | float | bool)):
                keys[k] = None
    return list(keys)


# --- overall performance ------------------------------------------------------------------------------------

def overall_rows(records: list[Record]) -> list[dict]:
    """One dict per (machine, backend, arch, device) with the headline figures; missing ones are absent."""
    rows: dict[tuple, dict] = {}
    for r in records:
        if r.section not in CORE_SECTIONS:
            continue
        backend, arch, device = r.ident
        row = rows.setdefault((r.label, backend, arch, device),
                              {"label": r.label, "backend": backend, "arch": arch, "device": device})
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
            row["infer_b1024_img_s"] = _per_second(r.batch_size, r.median)
        elif r.section == "training":
            row[f"epoch_s_b{r.batch_size}"] = r.median
        elif r.section == "memory":
            row["file_bytes"] = r.get("file_bytes")
            row["infer_peak_rss_mib"] = r.get("infer_peak_rss_mib")
    return sorted(rows.values(), key=sort_key(labels_of(records)))


def per_sample(counter: dict):
    value = counter.get("value")
    if value is None:
        return None
    return value / counter["batch_size"] if counter.get("per") == "batch" and counter.get("batch_size") else value


def overall_section(records: list[Record], ctx: Context) -> Section:
    """The headline table (at most 10 columns) and a detail table of sizes and work."""
    rows = overall_rows(records)
    records = [r for r in records if r.section in CORE_SECTIONS]
    batches = [r.batch_size for r in records if r.section == "training" and r.batch_size]
    train_batch = max(set(batches), key=lambda b: (batches.count(b), -b)) if batches else None
    headline = _id_columns(ctx) + [
        Column("test top-1", lambda r: r.get("test_top1"), fraction),
        Column(f"inference {UNIT}, batch 1 (median)", _ms_field("infer_b1_ms")),
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
    detail = _id_columns(ctx) + [
        Column("test top-5", lambda r: r.get("test_top5"), fraction),
        Column("params", lambda r: r.get("params"), integer),
        Column("param bytes (float32)", lambda r: r.get("param_bytes"), integer),
        Column("param MB (10^6 bytes)", lambda r: r["param_bytes"] / 1e6 if r.get("param_bytes") else None, sig),
        Column("file bytes (.npz)", lambda r: r.get("file_bytes"), integer),
        Column("MACs/sample (thop convention)", lambda r: r.get("macs_per_sample"), integer),
    ]
    return Section("overall", "Overall performance",
                   "The reference studies' headline table, one row per machine, backend, architecture and device.",
                   [Table(headline, rows, note=note),
                    Table(detail, rows, caption="Sizes and work",
                          note="MACs: analytic, per sample, bias excluded (what thop reports); each framework's "
                               "own FLOP counter is in the FLOPs section.")])


# --- accuracy -----------------------------------------------------------------------------------------------

def accuracy_section(records: list[Record], ctx: Context) -> Section:
    cfg = lambda r, k: (r.get("train_config") or {}).get(k)  # noqa: E731
    recs = _sorted(records)
    trained_by = _trained_by(recs)
    scores = Table(_id_columns(ctx) + [
        Column("val top-1", lambda r: r.get("val_top1"), fraction),
        Column("val top-5", lambda r: r.get("val_top5"), fraction),
        Column("test top-1", lambda r: r.get("test_top1"), fraction),
        Column("test top-5", lambda r: r.get("test_top5"), fraction),
        Column("test loss (cross-entropy)", lambda r: r.get("test_loss"), sig, optional=True),
        Column("test images", lambda r: r.get("test_samples"), integer, optional=True),
        *accuracy_seeds.columns(recs),
        trained_by,
    ], recs, note="Over several seeds the top-1 and top-5 columns are the first seed's model, the one every other "
                  "group times; the seed columns hold the mean over the seeds, its 95% Student-t interval, and "
                  "whether the backend reaches handcrafted's mean within ±0.5 points (TOST: 'equivalent' when the "
                  "90% interval of the difference lies within the margin, 'different' when the 95% interval "
                  "excludes 0, 'undecided' otherwise or with fewer than two seeds a side).")
    setup = Table(_id_columns(ctx) + [
        Column("architecture", lambda r: r.get("arch_name"), text, optional=True, left=True),
        Column("dataset", lambda r: r.get("dataset"), text, left=True),
        Column("epochs", lambda r: r.get("epochs"), integer),
        Column("optimizer", lambda r: cfg(r, "optimizer"), text, optional=True),
        Column("lr", lambda r: cfg(r, "lr"), general, optional=True),
        Column("train batch", lambda r: cfg(r, "batch_size"), integer, optional=True),
        Column("seed", lambda r: r.get("seed"), integer),
    ], trained_here(recs), caption="Training setup", note="Rows that run another backend's weights trained nothing "
                                                          "and are not listed.")
    cost = Table(_id_columns(ctx) + [
        Column(f"training {UNIT}", lambda r: r.get("train_seconds")),
        trained_by,
        Column("from cache", lambda r: None if r.get("model_cached") is None else
               ("yes" if r.get("model_cached") else "no"), text, optional=True),
        Column(f"test-set predict {UNIT} (median)", _stat("median")),
    ], recs, caption="Training and evaluation time",
        note="Training time of a model loaded from the cache is that of the run that trained it, and of a "
             "model running another backend's weights that backend's. Test-set predict: `backend.predict` "
             "over the whole test split, conversion included.")
    return Section("accuracy", "Accuracy", "Top-1 and top-5 on validation and test, from the accuracy benchmarks.",
                   [scores, setup, cost])


def trained_here(records: list[Record]) -> list[Record]:
    """The rows whose backend trained its own model (not ONNX Runtime's, nor any that runs another's weights)."""
    return [r for r in records if not r.get("weights_from")]


def _trained_by(records: list[Record]) -> Column:
    """The backend that trained a row's weights (ONNX Runtime's, or every backend's for an arch the profile has
    one backend train); shown only when some row runs another backend's weights."""
    borrowed = any(r.get("weights_from") for r in records)
    return Column("weights trained by",
                  lambda r: (r.get("weights_from") or r.ident[0]) if borrowed else None, text, optional=True,
                  left=True)


# --- inference ----------------------------------------------------------------------------------------------

def inference_section(records: list[Record], ctx: Context) -> Section:
    recs = _sorted(records)
    batch = Column("batch", lambda r: r.batch_size, plain)
    steady = Table(_id_columns(ctx) + [
        batch,
        Column(f"latency {UNIT} (median)", _stat("median")),
        *uncertainty_columns(),
        Column("img/s (batch / median)", lambda r: _per_second(r.batch_size, r.median), sig),
        flag_column(),
    ], recs, caption="Steady state (after warm-up)",
        note="The forward pass on a tensor already on the device; on GPU each call waits for the result. p90/p99 "
             "and the median's 95% interval (exact order statistics) are per call. ⚠ unstable: the machine was "
             "disturbed or the samples too spread to trust (lenet.measure.noise); do not quote that figure.")
    spread = Table(_id_columns(ctx) + [
        batch,
        Column(f"IQR {UNIT}", _stat("iqr"), optional=True),
        Column(f"stddev {UNIT}", _stat("stddev"), optional=True),
        Column("rounds", lambda r: r.stats.get("rounds"), integer, optional=True),
        Column("iterations", lambda r: r.stats.get("iterations"), integer, optional=True),
    ], recs, caption="Spread and rounds")
    tables = [steady, spread]
    first = [r for r in recs if r.get("first_call_s") is not None]
    if first:
        tables.append(Table(_id_columns(ctx) + [
            batch,
            Column(f"first call {UNIT}", lambda r: r.get("first_call_s")),
            Column("first call / median", lambda r: _per_second(r.get("first_call_s"), r.median), ratio),
        ], first, caption="First call (tracing, compilation, allocator warm-up)",
            note="Shown apart: not included in the steady-state figures above."))
    counted = instructions_table(recs, ctx, _stat("median"))
    return Section("inference", "Inference", "Latency and throughput per backend and batch size.",
                   tables + ([counted] if counted else []))


# --- training -----------------------------------------------------------------------------------------------

def _step(key: str):
    return lambda r: (r.get("step_timing") or {}).get(key)


def training_section(records: list[Record], ctx: Context) -> Section:
    recs = _sorted(records)
    samples = lambda r: r.get("train_samples")  # noqa: E731
    batch = Column("batch", lambda r: r.batch_size, plain)
    epochs = Table(_id_columns(ctx) + [
        Column("activation / architecture", lambda r: r.get("activation") or r.get("arch_name"), text,
               optional=True, left=True),
        batch,
        Column("images/epoch", samples, integer),
        Column(f"epoch {UNIT} (median)", _stat("median")),
        Column("img/s (images / median)", lambda r: _per_second(samples(r), r.median), sig),
        flag_column(),
    ], recs, note="Each round is one epoch in the shared seeded order, after a few warm-up steps; data converted "
                  "to framework tensors before timing.")
    steps = Table(_id_columns(ctx) + [
        batch,
        Column("speed dataset", lambda r: r.get("speed_dataset"), text, left=True),
        Column(f"IQR {UNIT}", _stat("iqr"), optional=True),
        Column("rounds", lambda r: r.stats.get("rounds"), integer, optional=True),
        Column(f"step p50 {UNIT}", _step("p50_s"), optional=True),
        Column(f"step p90 {UNIT}", _step("p90_s"), optional=True),
        Column(f"step p99 {UNIT}", _step("p99_s"), optional=True),
    ], recs, caption="Spread and steps", note="IQR: of the epoch times; steps: one optimizer step each.")
    counted = instructions_table(recs, ctx, _step("p50_s"))
    return Section("training", "Training", "Time of one training epoch per backend and batch size.",
                   [epochs, steps] + ([counted] if counted else []))


# --- instruction counts (--instrument instructions) ----------------------------------------------------------

def _counted(key: str):
    """A field of ``extra_info['instructions']`` (lenet.measure.instructions), per call."""
    return lambda r: (r.get("instructions") or {}).get(key)


def instructions_table(records: list[Record], ctx: Context, wall) -> Table | None:
    """Instructions and estimated cycles per call beside the call's wall time (``wall``: seconds), or None when
    no record was counted."""
    counted = [r for r in records if r.get("instructions")]
    if not counted:
        return None
    formula = next(iter(counted)).get("instructions").get("cycles_formula", "")
    return Table(_id_columns(ctx) + [
        Column("batch", lambda r: r.batch_size, plain),
        Column("one call", _counted("call"), text, left=True),
        Column(f"wall {UNIT} (median)", wall),
        Column("instructions", _counted("instructions"), integer),
        Column("L1 misses", _counted("l1_misses"), integer),
        Column("LL misses", _counted("ll_misses"), integer),
        Column("est. cycles", _counted("cycles"), integer),
    ], counted, caption="Instructions per call (cachegrind, 1 thread)",
        note=f"Counted under valgrind's cachegrind in fresh processes at 1 thread, as (count of 2k calls - count "
             f"of k calls) / k; caches simulated, not the host's. Estimated cycles = {formula}: a model, not a "
             "measurement. The wall time was taken at the run's own thread count. Counts repeat to well under "
             "1% on a busy machine, so `lenet compare` judges them at ±1%; a change that moves only memory "
             "traffic the simulated caches do not see is invisible to them (the comparison flags rows where "
             "time and instructions disagree).")


# --- scenarios (MLPerf's, under LoadGen) ---------------------------------------------------------------------

SCENARIO_GROUPS = {"single-stream": "scenario single-stream", "multi-stream": "scenario multi-stream",
                   "server": "scenario server", "offline": "scenario offline"}


def _verdict(r) -> str | None:
    """LoadGen's verdict with its reasons (None for rows from before LoadGen ran the scenarios)."""
    return (r.get("loadgen") or {}).get("verdict")


def _short_verdict(r) -> str | None:
    v = _verdict(r)
    return None if v is None else v.split(" ", 1)[0]


def scenario_overview(recs: list[Record]) -> list[dict]:
    """One row per (machine, backend, arch, device): each scenario's MLPerf metric and LoadGen's verdict."""
    rows: dict[tuple, dict] = {}
    for r in recs:
        name = next((k for k, g in SCENARIO_GROUPS.items() if r.group == g), None)
        if name is None:
            continue
        row = rows.setdefault((r.label, *r.ident), {"label": r.label, "backend": r.ident[0], "arch": r.ident[1],
                                                     "device": r.ident[2], "config": r.get("config")})
        row[name] = r
    return list(rows.values())


def _of(scenario: str, value):
    """A column value read from one scenario's record of an overview row."""
    return lambda row: value(row[scenario]) if scenario in row else None


def scenarios_section(records: list[Record], ctx: Context) -> Section:
    recs = _sorted(records)
    by = {name: [r for r in recs if r.group == group] for name, group in SCENARIO_GROUPS.items()}
    single, multi, server, offline = (by[k] for k in SCENARIO_GROUPS)
    tables = []
    overview = scenario_overview(recs)
    if any(_verdict(r) for r in recs):
        tables.append(Table(_id_columns(ctx) + [
            Column(f"single-stream p90 {UNIT}", _of("single-stream", _ms_field("latency_p90_ms")), optional=True),
            Column("single-stream verdict", _of("single-stream", _short_verdict), text, optional=True, left=True),
            Column(f"multi-stream p99 {UNIT}", _of("multi-stream", _ms_field("latency_p99_ms")), optional=True),
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
        tables.append(Table(_id_columns(ctx) + [
            Column("queries", lambda r: r.get("queries"), integer),
            Column(f"p50 {UNIT}", _ms_field("latency_p50_ms")),
            Column(f"p90 {UNIT}", _ms_field("latency_p90_ms")),
            Column(f"p99 {UNIT}", _ms_field("latency_p99_ms")),
            Column(f"p90 99% upper bound {UNIT}", _ms_field("p90_upper99_ms"), optional=True),
            Column("LoadGen verdict", _verdict, text, optional=True, left=True),
            flag_column(),
        ], single, caption="Single stream (one sample per query, back to back)",
            note="Latency per query. The p90 upper bound: the 99% upper confidence bound of p90 from the order "
                 "statistics, as MLPerf's early stopping bounds it; how far the quoted p90 can be trusted."))
    if multi:
        tables.append(Table(_id_columns(ctx) + [
            Column("queries", lambda r: r.get("queries"), integer),
            Column(f"p50 {UNIT}", _ms_field("latency_p50_ms")),
            Column(f"p99 {UNIT}", _ms_field("latency_p99_ms")),
            Column(f"p99 99% upper bound {UNIT}", _ms_field("p99_upper99_ms"), optional=True),
            Column("LoadGen verdict", _verdict, text, left=True),
            flag_column(),
        ], multi, caption="Multi stream (8 samples per query, back to back)",
            note="Latency per query (its slowest sample); MLPerf's metric is p99. The upper bound: the 99% upper "
                 "confidence bound of p99 from the order statistics (none below 459 queries)."))
    if server:
        tables.append(Table(_id_columns(ctx) + [
            Column(f"p99 bound {UNIT}", _ms_field("latency_bound_ms")),
            Column(f"service {UNIT}", _ms_field("service_ms")),
            Column("peak queries/s", lambda r: r.get("peak_qps"), sig),
            Column("lowest failing queries/s", lambda r: r.get("peak_qps_below"), sig, optional=True),
            Column(f"p50 at peak {UNIT}", _ms_field("latency_p50_ms")),
            Column(f"p99 at peak {UNIT}", _ms_field("latency_p99_ms")),
            Column(f"LoadGen's p99 at peak {UNIT}", _ms_field("loadgen_p99_ms"), optional=True),
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
        tables.append(Table(_id_columns(ctx) + [
            Column("best batch", lambda r: r.batch_size, plain),
            Column("img/s", lambda r: r.get("throughput_img_s"), sig),
            Column(f"batch time {UNIT} (median)", _stat("median")),
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
        sweep = [{"label": r.label, "backend": r.ident[0], "arch": r.ident[1], "device": r.ident[2], **point}
                 for r in offline for point in r.get("offline_sweep") or []]
        if sweep:
            tables.append(Table(_id_columns(ctx) + [
                Column("batch", lambda r: r.get("batch_size"), plain),
                Column(f"batch time {UNIT} (median)", lambda r: r.get("median_s")),
                Column("img/s", lambda r: r.get("throughput_img_s"), sig),
            ], sweep, caption="Offline sweep (how the best batch was chosen)",
                note="Each batch size timed briefly; the best throughput is then measured in full above."))
    return Section("scenarios", "Scenarios", "MLPerf Inference's scenarios, run by MLPerf's LoadGen "
                   "(mlcommons-loadgen): single-stream and multi-stream latency, the server's peak rate under a "
                   "p99 latency bound, offline throughput.", tables)


# --- roofline -----------------------------------------------------------------------------------------------

ROOFLINE_SECTIONS = {"inference": "inference", "training": "training", "scenarios": "offline"}


def roofline_records(records: list[Record]) -> list[Record]:
    """Inference, training and offline rows that carry a roofline (achieved GFLOP/s and intensity)."""
    return [r for r in _sorted(records) if r.section in ROOFLINE_SECTIONS and r.get("achieved_gflops") is not None
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
    points = Table(_id_columns(ctx) + [
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


# --- memory -------------------------------------------------------------------------------------------------

def memory_rows(records: list[Record]) -> list[dict]:
    rows = []
    for r in _sorted(records):
        backend, arch, device = r.ident
        for phase, what in (("infer", f"inference, batch {r.get('infer_batch_size', '?')}"),
                            ("train", f"training, {r.get('train_epoch_samples', '?')} images")):
            if r.get(f"{phase}_peak_rss_mib") is None:
                continue
            rows.append({"label": r.label, "backend": backend, "arch": arch, "device": device, "phase": what,
                         "peak": r.get(f"{phase}_peak_rss_mib"), "baseline": r.get(f"{phase}_baseline_rss_mib"),
                         "delta": r.get(f"{phase}_delta_rss_mib"),
                         "device_peak": r.get(f"{phase}_device_peak_bytes")})
    return rows


def memory_section(records: list[Record], ctx: Context) -> Section:
    recs = _sorted(records)
    sizes = Table(_id_columns(ctx) + [field_column(k, optional=False) for k in
                                       ("params", "param_bytes", "file_bytes", "gzip_bytes")],
                  recs, caption="Sizes")
    rows = memory_rows(recs)
    rss = Table(_id_columns(ctx) + [
        Column("phase", lambda r: r["phase"], text, left=True),
        Column("peak RSS MiB", lambda r: r["peak"], sig),
        Column("baseline RSS MiB", lambda r: r["baseline"], sig),
        Column("delta RSS MiB", lambda r: r["delta"], sig),
        Column("device peak bytes", lambda r: r["device_peak"], integer, optional=True),
    ], rows, caption="Resident memory",
        note="Method: memory-profiler samples the RSS of a fresh Python process per backend and phase (torch and "
             "TF in one process pollute each other's RSS). Baseline: after imports, model build and input "
             "creation; delta: what the phase added. Device peak: the framework's peak allocation (GPU only). "
             "MiB = 2^20 bytes.")
    return Section("memory", "Memory", "Parameter bytes, serialized size and peak resident memory.", [sizes, rss])


# --- FLOPs --------------------------------------------------------------------------------------------------

def flops_rows(records: list[Record]) -> list[dict]:
    rows = []
    for r in _sorted(records):
        backend, arch, device = r.ident
        for name, c in (r.get("flop_counters") or {}).items():
            expected = c.get("expected")
            rows.append({"label": r.label, "backend": backend, "arch": arch, "device": device, "counter": name,
                         "convention": c.get("convention"), "per": c.get("per"), "batch_size": c.get("batch_size"),
                         "value": c.get("value"), "per_sample": per_sample(c),
                         "analytic": c.get("analytic_per_sample"),
                         "match": None if expected is None else ("yes" if c.get("value") == expected else "NO")})
    return rows


def flops_section(records: list[Record], ctx: Context) -> Section:
    recs = _sorted(records)
    rows = flops_rows(recs)
    counters = Table(_id_columns(ctx) + [
        Column("counter", lambda r: r["counter"], text, left=True),
        Column("convention", lambda r: r["convention"], text, left=True),
        Column("counted per", lambda r: None if r["per"] is None else
               (f"batch of {r['batch_size']}" if r["per"] == "batch" else r["per"]), text, left=True),
        Column("counter value", lambda r: r["value"], integer),
        Column("counter value/sample", lambda r: r["per_sample"], integer),
        Column("analytic/sample (same convention)", lambda r: r["analytic"], integer),
        Column("matches", lambda r: r["match"], text),
    ], rows, caption="Framework counters against the analytic count")
    archs = {}
    for r in recs:
        archs.setdefault((r.ident[1], r.get("arch_name")), r)
    analytic = Table([
        Column("arch", lambda r: r.ident[1], text, left=True),
        Column("architecture", lambda r: r.get("arch_name"), text, optional=True, left=True),
        field_column("params", optional=False),
        Column("MACs/sample (macs: thop, fvcore)", lambda r: r.get("macs_per_sample"), integer),
        Column("FLOPs/sample (flops: 2 x MACs, torch flop_counter)", lambda r: r.get("flops_per_sample"), integer),
        Column("FLOPs/sample (flops_tf: 2 x MACs + bias + pool, TF profiler)",
               lambda r: r.get("flops_tf_per_sample"), integer),
    ], list(archs.values()), caption="Analytic counts (from the spec, per sample)")
    conventions = {}
    for r in recs:
        conventions.update(r.get("flop_conventions") or {})
    note = "; ".join(f"`{k}`: {v}" for k, v in conventions.items())
    if rows:
        counters.note = ("Conventions: " + note) if note else ""
    tables = [analytic] + ([counters] if rows else [])
    return Section("flops", "FLOPs", "Every count carries its convention; per batch and per sample are kept apart.",
                   tables)


# --- speed targets ------------------------------------------------------------------------------------------

def speed_rows(records: list[Record]) -> list[dict]:
    rows = []
    for label in labels_of(records):
        mine = [r for r in records if r.label == label and r.section in ("inference", "training", "speed-ratios")
                and r.get("backend") and r.get("arch")]
        if not mine:
            continue
        rows += [{"label": label, **row} for row in check_speed_targets(mine)]
    return rows


def _speed_result(row: dict) -> str:
    if row["passed"] is None:
        return "⚠ unstable: not judged" if row["unstable"] else "not judged: " + "; ".join(row["reasons"])
    interval = f" [{row['interval'][0]:.2f}, {row['interval'][1]:.2f}]" if row.get("interval") else ""
    return ("PASS" if row["passed"] else "FAIL") + interval


def speed_ratio_rows(records: list[Record]) -> list[dict]:
    """One row per interleaved benchmark and rival: handcrafted's speed over the rival's."""
    order = sort_key(labels_of(records))
    recs = sorted(records, key=lambda r: (order(r)[:-1], str(r.get("phase")), r.get("batch_size") or 0))
    return [{"record": r, "rival": rival, **s} for r in recs
            for rival, s in sorted((r.get("speedup") or {}).items(), key=lambda kv: _backend_order(kv[0]))]


def speed_ratios_section(records: list[Record], ctx: Context) -> Section:
    def measured(row):  # the two contenders' medians in the same rounds
        r, pair = row["record"], (HANDCRAFTED, row["rival"])
        if r.get("phase") == "infer":
            return " / ".join(f"{(r.get('throughput') or {}).get(b, 0):,.0f}" for b in pair) + " img/s"
        return " / ".join(f"{(r.get('step_time') or {}).get(b, 0) * 1e3:.2f}" for b in pair) + " ms"

    cols = ([Column("machine", lambda row: row["record"].label, text, left=True)] if len(ctx.labels) > 1 else []) + [
        Column("arch", lambda row: row["record"].get("arch"), text, left=True),
        Column("phase", lambda row: row["record"].get("phase"), text),
        Column("batch", lambda row: row["record"].get("batch_size"), integer),
        Column("threads", lambda row: (row["record"].get("threads") or {}).get("requested"), integer),
        Column("rival", lambda row: row["rival"], text),
        Column("rival's mode", lambda row: (row["record"].get("rival_modes") or {}).get(row["rival"], "default"),
               text),
        Column("handcrafted's speed over the rival's", lambda row: row["median"], lambda v: f"{v:.2f}x"),
        Column("95% interval", lambda row: f"[{row['low']:.2f}, {row['high']:.2f}]", text),
        Column("rounds", lambda row: row.get("rounds"), integer, optional=True),
        Column("handcrafted / rival", measured, text),
    ]
    intro = ("Handcrafted against every framework in its tuned mode (docs/tuned-modes.md), on the same weights and "
             "input, timed side by side: rounds of a block each, in a rotating order (bench/test_speed_ratios.py). "
             "The ratio is taken within each round; the median over rounds and its 95% order-statistic interval are "
             "shown. A slow spell of the machine lands on every contender of a round alike. Training compares step "
             "times (speed = 1 / time). Rows recorded before the modes were named ran each rival's default mode.")
    return Section("speed-ratios", "Speed ratios, interleaved", intro, [Table(cols, speed_ratio_rows(records))])


def tuned_modes_section(records: list[Record], ctx: Context) -> Section:
    """Each framework's tuned mode against its default, per batch and thread count (bench/test_tuned_modes.py)."""
    order = sort_key(labels_of(records))
    rows = sorted(records, key=lambda r: (_backend_order(r.get("backend")), order(r)[:-1], str(r.get("phase")),
                                          r.get("batch_size") or 0))

    def gain(r: Record) -> dict:
        return r.get("speedup")[r.get("tuned_mode")]

    def measured(r: Record) -> str:  # default / tuned, medians in the same rounds
        modes = (r.get("default_mode"), r.get("tuned_mode"))
        if r.get("phase") == "infer":
            return " / ".join(f"{(r.get('throughput') or {}).get(m, 0):,.0f}" for m in modes) + " img/s"
        return " / ".join(f"{(r.get('step_time') or {}).get(m, 0) * 1e3:.2f}" for m in modes) + " ms"

    cols = ([Column("machine", lambda r: r.label, text, left=True)] if len(ctx.labels) > 1 else []) + [
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


def speed_section(records: list[Record], ctx: Context) -> Section:
    rows = speed_rows(records)
    cols = ([Column("machine", lambda r: r["label"], text, left=True)] if len(ctx.labels) > 1 else []) + [
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


# --- static vs dynamic graph --------------------------------------------------------------------------------

GRAPH_FIELDS = ("mode", "phase", "batch_size")


def graph_section(records: list[Record], ctx: Context) -> Section:
    recs = sorted(records, key=lambda r: (sort_key(labels_of(records))(r), str(r.get("phase")), str(r.get("mode"))))
    cols = _id_columns(ctx) + [field_column(k) for k in GRAPH_FIELDS] + [
        field_column("first_call_s"), field_column("steady_s"),
        Column("break-even calls", break_even, lambda v: v if isinstance(v, str) else integer(v), optional=True),
    ]
    shown = {*GRAPH_FIELDS, "first_call_s", "steady_s", "break_even_calls"}
    cols += [field_column(k) for k in extra_fields(recs, shown)]
    note = ("First call: the one call that traces or compiles (eager has none to speak of); steady state: median "
            "after warm-up; break-even: calls after which the graph mode's first-call cost is repaid.")
    return Section("graph", "Static vs dynamic graph", "Eager against traced (tf.function, XLA, torch.compile) per "
                   "phase and batch.", [Table(cols, recs, note=note)])


# --- compression --------------------------------------------------------------------------------------------

COMPRESSION_FIELDS = ("top1", "top5", "nonzero_params", "dense_bytes", "file_bytes", "gzip_bytes", "executed_macs",
                      "latency_b1_ms", "latency_b256_ms", "peak_rss_mib")


def compression_rows(records: list[Record]) -> list[dict]:
    """The base model of each (machine, backend, arch, device) once, then every technique x level."""
    rows, bases = [], set()
    for r in _sorted(records):
        backend, arch, device = r.ident
        ident = {"label": r.label, "backend": backend, "arch": arch, "device": device}
        key = (r.label, backend, arch, device)
        if key not in bases and any(r.get("base_" + f) is not None for f in COMPRESSION_FIELDS):
            bases.add(key)
            rows.append({**ident, "technique": "none (base)", "level": None,
                         **{f: r.get("base_" + f) for f in COMPRESSION_FIELDS}})
        rows.append({**ident, **{k: v for k, v in r.extra.items() if k not in ("backend", "arch", "device")},
                     "_record": r})
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
    recs = _sorted(records)
    shown = {"technique", "level", *COMPRESSION_FIELDS}
    others = [k for k in extra_fields(recs, shown) if not k.startswith("base_")]
    what = [field_column("technique", optional=False), field_column("level", optional=False)]
    size = Table(_id_columns(ctx) + what + [field_column(k) for k in SIZE_FIELDS], rows,
                 caption="Accuracy and size (the base row is the uncompressed model)")
    work = Table(_id_columns(ctx) + what + [field_column(k) for k in COMPRESSION_FIELDS if k not in SIZE_FIELDS],
                 rows, caption="Work and speed")
    details = [{**r, "field": field_header(k).replace(UNIT, "ms" if k.endswith("_ms") else "s"),
                "value": r.get(k)} for r in rows for k in others if r.get(k) is not None]

    def verdict(r):
        slower = slower_at(r, threshold_time)
        return f"slower ({', '.join(f'batch {b}' for b in slower)})" if slower else None

    relative_rows = [r["_record"] for r in rows if "_record" in r]
    ratios = ("nonzero_params", "gzip_bytes", "executed_macs", "latency_b1_ms", "latency_b256_ms")
    rel = Table(_id_columns(ctx) + what + [
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
        tables.append(Table(_id_columns(ctx) + what + [Column("field", lambda r: r["field"], text, left=True),
                                                        Column("value", lambda r: r["value"], left=True)],
                            details, caption="Technique details",
                            note="What each technique recorded beyond the figures above, one field per row."))
    return Section("compression", "Compression", "Pruning (masked vs physically removed), quantization and "
                   "low-rank, each against the uncompressed model.", tables)


def break_even(r: Record):
    """Whole calls; a recorded null means the mode never pays back (it is not faster at steady state)."""
    if "break_even_calls" in r.extra and r.extra["break_even_calls"] is None:
        return "never"
    return r.get("break_even_calls")


# --- MLP sweep ----------------------------------------------------------------------------------------------

MLP_FIELDS = ("hidden", "params", "param_bytes", "test_top1", "test_top5")


def mlp_section(records: list[Record], ctx: Context) -> Section:
    recs = sorted(records, key=lambda r: (labels_of(records).index(r.label), _backend_order(r.ident[0]),
                                          r.ident[2], r.get("params") or 0, r.ident[1]))
    hidden = field_column("hidden")
    size = Table(_id_columns(ctx) + [field_column(k) for k in MLP_FIELDS], recs, note=_sweep_protocol(recs))
    others = extra_fields(recs, set(MLP_FIELDS))
    tables = [size]
    if others:
        tables.append(Table(_id_columns(ctx) + [hidden] + [field_column(k) for k in others], recs,
                            caption="Speed and memory"))
    return Section("mlp-sweep", "MLP sweep", "One- and two-hidden-layer MLPs against LeNet-5 (Study E), by size.",
                   tables)


def _sweep_protocol(records: list[Record]) -> str:
    """For rows of config ``study-e``: what Study E's protocol is, and the dataset it ran on when not MNIST."""
    datasets = sorted({r.get("dataset") for r in records if r.get("config") == "study-e"})
    if not datasets:
        return ""
    note = "Config `study-e` is Study E's own protocol: plain SGD, batch 4, 20 epochs, its step schedule."
    if datasets != ["mnist"]:
        note += f" Study E trained on MNIST; these rows trained on {', '.join(datasets)}."
    return note


# --- histories ----------------------------------------------------------------------------------------------

def histories_table(labelled_runs: list, used: dict, label_of) -> Table:
    rows = [{"label": label_of(label, run), "run": run, "used": used.get(id(run), 0)} for label, run in labelled_runs]
    commit = lambda r: ((r["run"].commit.get("id") or "")[:10] +  # noqa: E731
                        (" (dirty)" if r["run"].commit.get("dirty") else "")) or None
    return Table([
        Column("machine", lambda r: r["label"], text, left=True),
        Column("file", lambda r: ", ".join(p.name for p in r["run"].files), code, left=True),  # a run's shards
        Column("saved (UTC)", lambda r: r["run"].datetime[:19] or None, text, left=True),
        Column("commit", commit, text, left=True),
        Column("CPU", lambda r: (r["run"].machine.get("cpu") or {}).get("brand_raw"), text, left=True),
        Column("cores", lambda r: (r["run"].machine.get("cpu") or {}).get("count"), integer),
        Column("python", lambda r: r["run"].machine.get("python_version"), text),
        Column("benchmarks", lambda r: len(r["run"].benchmarks), integer),
        Column("used", lambda r: r["used"], integer),
    ], rows, note="Runs sharing a machine label are merged: where one benchmark appears in several, the newest "
                  "run's figure is used ('used' counts them).")



def parts_table(labelled_runs: list, label_of) -> Table | None:
    """The wall time of each part of each run's session (bench files, model training, the total), when recorded."""
    rows = [{"label": label_of(label, run), "run": run.path.name, "part": part, "seconds": seconds}
            for label, run in labelled_runs
            for part, seconds in (run.session.get("parts_wall_s") or {}).items()]
    if not rows:
        return None
    return Table([
        Column("machine", lambda r: r["label"], text, left=True, collapsible=True),
        Column("run", lambda r: r["run"], code, left=True, collapsible=True),  # several runs: which one
        Column("part", lambda r: r["part"], text, left=True),
        Column("wall time (s)", lambda r: r["seconds"], sig),
    ], rows, caption="Wall time per part",
        note="Each bench file's tests from start to end; 'model training' is the time spent training models that "
             "were not in the model cache, taken out of the tests that first needed them.")
