"""The report's sections as markdown tables, built from records.

Each ``*_section`` function takes the records of its groups (all of them
non-empty; the orchestrator decides what is absent) and returns a
:class:`Section`.  Values come straight from the history: pytest-benchmark
``stats`` (seconds, converted to the unit in the header) and ``extra_info``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..backends import BACKENDS
from ..study.speed_targets import check as check_speed_targets
from .history import Run
from .markdown import (
    Column,
    Table,
    field_column,
    fraction,
    general,
    integer,
    plain,
    ratio,
    sig,
    signed_points,
    text,
)
from .records import Record, labels_of

# Fields every benchmark carries (lenet.study's Study.record): not repeated as
# "other fields" in the data-driven sections.
COMMON_FIELDS = frozenset({
    "backend", "arch", "arch_name", "device", "dataset", "num_classes", "input_shape", "epochs", "seed",
    "train_config", "profile", "threads", "params", "param_bytes", "macs_per_sample", "flops_per_sample",
    "flops_tf_per_sample", "flop_conventions", "val_top1", "val_top5", "test_top1", "test_top5", "test_loss",
    "train_seconds", "model_cached", "history",
    # uncertainty, machine state and the roofline (lenet.monitor, lenet.ceiling): shown by their own columns
    "unstable", "test_samples", "achieved_gflops", "arithmetic_intensity_flop_per_byte", "flop_convention",
    "pct_of_peak", "roof_gflops", "peak_gflops", "bandwidth_gbs", "step_timer_overhead_s",
    "step_timer_overhead_fraction",
})

# The groups of the headline table (graph, compression and MLP-sweep rows have tables of their own).
CORE_SECTIONS = ("accuracy", "inference", "training", "memory", "flops")


@dataclass
class Section:
    key: str
    title: str
    intro: str = ""
    tables: list = field(default_factory=list)
    plots: list = field(default_factory=list)  # PlotInfo, added by the orchestrator


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
    """machine (only when the report has several), backend, arch, device."""
    cols = [Column("machine", lambda r: r["label"] if isinstance(r, dict) else r.label, text, left=True)] \
        if len(ctx.labels) > 1 else []
    cols.append(Column("backend", lambda r: r["backend"] if isinstance(r, dict) else r.ident[0], text, left=True))
    if with_arch:
        cols.append(Column("arch", lambda r: r["arch"] if isinstance(r, dict) else r.ident[1], text, left=True))
    cols.append(Column("device", lambda r: r["device"] if isinstance(r, dict) else r.ident[2], text, left=True))
    return cols


def _sorted(records: list[Record]) -> list[Record]:
    return sorted(records, key=sort_key(labels_of(records)))


def _per_second(amount, seconds):
    """``amount / seconds``, or None when either is missing or the time is zero."""
    return amount / seconds if amount is not None and seconds else None


def _ms(seconds):
    return None if seconds is None else seconds * 1e3


def _stat_ms(name: str):
    return lambda r: _ms(r.stats.get(name))


def _timing_ms(key: str):
    """A field of ``extra_info['timing']`` (seconds) in ms."""
    return lambda r: _ms((r.get("timing") or {}).get(key))


def _median_ci_ms(r: Record):
    ci = (r.get("timing") or {}).get("median_ci95_s")
    return f"{sig(ci[0] * 1e3)}–{sig(ci[1] * 1e3)}" if ci else None


def flag(r: Record):
    """``⚠ unstable: reasons`` for a flagged benchmark (lenet.noise), None otherwise."""
    return "⚠ unstable: " + "; ".join(r.get("unstable_reasons") or ["flagged"]) if r.get("unstable") else None


def uncertainty_columns() -> list[Column]:
    """p90, p99 and the median's 95% interval, the roofline share, and the unstable flag (all optional)."""
    return [
        Column("median 95% CI ms", _median_ci_ms, text, optional=True),
        Column("p90 ms", _timing_ms("p90_s"), sig, optional=True),
        Column("p99 ms", _timing_ms("p99_s"), sig, optional=True),
        Column("GFLOP/s (analytic)", lambda r: r.get("achieved_gflops"), sig, optional=True),
        Column("% of GEMM peak", lambda r: r.get("pct_of_peak"), sig, optional=True),
        Column("flag", flag, text, optional=True, left=True),
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
        for k in ("params", "param_bytes", "macs_per_sample"):
            if r.get(k) is not None:
                row.setdefault(k, r.get(k))
        if r.get("unstable"):
            row["unstable"] = row.get("unstable", 0) + 1
        if r.section == "accuracy" or "test_top1" not in row:  # the accuracy benchmark's figures win
            for k in ("test_top1", "test_top5"):
                if r.get(k) is not None:
                    row[k] = r.get(k)
        if r.section == "inference" and r.batch_size in (1, 1024):
            row[f"infer_b{r.batch_size}_ms"] = r.median * 1e3
            row[f"infer_b{r.batch_size}_img_s"] = _per_second(r.batch_size, r.median)
        elif r.section == "training":
            row[f"epoch_s_b{r.batch_size}"] = r.median
        elif r.section == "memory":
            row["file_bytes"] = r.get("file_bytes")
            row["infer_peak_rss_mib"] = r.get("infer_peak_rss_mib")
        elif r.section == "flops":
            for name, c in (r.get("flop_counters") or {}).items():
                row[f"counter:{name}"] = per_sample(c)
    return sorted(rows.values(), key=sort_key(labels_of(records)))


def per_sample(counter: dict):
    value = counter.get("value")
    if value is None:
        return None
    return value / counter["batch_size"] if counter.get("per") == "batch" and counter.get("batch_size") else value


def _counter_headers(records: list[Record]) -> dict:
    """counter name -> its convention, from the flops benchmarks."""
    out = {}
    for r in records:
        for name, c in (r.get("flop_counters") or {}).items():
            out.setdefault(name, c.get("convention", "?"))
    return out


def overall_section(records: list[Record], ctx: Context) -> Section:
    rows = overall_rows(records)
    records = [r for r in records if r.section in CORE_SECTIONS]
    train_batches = sorted({r.batch_size for r in records if r.section == "training" and r.batch_size})
    cols = _id_columns(ctx) + [
        Column("test top-1", lambda r: r.get("test_top1"), fraction),
        Column("test top-5", lambda r: r.get("test_top5"), fraction),
        Column("inference ms, batch 1 (median)", lambda r: r.get("infer_b1_ms"), sig),
        Column("inference ms, batch 1024 (median)", lambda r: r.get("infer_b1024_ms"), sig),
        Column("img/s, batch 1024", lambda r: r.get("infer_b1024_img_s"), sig),
    ]
    cols += [Column(f"train epoch s, batch {b} (median)", lambda r, b=b: r.get(f"epoch_s_b{b}"), sig)
             for b in train_batches] or [Column("train epoch s (median)", lambda r: None)]
    cols += [
        Column("params", lambda r: r.get("params"), integer),
        Column("param bytes (float32)", lambda r: r.get("param_bytes"), integer),
        Column("param MB (10^6 bytes)", lambda r: r["param_bytes"] / 1e6 if r.get("param_bytes") else None,
               lambda v: f"{v:.3f}"),
        Column("file bytes (.npz)", lambda r: r.get("file_bytes"), integer),
        Column("peak RSS MiB (inference, batch 1024)", lambda r: r.get("infer_peak_rss_mib"), sig),
        Column("MACs/sample (thop convention)", lambda r: r.get("macs_per_sample"), integer),
    ]
    cols += [Column(f"{name}/sample ({conv})", lambda r, n=name: r.get(f"counter:{n}"), integer)
             for name, conv in _counter_headers(records).items()]
    cols.append(Column("⚠ unstable benchmarks", lambda r: r.get("unstable"), integer, optional=True))
    note = ("Timings: pytest-benchmark medians after warm-up. MACs: analytic, per sample, bias excluded "
            "(what thop reports). FLOP counters: each framework's own counter divided to per sample, under its "
            "convention (`macs` = MACs; `flops` = 2 x MACs, no bias; `flops_tf` = 2 x MACs + bias adds + pool "
            "reads). Peak RSS: memory-profiler in a fresh process. A dash: not run in these histories. '⚠ unstable "
            "benchmarks': how many of the row's figures were measured on a disturbed machine (see each section).")
    return Section("overall", "Overall performance",
                   "The reference studies' headline table, one row per machine, backend, architecture and device.",
                   [Table(cols, rows, note=note)])


# --- accuracy -----------------------------------------------------------------------------------------------

def accuracy_section(records: list[Record], ctx: Context) -> Section:
    cfg = lambda r, k: (r.get("train_config") or {}).get(k)  # noqa: E731
    cols = _id_columns(ctx) + [
        Column("architecture", lambda r: r.get("arch_name"), text, optional=True, left=True),
        Column("dataset", lambda r: r.get("dataset"), text, left=True),
        Column("val top-1", lambda r: r.get("val_top1"), fraction),
        Column("val top-5", lambda r: r.get("val_top5"), fraction),
        Column("test top-1", lambda r: r.get("test_top1"), fraction),
        Column("test top-5", lambda r: r.get("test_top5"), fraction),
        Column("test loss (cross-entropy)", lambda r: r.get("test_loss"), sig, optional=True),
        Column("test images", lambda r: r.get("test_samples"), integer, optional=True),
        Column("epochs", lambda r: r.get("epochs"), integer),
        Column("optimizer", lambda r: cfg(r, "optimizer"), text, optional=True),
        Column("lr", lambda r: cfg(r, "lr"), general, optional=True),
        Column("train batch", lambda r: cfg(r, "batch_size"), integer, optional=True),
        Column("seed", lambda r: r.get("seed"), integer),
        Column("training s", lambda r: r.get("train_seconds"), sig),
        Column("from cache", lambda r: None if r.get("model_cached") is None else
               ("yes" if r.get("model_cached") else "no"), text, optional=True),
        Column("test-set predict ms (median)", _stat_ms("median"), sig),
    ]
    note = ("Training seconds of a model loaded from the cache are those of the run that trained it. "
            "Test-set predict: `backend.predict` over the whole test split, conversion included.")
    return Section("accuracy", "Accuracy", "Top-1 and top-5 on validation and test, from the accuracy benchmarks.",
                   [Table(cols, _sorted(records), note=note)])


# --- inference ----------------------------------------------------------------------------------------------

def inference_section(records: list[Record], ctx: Context) -> Section:
    recs = _sorted(records)
    cols = _id_columns(ctx) + [
        Column("batch", lambda r: r.batch_size, plain),
        Column("latency ms (median)", _stat_ms("median"), sig),
        Column("IQR ms", _stat_ms("iqr"), sig, optional=True),
        Column("stddev ms", _stat_ms("stddev"), sig, optional=True),
        Column("img/s (batch / median)", lambda r: _per_second(r.batch_size, r.median), sig),
        Column("rounds", lambda r: r.stats.get("rounds"), integer, optional=True),
        Column("iterations", lambda r: r.stats.get("iterations"), integer, optional=True),
    ] + uncertainty_columns()
    steady = Table(cols, recs, caption="Steady state (after warm-up)",
                   note="The forward pass on a tensor already on the device; on GPU each call waits for the result. "
                        "p90/p99 and the median's interval (exact order statistics) are per call; GFLOP/s from the "
                        "analytic 2 x MACs, as a share of this machine's GEMM peak measured in the same session. "
                        "⚠ unstable: the machine was disturbed or the samples too spread to trust (lenet.noise).")
    first = [r for r in recs if r.get("first_call_s") is not None]
    tables = [steady]
    if first:
        fcols = _id_columns(ctx) + [
            Column("batch", lambda r: r.batch_size, plain),
            Column("first call s", lambda r: r.get("first_call_s"), sig),
            Column("first call / median", lambda r: _per_second(r.get("first_call_s"), r.median), ratio),
        ]
        tables.append(Table(fcols, first, caption="First call (tracing, compilation, allocator warm-up)",
                            note="Shown apart: not included in the steady-state figures above."))
    return Section("inference", "Inference", "Latency and throughput per backend and batch size.", tables)


# --- training -----------------------------------------------------------------------------------------------

def training_section(records: list[Record], ctx: Context) -> Section:
    recs = _sorted(records)
    samples = lambda r: r.get("train_samples")  # noqa: E731
    cols = _id_columns(ctx) + [
        Column("activation / architecture", lambda r: r.get("activation") or r.get("arch_name"), text,
               optional=True, left=True),
        Column("batch", lambda r: r.batch_size, plain),
        Column("speed dataset", lambda r: r.get("speed_dataset"), text, left=True),
        Column("images/epoch", samples, integer),
        Column("epoch s (median)", lambda r: r.median, sig),
        Column("IQR s", lambda r: r.stats.get("iqr"), sig, optional=True),
        Column("img/s (images / median)", lambda r: _per_second(samples(r), r.median), sig),
        Column("rounds", lambda r: r.stats.get("rounds"), integer, optional=True),
        Column("step p50 ms", lambda r: _ms((r.get("step_timing") or {}).get("p50_s")), sig, optional=True),
        Column("step p90 ms", lambda r: _ms((r.get("step_timing") or {}).get("p90_s")), sig, optional=True),
        Column("step p99 ms", lambda r: _ms((r.get("step_timing") or {}).get("p99_s")), sig, optional=True),
        Column("GFLOP/s (analytic, 3 x forward)", lambda r: r.get("achieved_gflops"), sig, optional=True),
        Column("% of GEMM peak", lambda r: r.get("pct_of_peak"), sig, optional=True),
        Column("flag", flag, text, optional=True, left=True),
    ]
    return Section("training", "Training", "Time of one training epoch per backend and batch size.",
                   [Table(cols, recs, note="Each round is one epoch in the shared seeded order, after a few "
                                           "warm-up steps; data converted to framework tensors before timing.")])


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
        mine = [r for r in records if r.label == label and r.section in ("inference", "training")
                and r.get("backend") and r.get("arch")]
        if not mine:
            continue
        merged = Run(mine[0].run.path, mine[0].run.machine, {}, mine[0].run.datetime,
                     [{"group": r.group, "stats": r.stats, "extra_info": r.extra} for r in mine])
        rows += [{"label": label, **row} for row in check_speed_targets(merged)]
    return rows


def speed_section(records: list[Record], ctx: Context) -> Section:
    rows = speed_rows(records)
    cols = ([Column("machine", lambda r: r["label"], text, left=True)] if len(ctx.labels) > 1 else []) + [
        Column("target", lambda r: r["target"], text, left=True),
        Column("ratio", lambda r: r["ratio"], lambda v: "-" if v is None else f"{v:.2f}"),
        Column("limit", lambda r: r["limit"], text),
        Column("result", lambda r: {True: "PASS", False: "FAIL", None: "⚠ unstable: not judged"}[r["passed"]], text),
    ]
    intro = "The handcrafted backend against torch on the same machine, threads and batch (lenet/speed_targets.py)."
    if not rows:
        intro += " No handcrafted/torch pairs on CPU in these histories: run the bench with both backends."
        return Section("speed", "Speed targets", intro)
    return Section("speed", "Speed targets", intro, [Table(cols, rows)])


# --- static vs dynamic graph --------------------------------------------------------------------------------

GRAPH_FIELDS = ("mode", "phase", "batch_size")


def graph_section(records: list[Record], ctx: Context) -> Section:
    recs = sorted(records, key=lambda r: (sort_key(labels_of(records))(r), str(r.get("phase")), str(r.get("mode"))))
    ms = lambda k: lambda r: _ms(r.get(k))  # noqa: E731
    cols = _id_columns(ctx) + [field_column(k) for k in GRAPH_FIELDS] + [
        Column("first call ms", ms("first_call_s"), sig, optional=True),
        Column("steady-state ms (median)", ms("steady_s"), sig, optional=True),
        Column("break-even calls", _break_even, lambda v: v if isinstance(v, str) else integer(v), optional=True),
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


def compression_section(records: list[Record], ctx: Context) -> Section:
    threshold_time = ctx.threshold_time
    rows = compression_rows(records)
    recs = _sorted(records)
    shown = {"technique", "level", *COMPRESSION_FIELDS}
    others = [k for k in extra_fields(recs, shown) if not k.startswith("base_")]
    absolute = Table(_id_columns(ctx) + [field_column(k, optional=k not in ("technique", "level"))
                                          for k in ("technique", "level", *COMPRESSION_FIELDS, *others)],
                     rows, caption="Absolute figures (the base row is the uncompressed model)")

    def rel(r, f):
        base, new = r.get("base_" + f), r.get(f)
        return new / base if base and new is not None else None

    def verdict(r):
        slower = [b for b in ("b1", "b256") if (q := rel(r, f"latency_{b}_ms")) and q > 1 + threshold_time / 100]
        return f"slower ({', '.join(s.replace('b', 'batch ') for s in slower)})" if slower else None

    relative_rows = [r["_record"] for r in rows if "_record" in r]
    relative = Table(_id_columns(ctx) + [
        field_column("technique", optional=False), field_column("level", optional=False),
        Column("Δ top-1 points", lambda r: (r.get("top1") - r.get("base_top1")) * 100
               if r.get("top1") is not None and r.get("base_top1") is not None else None, signed_points),
        *[Column(f"{field_column(f).header} / base", lambda r, f=f: rel(r, f), ratio, optional=True)
          for f in COMPRESSION_FIELDS[2:]],
        Column("verdict", verdict, text, optional=True),
    ], relative_rows, caption="Relative to the uncompressed model",
        note=f"Ratios below 1 are smaller or faster. Masked pruning executes every multiply: its executed MACs stay "
             f"at the base figure. 'slower': latency more than {threshold_time:g}% above the base model's.")
    return Section("compression", "Compression", "Pruning (masked vs physically removed), quantization and "
                   "low-rank, each against the uncompressed model.", [absolute, relative])


def _break_even(r: Record):
    """Whole calls; a recorded null means the mode never pays back (it is not faster at steady state)."""
    if "break_even_calls" in r.extra and r.extra["break_even_calls"] is None:
        return "never"
    return r.get("break_even_calls")


# --- MLP sweep ----------------------------------------------------------------------------------------------

MLP_FIELDS = ("hidden", "params", "param_bytes", "test_top1", "test_top5")


def mlp_section(records: list[Record], ctx: Context) -> Section:
    recs = sorted(records, key=lambda r: (labels_of(records).index(r.label), _backend_order(r.ident[0]),
                                          r.ident[2], r.get("params") or 0, r.ident[1]))
    cols = _id_columns(ctx) + [field_column(k) for k in MLP_FIELDS]
    cols += [field_column(k) for k in extra_fields(recs, set(MLP_FIELDS))]
    return Section("mlp-sweep", "MLP sweep", "One- and two-hidden-layer MLPs against LeNet-5 (Study E), by size.",
                   [Table(cols, recs)])


# --- histories ----------------------------------------------------------------------------------------------

def histories_table(labelled_runs: list, used: dict, label_of) -> Table:
    rows = [{"label": label_of(label, run), "run": run, "used": used.get(id(run), 0)} for label, run in labelled_runs]
    commit = lambda r: ((r["run"].commit.get("id") or "")[:10] +  # noqa: E731
                        (" (dirty)" if r["run"].commit.get("dirty") else "")) or None
    return Table([
        Column("machine", lambda r: r["label"], text, left=True),
        Column("file", lambda r: f"`{r['run'].path.name}`", text, left=True),
        Column("saved (UTC)", lambda r: r["run"].datetime[:19] or None, text, left=True),
        Column("commit", commit, text, left=True),
        Column("CPU", lambda r: (r["run"].machine.get("cpu") or {}).get("brand_raw"), text, left=True),
        Column("cores", lambda r: (r["run"].machine.get("cpu") or {}).get("count"), integer),
        Column("python", lambda r: r["run"].machine.get("python_version"), text),
        Column("benchmarks", lambda r: len(r["run"].benchmarks), integer),
        Column("used", lambda r: r["used"], integer),
    ], rows, note="Runs sharing a machine label are merged: where one benchmark appears in several, the newest "
                  "run's figure is used ('used' counts them).")

