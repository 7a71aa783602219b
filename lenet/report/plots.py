"""The report's figures: matplotlib on the Agg canvas (no pyplot state), fixed size and dpi, written atomically.

Each ``plot_*`` function draws only what the records hold and returns a
:class:`PlotInfo` read back from the drawn Figure (title, axis labels and
scales, legend entries, the colour of every labelled series, the direct labels
on points), or None when there is nothing to draw.  Legends never lie over the
data: a figure with many series labels its points directly and keeps its one
legend outside the axes.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

from matplotlib.collections import PolyCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogFormatterSciNotation

from ..backends import BACKENDS
from ..io.atomic import write_bytes
from ..io.records import Record, labels_of
from .sections.accuracy import trained_here
from .sections.compression import compression_rows
from .sections.core import PartRow, sort_key
from .sections.overall import overall_rows
from .sections.roofline import ceilings, phase_of, roofline_records

DPI = 100
SIZE = (7.5, 4.5)
WIDE = (11.0, 4.5)
MARKERS = ("o", "s", "^", "D", "v", "x", "P", "*", "h", "<", ">", "p", "X", "d")


@dataclass(frozen=True)
class AxisInfo:
    title: str
    xlabel: str
    ylabel: str
    xscale: str
    yscale: str
    legend: tuple  # legend entries inside these axes, in order
    series: tuple = ()  # (label, colour as #rrggbb) of each labelled line
    labels: tuple = ()  # texts written beside the points
    bands: tuple = ()  # (colour as #rrggbb, lowest y, highest y) of each shaded band


@dataclass(frozen=True)
class PlotInfo:
    path: Path
    title: str  # the figure's suptitle
    axes: tuple  # AxisInfo per axes
    legend: tuple = ()  # the figure's own legend (outside the axes), entries in order
    size: tuple = SIZE  # inches (width, height)


class _PlainLogFormatter(LogFormatterSciNotation):
    """Log-axis tick labels as plain numbers (250, 0.5, 1e+06) where matplotlib would write 2.5x10^2."""

    def __call__(self, x, pos=None):
        return f"{x:g}" if super().__call__(x, pos) else ""


def _plain_log_ticks(fig: Figure) -> None:
    for ax in fig.axes:
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale == "log":
                axis.set_major_formatter(_PlainLogFormatter())
                axis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def describe(fig: Figure, path: Path) -> PlotInfo:
    axes = []
    for ax in fig.axes:
        legend = ax.get_legend()
        series = tuple((ln.get_label(), to_hex(ln.get_color())) for ln in ax.get_lines()
                       if not ln.get_label().startswith("_"))
        axes.append(AxisInfo(ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), ax.get_xscale(), ax.get_yscale(),
                             tuple(t.get_text() for t in legend.get_texts()) if legend else (), series,
                             tuple(t.get_text() for t in ax.texts), tuple(_band(c) for c in ax.collections
                                                                          if isinstance(c, PolyCollection))))
    title = fig._suptitle.get_text() if fig._suptitle else ""
    legend = tuple(t.get_text() for lg in fig.legends for t in lg.get_texts())
    return PlotInfo(path, title, tuple(axes), legend, tuple(fig.get_size_inches()))


def _band(poly: PolyCollection) -> tuple:
    ys = [y for path in poly.get_paths() for _, y in path.vertices]
    return to_hex(poly.get_facecolor()[0]), float(min(ys)), float(max(ys))


def save(fig: Figure, path: Path) -> PlotInfo:
    """PNG at a fixed dpi, written atomically (no half-written image survives a crash)."""
    _plain_log_ticks(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    write_bytes(path, buf.getvalue())
    return describe(fig, path)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def _figure(title: str, ncols: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=WIDE if ncols > 1 else SIZE, layout="constrained")
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    fig.suptitle(title)
    return fig, axes


def series_names(idents: list[dict], keys=("label", "backend", "arch", "device")) -> list[str]:
    """Short legend names: only the parts that differ between the series (the backend at least)."""
    varying = [k for k in keys if len({str(i.get(k)) for i in idents}) > 1] or ["backend"]
    return [" ".join(str(i.get(k)) for k in varying) for i in idents]


def _ident(r: Record) -> dict:
    backend, arch, device = r.ident
    return {"label": r.label, "backend": backend, "arch": arch, "device": device}


def _legend(ax, loc: str = "best") -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", loc=loc)


# --- training curves ----------------------------------------------------------------------------------------

def _seed_band(ax, r: Record, key: str, epochs: list) -> None:
    """Shade, around the row's curve, the range of ``key`` over its seeds' curves
    (``extra_info["seed_histories"]``) at each epoch they all reached."""
    curves = [[row.get(key) for row in h] for h in r.get("seed_histories") or ()]
    length = min((len(c) for c in curves), default=0)
    if len(curves) < 2 or any(y is None for c in curves for y in c[:length]):
        return
    columns = list(zip(*(c[:length] for c in curves)))
    ax.fill_between(epochs[:length], [min(v) for v in columns], [max(v) for v in columns],
                    color=backend_color(r.ident[0]), alpha=0.15, linewidth=0)


def plot_training_curves(records: list[Record], out: Path) -> list[PlotInfo]:
    """Per architecture: train and validation loss and top-1 per epoch, one colour per backend; where a row
    was trained over several seeds, a band of the same colour spans their curves (min to max per epoch)."""
    plots = []
    # only backends that trained: a row running another backend's weights carries that backend's history
    with_history = sorted([r for r in trained_here(records) if r.get("history")], key=sort_key(labels_of(records)))
    for arch in dict.fromkeys(r.ident[1] for r in with_history):
        recs = [r for r in with_history if r.ident[1] == arch]
        fig, (loss_ax, acc_ax) = _figure(f"Training curves: {arch} ({recs[0].get('dataset', '?')})", ncols=2)
        for i, (r, name) in enumerate(zip(recs, series_names([_ident(r) for r in recs]))):
            h = r.get("history")
            marker = MARKERS[i % len(MARKERS)]  # curves of equivalent backends overlap: markers tell them apart
            epochs = [row.get("epoch", i + 1) for i, row in enumerate(h)]
            for ax, key in ((loss_ax, "loss"), (acc_ax, "top1")):
                for split, style in (("train", "-"), ("val", "--")):
                    ys = [row.get(f"{split}_{key}") for row in h]
                    if any(y is None for y in ys):
                        continue
                    ax.plot(epochs, ys, style, marker=marker, markersize=4, markerfacecolor="none",
                            label=f"{name} {split}", color=backend_color(r.ident[0]))
                    _seed_band(ax, r, f"{split}_{key}", epochs)
        loss_ax.set(title="Loss", xlabel="epoch", ylabel="cross-entropy loss (mean per image)")
        acc_ax.set(title="Top-1 accuracy", xlabel="epoch", ylabel="top-1 accuracy (fraction)")
        for ax in (loss_ax, acc_ax):
            ax.grid(alpha=0.3)
            _legend(ax)
        plots.append(save(fig, out / f"training_curves_{_slug(arch)}.png"))
    return plots


# --- latency vs batch ---------------------------------------------------------------------------------------

def _quantiles_ms(r: Record) -> tuple:
    """(p50, p90, p99) per call in ms: extra_info['timing'] where recorded, else the median alone."""
    t = r.get("timing") or {}
    p50 = t.get("p50_s", r.median)
    return tuple(None if v is None else v * 1e3 for v in (p50, t.get("p90_s"), t.get("p99_s")))


def plot_latency_vs_batch(records: list[Record], out: Path) -> PlotInfo | None:
    """Small multiples, one panel per architecture: p50 per batch size, a thick whisker up to p90 and a thin one
    up to p99, each backend in its own colour (the same in every plot)."""
    series: dict[tuple, list] = {}
    for r in sorted(records, key=sort_key(labels_of(records))):
        if r.batch_size:
            series.setdefault((r.label, *r.ident), []).append((r.batch_size, *_quantiles_ms(r)))
    if not series:
        return None
    archs = list(dict.fromkeys(k[2] for k in series))
    fig, axes = _figure("Inference latency vs batch size", ncols=len(archs))
    for ax, arch in zip(axes, archs):
        mine = {k: v for k, v in series.items() if k[2] == arch}
        idents = [dict(zip(("label", "backend", "arch", "device"), k)) for k in mine]
        n = len(mine)
        for i, ((label, backend, _, _), points, name) in enumerate(zip(
                mine, mine.values(), series_names(idents, keys=("label", "backend", "device")))):
            nudge = 1.07 ** (i - (n - 1) / 2)  # side by side: whiskers at one batch size do not hide each other
            points = sorted(points)
            xs = [p[0] * nudge for p in points]
            color = backend_color(backend)
            ax.plot(xs, [p[1] for p in points], marker=MARKERS[labels_of(records).index(label) % len(MARKERS)],
                    color=color, label=name)
            for x, p50, p90, p99 in ((x, *p[1:]) for x, p in zip(xs, points)):
                if p99 is not None:
                    ax.vlines(x, p50, p99, color=color, linewidth=1)
                if p90 is not None:
                    ax.vlines(x, p50, p90, color=color, linewidth=3.5)
        ax.set(xscale="log", yscale="log", xlabel="batch size (images)",
               ylabel="latency per batch, ms (p50; whiskers p90, p99)", title=arch)
        ax.grid(alpha=0.3, which="both")
        _legend(ax, loc="upper left")
    return save(fig, out / "latency_vs_batch.png")


# --- server latency against offered rate ------------------------------------------------------------------------

def _p99_ms(step: dict) -> float | None:
    """A server step's p99 as LoadGen judged it against the bound (its own percentile), else ours."""
    return step.get("loadgen_p99_ms", step.get("latency_p99_ms"))


def plot_server_latency_vs_rate(records: list[Record], out: Path) -> PlotInfo | None:
    """Every step of each server search: p99 (solid) and p50 (dashed) latency against the offered rate, one
    colour per series; a filled marker where LoadGen judged the step's p99 within the bound, a hollow one where
    not; the bound as a dotted line."""
    recs = [r for r in sorted(records, key=sort_key(labels_of(records)))
            if r.group == "scenario server" and r.get("search")]
    if not recs:
        return None
    fig = Figure(figsize=WIDE, layout="constrained")  # wide: the legend stands right of the axes
    ax = fig.add_subplot(1, 1, 1)
    fig.suptitle("Server: latency against offered rate (LoadGen, Poisson arrivals)")
    for r, name in zip(recs, series_names([_ident(r) for r in recs])):
        steps = sorted((s for s in r.get("search") if _p99_ms(s) is not None), key=lambda s: s["target_qps"])
        rates = [s["target_qps"] for s in steps]
        (line,) = ax.plot(rates, [_p99_ms(s) for s in steps], "-", label=f"{name} p99")
        color = line.get_color()
        ax.plot(rates, [s["latency_p50_ms"] for s in steps], "--", color=color, linewidth=1, label=f"{name} p50")
        for s in steps:
            ax.plot(s["target_qps"], _p99_ms(s), "o", color=color,
                    markerfacecolor=color if s.get("met_bound", s.get("valid")) else "none")
    for bound in sorted({r.get("latency_bound_ms") for r in recs if r.get("latency_bound_ms")}):
        ax.axhline(bound, color="black", linestyle=":", linewidth=1, label=f"p99 bound {bound:g} ms")
    ax.set(xscale="log", yscale="log", xlabel="offered rate (queries/s, Poisson arrivals)",
           ylabel="latency per query, ms (p99 solid, p50 dashed)",
           title="filled: p99 within the bound (LoadGen); hollow: beyond it")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save(fig, out / "server_latency_vs_rate.png")


# --- roofline -----------------------------------------------------------------------------------------------

PHASE_MARKERS = {"inference": "o", "training": "^", "offline": "s"}


def plot_roofline(records: list[Record], out: Path) -> PlotInfo | None:
    """Achieved GFLOP/s against arithmetic intensity under min(GEMM peak, intensity x bandwidth): one panel per
    backend (so that the batch labels of five backends do not pile on each other), or per machine when the
    report holds several."""
    recs = roofline_records(records)
    roofs = ceilings(recs)
    recs = [r for r in recs if r.label in roofs]
    if not recs:
        return None
    labels = labels_of(recs)
    backends = list(dict.fromkeys(r.ident[0] for r in recs))
    by_backend = len(labels) == 1
    panels = backends if by_backend else labels
    fig = Figure(figsize=(min(4.0 * len(panels), 16.0), 4.5), layout="constrained")
    fig.suptitle("Roofline under the measured ceiling")
    first = None
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1, sharex=first, sharey=first)  # one scale: panels compare
        first = first or ax
        mine = [r for r in recs if (r.ident[0] if by_backend else r.label) == panel]
        label = labels[0] if by_backend else panel
        peak, bw = roofs[label]["gemm_gflops"], roofs[label]["bandwidth_gbs"]
        intensity = [r.get("arithmetic_intensity_flop_per_byte") for r in mine]
        lo, hi = min(min(intensity), peak / bw) / 3, max(max(intensity), peak / bw) * 3
        xs = [lo * (hi / lo) ** (k / 200) for k in range(201)]
        ax.plot(xs, [min(peak, x * bw) for x in xs], color="black", linewidth=1.5, label="_roof")
        ax.text(hi, peak * 0.9, f"GEMM peak {peak:.3g} GFLOP/s", ha="right", va="top", fontsize="small")
        ax.text(lo * 1.2, lo * 1.2 * bw * 1.15, f"bandwidth {bw:.3g} GB/s", rotation=0, ha="left", va="bottom",
                fontsize="small")
        for r in mine:
            x, y = r.get("arithmetic_intensity_flop_per_byte"), r.get("achieved_gflops")
            ax.plot([x], [y], linestyle="none", marker=PHASE_MARKERS[phase_of(r)], markersize=7,
                    color=backend_color(r.ident[0]), label="_point")
            ax.annotate(str(r.batch_size), (x, y), xytext=(4, 3), textcoords="offset points", fontsize="x-small")
        ax.set(xscale="log", yscale="log", title=panel,
               xlabel="arithmetic intensity, FLOP/byte (analytic)" if i == 0 else "FLOP/byte",
               ylabel="achieved GFLOP/s (analytic 2 x MACs)" if i == 0 else "GFLOP/s")  # every axis says its unit
        ax.grid(alpha=0.3, which="both")
    handles = [] if by_backend else [Line2D([], [], color=backend_color(b), marker="o", linestyle="none", label=b)
                                     for b in backends]
    handles += [Line2D([], [], color="grey", marker=m, linestyle="none", label=phase)
                for phase, m in PHASE_MARKERS.items() if any(phase_of(r) == phase for r in recs)]
    fig.legend(handles=handles, loc="outside right center", fontsize="small", title="points: batch size")
    return save(fig, out / "roofline.png")


# --- accuracy vs latency / memory ---------------------------------------------------------------------------

LATENCY_KEYS = ("latency_b1_ms", "infer_b1_ms", "latency_ms")
MEMORY_KEYS = ("peak_rss_mib", "infer_peak_rss_mib", "peak_memory_mib")


def _first(row: PartRow, keys):
    return next((row.get(k) for k in keys if row.get(k) is not None), None)


def _points(records: list[Record]) -> list[PartRow]:
    """Headline rows (one per backend x arch x device) plus MLP-sweep models."""
    pts = overall_rows(records)
    for r in records:
        if r.section == "mlp-sweep":
            pts.append(PartRow(r.label, r.backend, r.get("arch") or f"mlp {r.get('hidden')}", r.device, dict(r.extra)))
    return pts


def pareto_front(points: list[tuple]) -> list[tuple]:
    """(cost, accuracy) points no other point beats on both (lower-or-equal cost, higher-or-equal accuracy)."""
    front, best = [], float("-inf")
    for cost, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if acc > best:
            front.append((cost, acc))
            best = acc
    return front


def _scatter(ax, pts: list[PartRow], keys: tuple, xlabel: str, title: str, markers: dict) -> None:
    """Test top-1 against ``keys``' first present value: the colour is the backend's, the marker the model's, the
    Pareto front circled; a point that several backends share (same size, same accuracy) says how many."""
    pts = [p for p in pts if _first(p, keys) is not None and p.get("test_top1") is not None]
    shared: dict[tuple, list] = {}
    for p in pts:
        x, y = _first(p, keys), p.get("test_top1")
        ax.plot([x], [y], linestyle="none", marker=markers[p.arch], markersize=7,
                color=backend_color(p.backend), label="_point")
        shared.setdefault((x, y), []).append(p.backend)
    for (x, y), backends in shared.items():
        if len(set(backends)) > 1:
            ax.annotate(f"{len(set(backends))} backends", (x, y), xytext=(7, -3), textcoords="offset points",
                        fontsize="x-small")
    front = pareto_front([(_first(p, keys), p.get("test_top1")) for p in pts])
    ax.step(*zip(*front), where="post", color="black", linestyle=":", linewidth=1.2)
    ax.plot(*zip(*front), linestyle="none", marker="o", markersize=13, markerfacecolor="none",
            markeredgecolor="black", label="_front")
    ax.set(xscale="log", xlabel=xlabel, ylabel="test top-1 accuracy (fraction)", title=title)
    ax.grid(alpha=0.3, which="both")


def _tradeoff_legend(fig: Figure, pts: list[PartRow], markers: dict) -> None:
    """One legend beside the panels: backends by colour, models by marker, the Pareto front."""
    handles = [Line2D([], [], color=backend_color(b), marker="o", linestyle="none", label=b)
               for b in dict.fromkeys(p.backend for p in pts)]
    handles += [Line2D([], [], color="grey", marker=m, linestyle="none", label=arch) for arch, m in markers.items()]
    handles.append(Line2D([], [], marker="o", markersize=11, markerfacecolor="none", markeredgecolor="black",
                          linestyle=":", color="black", label="Pareto front"))
    fig.legend(handles=handles, loc="outside right center", fontsize="small", ncols=2 if len(handles) > 16 else 1)


def _markers(pts: list[PartRow]) -> dict:
    return {arch: MARKERS[i % len(MARKERS)] for i, arch in enumerate(dict.fromkeys(p.arch for p in pts))}


def _colors(names) -> dict:
    return {n: f"C{i % 10}" for i, n in enumerate(dict.fromkeys(names))}


def backend_color(name: str) -> str:
    """One colour per backend, the same in every plot of every report (its place in the registry)."""
    return f"C{BACKENDS.index(name) % 10}" if name in BACKENDS else "C9"


def plot_accuracy_vs_latency(records: list[Record], out: Path) -> PlotInfo | None:
    pts = [p for p in _points(records) if _first(p, LATENCY_KEYS) is not None and p.get("test_top1") is not None]
    if not pts:
        return None
    fig = Figure(figsize=WIDE, layout="constrained")  # wide: the legend stands right of the axes
    fig.suptitle("Accuracy vs inference latency (batch 1)")
    markers = _markers(pts)
    _scatter(fig.add_subplot(1, 1, 1), pts, LATENCY_KEYS, "latency ms, batch 1 (median, log scale)",
             "upper left is better", markers)
    _tradeoff_legend(fig, pts, markers)
    return save(fig, out / "accuracy_vs_latency.png")


def plot_accuracy_vs_memory(records: list[Record], out: Path) -> PlotInfo | None:
    pts = _points(records)
    panels = [(("param_bytes",), "parameter bytes (float32, log scale)", "Parameters"),
              (MEMORY_KEYS, "peak RSS MiB, inference (log scale)", "Peak resident memory")]
    panels = [p for p in panels if any(_first(q, p[0]) is not None and q.get("test_top1") is not None for q in pts)]
    if not panels:
        return None
    fig = Figure(figsize=(5.0 * len(panels) + 3.0, 4.5), layout="constrained")
    fig.suptitle("Accuracy vs memory (Pareto front: nothing is both smaller and more accurate)")
    markers = _markers(pts)
    for i, (keys, xlabel, title) in enumerate(panels):
        _scatter(fig.add_subplot(1, len(panels), i + 1), pts, keys, xlabel, title, markers)
    _tradeoff_legend(fig, [p for p in pts if p.get("test_top1") is not None], markers)
    return save(fig, out / "accuracy_vs_memory.png")


# --- compression --------------------------------------------------------------------------------------------

COMPRESSION_PANELS = (("gzip_bytes", "gzip bytes (level 9, log scale)"),
                      ("latency_b1_ms", "latency ms, batch 1 (median, log scale)"))


def plot_compression(records: list[Record], out: Path) -> PlotInfo | None:
    """Small multiples: one column per backend, one row per cost (gzip size, batch-1 latency), test top-1 up.

    One colour per technique in every panel, each point labelled (its level, or its technique where that has
    one level), the base model a black star;
    the one legend sits outside, under the panels.
    """
    rows = [r for r in compression_rows(records) if r.get("top1") is not None]
    metrics = [(k, xl) for k, xl in COMPRESSION_PANELS if any(r.get(k) is not None for r in rows)]
    if not metrics:
        return None
    columns = list(dict.fromkeys(_column_name(r, records, rows) for r in rows))
    techniques = list(dict.fromkeys(r.get("technique") for r in rows if r.record is not None))
    colors = _colors(techniques)
    levels = {t: {r.get("level") for r in rows if r.get("technique") == t} for t in techniques}
    # a point reads its level where the technique has several, else the technique's name
    names = {t: (lambda level: str(level)) if len(levels[t]) > 1 else (lambda level, t=t: t) for t in techniques}
    fig = Figure(figsize=(3.4 * len(columns) + 0.6, 2.9 * len(metrics) + 1.1), layout="constrained")
    fig.suptitle("Compression trade-offs: test top-1 against size and latency, per backend")
    for i, (key, xlabel) in enumerate(metrics):
        for j, column in enumerate(columns):
            ax = fig.add_subplot(len(metrics), len(columns), i * len(columns) + j + 1)
            mine = [r for r in rows if _column_name(r, records, rows) == column and r.get(key) is not None]
            for technique in techniques:
                pts = sorted((r.get(key), r.get("top1"), r.get("level")) for r in mine
                             if r.get("technique") == technique and r.record is not None)
                if not pts:
                    continue
                # markers only: a line would imply a continuum between levels (or techniques) that was not measured
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=5, color=colors[technique],
                        linestyle="none", label=technique)
                for x, y, level in pts:  # labels staggered by technique: points that coincide stay readable
                    ax.annotate(names[technique](level), (x, y), xytext=(5, 9 * (techniques.index(technique) % 3) - 6),
                                textcoords="offset points", fontsize="x-small", color=colors[technique])
            for r in (r for r in mine if r.record is None):  # the uncompressed model
                ax.plot([r.get(key)], [r.get("top1")], marker="*", markersize=13, color="black", linestyle="none",
                        label="base (uncompressed)")
                ax.annotate("base", (r.get(key), r.get("top1")), xytext=(5, -10), textcoords="offset points",
                            fontsize="x-small")
            ax.set(xscale="log", xlabel=xlabel, ylabel="test top-1 (fraction)", title=column)
            ax.margins(x=0.15, y=0.15)
            ax.grid(alpha=0.3, which="both")
    handles = [Line2D([], [], color=colors[t], marker="o", label=t) for t in techniques]
    handles.append(Line2D([], [], color="black", marker="*", markersize=11, linestyle="none",
                          label="base (uncompressed)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize="small")
    return save(fig, out / "compression_tradeoffs.png")


def _column_name(r: PartRow, records: list[Record], rows: list[PartRow]) -> str:
    """The panel a compression row goes to: its backend (machine and arch too when those vary)."""
    parts = (r.label if len(labels_of(records)) > 1 else None, r.backend,
             r.arch if len({q.arch for q in rows}) > 1 else None)
    return " ".join(str(v) for v in parts if v)


# --- eager vs graph -----------------------------------------------------------------------------------------

def plot_graph_modes(records: list[Record], out: Path) -> PlotInfo | None:
    recs = [r for r in records if r.get("steady_s") is not None or r.get("first_call_s") is not None]
    if not recs:
        return None
    cats = list(dict.fromkeys(" ".join(str(x) for x in (r.label if len(labels_of(recs)) > 1 else None,
                                                        r.ident[0], r.get("phase"), f"b={r.get('batch_size')}")
                                       if x) for r in recs))
    modes = list(dict.fromkeys(str(r.get("mode")) for r in recs))
    panels = [(k, t) for k, t in (("steady_s", "steady state, ms (median, log scale)"),
                                  ("first_call_s", "first call, ms (log scale)"))
              if any(r.get(k) for r in recs)]
    fig, axes = _figure("Eager vs graph (static) execution", ncols=len(panels))
    width = 0.8 / max(len(modes), 1)
    for ax, (key, ylabel) in zip(axes, panels):
        for i, mode in enumerate(modes):
            xs, ys = [], []
            for r in recs:
                if str(r.get("mode")) == mode and r.get(key):
                    name = " ".join(str(x) for x in (r.label if len(labels_of(recs)) > 1 else None, r.ident[0],
                                                     r.get("phase"), f"b={r.get('batch_size')}") if x)
                    xs.append(cats.index(name) + (i - (len(modes) - 1) / 2) * width)
                    ys.append(r.get(key) * 1e3)
            if xs:
                ax.bar(xs, ys, width=width, label=mode)
        ax.set_xticks(range(len(cats)), cats, rotation=30, ha="right", fontsize="small")
        ax.set(yscale="log", ylabel=ylabel, xlabel="backend, phase and batch size",
               title=ylabel.split(",")[0].capitalize())
        ax.grid(alpha=0.3, axis="y", which="both")
        _legend(ax)
    return save(fig, out / "graph_modes.png")


# --- timeline -----------------------------------------------------------------------------------------------

def plot_timeline(series: list, runs: int, label: str, group: str, out: Path) -> PlotInfo:
    """One benchmark group over the runs (``lenet.study.timeline.Series``): each benchmark's median per run, its
    95% interval as a whisker, flagged runs hollow, and a dashed line where a confirmed change point starts."""
    fig, (ax,) = _figure(f"{label}: {group}")
    fig.set_size_inches(WIDE)  # the legend sits beside the axes
    for s in series:
        xs = [p.index + 1 for p in s.points]
        name = s.name[s.name.index("[") + 1:-1] if s.name.endswith("]") and "[" in s.name else s.name
        (line,) = ax.plot(xs, [p.median * 1e3 for p in s.points], marker="o", label=name)
        colour = line.get_color()
        for p in s.points:
            if p.interval:
                ax.vlines(p.index + 1, p.interval[0] * 1e3, p.interval[1] * 1e3, color=colour, linewidth=1)
            if p.unstable:
                ax.plot(p.index + 1, p.median * 1e3, marker="o", markerfacecolor="white", color=colour)
        for c in s.change_points:
            if c.confirmed:
                ax.axvline(c.at.index + 0.5, color=colour, linestyle="--", linewidth=1)
                ax.annotate(f"x{c.ratio.ratio:.2f}", (c.at.index + 0.5, c.at.median * 1e3), fontsize="small",
                            color=colour)
    ax.set(yscale="log", xlabel=f"run, by commit time (1-{runs}; see Histories)", ylabel="median, ms (95% CI)",
           title="hollow: flagged unstable (left out); dashed: confirmed change point")
    ax.set_xlim(0.5, runs + 0.5)
    ax.grid(alpha=0.3, which="both")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    return save(fig, out / f"timeline_{_slug(label)}_{_slug(group)}.png")
