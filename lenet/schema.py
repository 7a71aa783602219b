"""The one place that declares each bench group: its name, the report section it feeds (title, builder, plots),
whether its rows feed the speed targets, and how its figure is judged for trust.

A bench file gives its rows a group (``@pytest.mark.benchmark(group=...)``, often with the batch appended:
"inference batch=64"); :func:`group_of` finds the :class:`Group` a row belongs to by the longest declared
prefix.  Everything that reads rows by group reads this table: the bench's flag (``bench/conftest.py``,
:meth:`lenet.measure.monitor.SessionMonitor.judge`) and the report's sections (:mod:`lenet.report`).  Adding a
section is one :func:`register` call (or one entry of :data:`GROUPS`) and its builder: the report renders every
registered section whose rows a history holds.

**Pairing.**  A row that compares its contender with a reference records ``extra_info["ratio"]`` (one shape,
:mod:`lenet.study.contenders`): how many times faster it ran than the reference, in interleaved rounds on the
same input and weights.  What each group is paired against:

* ``inference`` and ``train-epoch``: the reference backend (handcrafted, else the first selected backend) on the
  same batch, the forward pass or the training step; the reference's own rows have none;
* ``graph``: eager, of the same backend, phase and batch; eager's own rows have none;
* ``compression``: ``base``, the same backend's uncompressed model, at batch 1;
* ``speed-ratio`` and ``tuned-vs-default``: interleaved whole (their ``speedup``, every contender in one row);
* ``scenario``: unpaired (bench/test_scenarios.py says why), judged by the machine's state;
* ``accuracy``, ``memory``, ``flops``: not timings; ``mlp-sweep``: one model per row, no contender.

Builders and plotters are named ``"module:function"`` (resolved when the report is built, so that this module
imports no report code) or given as callables: a builder takes ``(records, ctx)`` and returns a
:class:`lenet.report.sections.core.Section`; a plotter takes ``(records, out_folder)`` and returns a
:class:`lenet.report.plots.PlotInfo`, a list of them, or None.

**Trust rules.**  A figure is flagged only by what can disturb it:

* :data:`TIME`: a timing, which a loaded or drifting machine slows; judged by the machine's state around it
  and the spread of its own samples (:func:`lenet.measure.noise.judge`), and re-timed when flagged
  (``bench/conftest.py``);
* :data:`QUEUED`: latencies that include queueing behind random arrivals (LoadGen's server scenario): spread by
  the scenario itself, so judged by the machine's state alone, not by their spread;
* :data:`MEMORY`: a peak RSS taken in fresh processes; judged by its spread over the repeats
  (:func:`lenet.measure.noise.judge_memory`), never by CPU load, which does not change how much memory a
  forward pass needs;
* :data:`DETERMINISTIC`: accuracy, FLOPs, parameters, bytes: no state of the machine changes them, so they
  are never flagged (what pytest-benchmark times in such a row, an evaluation or a counter's run, is a
  side figure and is not judged).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

TIME = "time"
QUEUED = "queued"
MEMORY = "memory"
DETERMINISTIC = "deterministic"
TRUST_RULES = (TIME, QUEUED, MEMORY, DETERMINISTIC)
RETIMED = (TIME, QUEUED)  # the rules whose flagged figures are timed again


# The format of lenet's fields in a row's extra_info, recorded as extra_info["lenet_format"] (absent: 1).
#   1: before this table; the session's measurements in machine_info.lenet; flags by the older rules
#   2: trust rules (trust_rule), re-timing (attempts), seed spreads, the session's measurements in lenet_session
# Readers migrate older rows (flag_of; lenet.io.history.Run.session) and refuse newer ones (lenet.io.history_checks).
FORMAT = 2

Ref = str | Callable  # "module:function", or the function itself


@dataclass(frozen=True)
class Group:
    """One bench group: the rows whose group starts with ``prefix``."""

    prefix: str  # the group's name, or its start ("inference" for "inference batch=64")
    section: str  # the report section it feeds
    title: str  # that section's title
    trust: str  # one of TRUST_RULES
    builder: Ref | None = None  # the section's builder (on the section's first group)
    plots: tuple = ()  # the section's plotters (on the section's first group)
    speed: bool = False  # its rows feed the speed targets and the roofline, placed after the last such section

    def __post_init__(self):
        if self.trust not in TRUST_RULES:
            raise ValueError(f"group {self.prefix!r}: trust must be one of {TRUST_RULES}, got {self.trust!r}")


@dataclass(frozen=True)
class Section:
    """A report section: its key, title, builder and plotters, and the prefixes of the groups it holds."""

    key: str
    title: str
    builder: Ref
    plots: tuple
    prefixes: tuple
    speed: bool


_S = "lenet.report.sections."
_P = "lenet.report.plots:"
# In the report's order.
GROUPS = (
    Group("accuracy", "accuracy", "Accuracy", DETERMINISTIC, _S + "accuracy:accuracy_section",
          (_P + "plot_training_curves",)),
    Group("inference", "inference", "Inference", TIME, _S + "inference:inference_section",
          (_P + "plot_latency_vs_batch",), speed=True),
    Group("train-epoch", "training", "Training", TIME, _S + "training:training_section", speed=True),
    Group("scenario", "scenarios", "Scenarios", TIME, _S + "scenarios:scenarios_section",
          (_P + "plot_server_latency_vs_rate",), speed=True),
    Group("scenario server", "scenarios", "Scenarios", QUEUED),
    Group("memory", "memory", "Memory", MEMORY, _S + "memory:memory_section"),
    Group("flops", "flops", "FLOPs", DETERMINISTIC, _S + "flops:flops_section"),
    Group("graph", "graph", "Static vs dynamic graph", TIME, _S + "graph:graph_section", (_P + "plot_graph_modes",)),
    Group("compression", "compression", "Compression", TIME, _S + "compression:compression_section",
          (_P + "plot_compression",)),
    Group("mlp-sweep", "mlp-sweep", "MLP sweep", TIME, _S + "mlp_sweep:mlp_section"),
    Group("tuned-vs-default", "tuned-modes", "What an expert gains", TIME, _S + "tuned_modes:tuned_modes_section"),
    Group("speed-ratio", "speed-ratios", "Speed ratios, interleaved", TIME, _S + "speed_ratios:speed_ratios_section",
          speed=True),
)
_REGISTRY: list[Group] = list(GROUPS)


# --- recorded fields ------------------------------------------------------------------------------------------

STUDY, MODEL, BENCH = "study", "model", "bench"  # who records a field on every row (Field.recorded_by)


@dataclass(frozen=True)
class Field:
    """One ``extra_info`` field: its unit, how the report heads and formats it, whether the machine can move it,
    and who records it on every row.

    ``header`` holds the unit and convention a column shows (``{unit}``: a duration column, its unit chosen from
    its values); a field without one is headed from its name and suffix (``_ms``, ``_bytes``, ...), so that a
    new field renders without a declaration.  ``fmt`` names a number format of :mod:`lenet.report.markdown`
    (``sig``: 4 significant digits; ``fraction``: 4 decimals; ``integer``: thousands separators; ``plain``: no
    separators; ``general``: as written; ``text``; ``auto``: by type).  ``recorded_by``: :data:`STUDY` (the common
    record :meth:`lenet.study.session.Study.record` writes on every row), :data:`MODEL` (the same, for a model
    trained or loaded in the session), :data:`BENCH` (the bench's other measurements that many rows carry: the
    machine's state, the timing's spread, the roofline, re-timing, seeds, instruction counts; the report shows
    them in columns of their own), or "" (a group's own field, shown where its section shows it or among the
    section's other fields).
    """

    name: str
    unit: str = ""  # what the value is recorded in: s, ms, bytes, MiB, img/s, fraction (0-1), or "" (none)
    header: str | None = None
    fmt: str = "auto"
    deterministic: bool = True  # no state of the machine changes it (accuracy, sizes, counts): never flagged
    recorded_by: str = ""


_TIMED = {"deterministic": False}
# Every field the report or the bench knows by name; the rest of extra_info is a group's own, rendered by suffix.
FIELDS = (
    Field("lenet_format", recorded_by=STUDY),
    Field("backend", header="backend", fmt="text", recorded_by=STUDY),
    Field("arch", header="arch", fmt="text", recorded_by=STUDY),
    Field("arch_name", header="architecture", fmt="text", recorded_by=STUDY),
    Field("device", header="device", fmt="text", recorded_by=STUDY),
    Field("dataset", header="dataset", fmt="text", recorded_by=STUDY),
    Field("num_classes", recorded_by=STUDY),
    Field("input_shape", recorded_by=STUDY),
    Field("epochs", recorded_by=STUDY),
    Field("seed", recorded_by=STUDY),
    Field("config", recorded_by=STUDY),
    Field("train_config", recorded_by=STUDY),
    Field("profile", recorded_by=STUDY),
    Field("threads", recorded_by=STUDY),
    Field("params", header="params", fmt="integer", recorded_by=STUDY),
    Field("param_bytes", "bytes", "param bytes (float32)", "integer", recorded_by=STUDY),
    Field("macs_per_sample", header="MACs/sample (thop convention)", fmt="integer", recorded_by=STUDY),
    Field("flops_per_sample", recorded_by=STUDY),
    Field("flops_tf_per_sample", recorded_by=STUDY),
    Field("flop_conventions", recorded_by=STUDY),
    Field("val_top1", "fraction", "val top-1", "fraction", recorded_by=MODEL),
    Field("val_top5", "fraction", "val top-5", "fraction", recorded_by=MODEL),
    Field("test_top1", "fraction", "test top-1", "fraction", recorded_by=MODEL),
    Field("test_top5", "fraction", "test top-5", "fraction", recorded_by=MODEL),
    Field("test_loss", recorded_by=MODEL),
    Field("train_seconds", "s", **_TIMED, recorded_by=MODEL),
    Field("model_cached", recorded_by=MODEL),
    # the bench's own measurements (lenet.measure.monitor, .ceiling, .instructions; lenet.study.retime, .seeds)
    *(Field(name, recorded_by=BENCH) for name in (
        "history", "test_samples", "flop_convention", "arithmetic_intensity_flop_per_byte", "seed_spread",
        "trust_rule", "instructions")),
    *(Field(name, **_TIMED, recorded_by=BENCH) for name in (
        "unstable", "unstable_reasons", "timing", "noise", "attempts", "achieved_gflops", "pct_of_peak",
        "roof_gflops", "peak_gflops", "bandwidth_gbs", "step_timer_overhead_s", "step_timer_overhead_fraction",
        "infer_peak_rss_repeats_mib", "train_peak_rss_repeats_mib")),
    # groups' own fields that the report heads by name
    Field("technique", header="technique", fmt="text"),
    Field("level", header="level", fmt="general"),
    Field("mode", header="mode", fmt="text"),
    Field("phase", header="phase", fmt="text"),
    Field("hidden", header="hidden units", fmt="text"),
    Field("batch_size", header="batch", fmt="plain"),
    Field("nonzero_params", header="non-zero params", fmt="integer"),
    Field("dense_bytes", "bytes", "dense bytes (float32)", "integer"),
    Field("file_bytes", "bytes", "file bytes (.npz)", "integer"),
    Field("gzip_bytes", "bytes", "gzip bytes (level 9)", "integer"),
    Field("executed_macs", header="executed MACs/sample", fmt="integer"),
    Field("top1", "fraction", "test top-1", "fraction"),
    Field("top5", "fraction", "test top-5", "fraction"),
    Field("base_top1", "fraction", "base test top-1", "fraction"),
    Field("latency_ms", "ms", "latency {unit} (median)", "sig", **_TIMED),
    Field("latency_b1_ms", "ms", "latency {unit}, batch 1 (median)", "sig", **_TIMED),
    Field("latency_b256_ms", "ms", "latency {unit}, batch 256 (median)", "sig", **_TIMED),
    Field("throughput_img_s", "img/s", "img/s", "sig", **_TIMED),
    Field("peak_rss_mib", "MiB", "peak RSS MiB", "sig", **_TIMED),
    Field("first_call_s", "s", "first call {unit}", "sig", **_TIMED),
    Field("steady_s", "s", "steady-state {unit} (median)", "sig", **_TIMED),
    Field("break_even_calls", header="break-even calls", fmt="sig", **_TIMED),
)
FIELD = {f.name: f for f in FIELDS}


def recorded_by(who: str) -> tuple[str, ...]:
    """The names of the fields ``who`` (:data:`STUDY`, :data:`MODEL`, :data:`BENCH`) records on every row."""
    return tuple(f.name for f in FIELDS if f.recorded_by == who)


def register(group: Group) -> None:
    """Declare one more group (and, as its section's first group, a section with its builder and plots)."""
    if any(g.prefix == group.prefix for g in _REGISTRY):
        raise ValueError(f"group {group.prefix!r} is declared already")
    if group.section not in {g.section for g in _REGISTRY} and group.builder is None:
        raise ValueError(f"group {group.prefix!r}: a new section {group.section!r} needs a builder")
    _REGISTRY.append(group)


def unregister(prefix: str) -> None:
    """Take back a group :func:`register` declared (tests)."""
    _REGISTRY[:] = [g for g in _REGISTRY if g.prefix != prefix or g in GROUPS]


def groups() -> tuple[Group, ...]:
    return tuple(_REGISTRY)


def group_of(name: str | None) -> Group | None:
    """The declared group a row's group name belongs to (the longest matching prefix), or None."""
    name = name or ""
    matches = [g for g in _REGISTRY if name == g.prefix or name.startswith(g.prefix + " ")]
    return max(matches, key=lambda g: len(g.prefix), default=None)


def section_of(group: str | None) -> str | None:
    """The report section a row's group feeds ("inference batch=64" -> inference), or None."""
    declared = group_of(group)
    return declared.section if declared else None


def sections() -> dict[str, Section]:
    """``section key -> Section`` in the report's order (its first group declares its title, builder, plots)."""
    out: dict[str, Section] = {}
    for g in _REGISTRY:
        if g.section in out:
            s = out[g.section]
            out[g.section] = Section(s.key, s.title, s.builder, s.plots, s.prefixes + (g.prefix,), s.speed)
        else:
            out[g.section] = Section(g.section, g.title, g.builder, g.plots, (g.prefix,), g.speed)
    return out


def flag_of(group: str | None, extra: dict) -> tuple[bool, list]:
    """A row's flag and reasons under today's rules, for histories written before them (a row of format 2 or
    later was judged by them when it was taken, and keeps its flag): a deterministic figure is never
    flagged; a memory row without repeats cannot be judged by the memory rule; a timing is judged again from the
    readings its history kept (:func:`lenet.measure.noise.rejudge`), or keeps its flag without them."""
    declared = group_of(group)
    recorded = bool(extra.get("unstable")), list(extra.get("unstable_reasons") or [])
    if declared is None or format_of(extra) >= 2:
        return recorded
    if declared.trust == DETERMINISTIC or (declared.trust == MEMORY and not any(k.endswith("_repeats_mib")
                                                                               for k in extra)):
        return False, []
    if declared.trust in RETIMED:
        from .measure.noise import rejudge  # numpy and scipy: only when a history needs it

        reasons = rejudge(extra) if declared.trust == TIME else None
        if reasons is not None:
            return bool(reasons), reasons
    return recorded


def format_of(extra: dict) -> int:
    """The lenet format a row was written in (:data:`FORMAT`; 1 when it does not say)."""
    return extra.get("lenet_format") or 1


def resolve(ref: Ref) -> Callable:
    """A builder's or plotter's function, from its ``"module:function"`` name or itself."""
    if callable(ref):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)
