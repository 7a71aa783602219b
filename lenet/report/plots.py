"""The report's figures: matplotlib on the Agg canvas (no pyplot state), fixed size and dpi, written atomically.

Each ``plot_*`` function draws only what the records hold and returns a
:class:`PlotInfo` read back from the drawn Figure (title, axis labels and
scales, legend entries), or None when there is nothing to draw.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation

from ..io.atomic import write_bytes
from .records import Record, labels_of
from .tables import compression_rows, overall_rows, sort_key

DPI = 100
SIZE = (7.5, 4.5)
WIDE = (11.0, 4.5)
MARKERS = ("o", "s", "^", "D", "v", "x")


@dataclass(frozen=True)
class AxisInfo:
    title: str
    xlabel: str
    ylabel: str
    xscale: str
    yscale: str
    legend: tuple  # legend entries, in order


@dataclass(frozen=True)
class PlotInfo:
    path: Path
    title: str  # the figure's suptitle
    axes: tuple  # AxisInfo per axes


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
        axes.append(AxisInfo(ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), ax.get_xscale(), ax.get_yscale(),
                             tuple(t.get_text() for t in legend.get_texts()) if legend else ()))
    title = fig._suptitle.get_text() if fig._suptitle else ""
    return PlotInfo(path, title, tuple(axes))


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


def _legend(ax) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


# --- training curves ----------------------------------------------------------------------------------------

def plot_training_curves(records: list[Record], out: Path) -> list[PlotInfo]:
    """Per architecture: train and validation loss and top-1 per epoch, one colour per backend."""
    plots = []
    with_history = sorted([r for r in records if r.get("history")], key=sort_key(labels_of(records)))
    for arch in dict.fromkeys(r.ident[1] for r in with_history):
        recs = [r for r in with_history if r.ident[1] == arch]
        fig, (loss_ax, acc_ax) = _figure(f"Training curves: {arch} ({recs[0].get('dataset', '?')})", ncols=2)
        for i, (r, name) in enumerate(zip(recs, series_names([_ident(r) for r in recs]))):
            h = r.get("history")
            marker = MARKERS[i % len(MARKERS)]  # curves of equivalent backends overlap: markers tell them apart
            epochs = [row.get("epoch", i + 1) for i, row in enumerate(h)]
            line = None
            for ax, key in ((loss_ax, "loss"), (acc_ax, "top1")):
                for split, style in (("train", "-"), ("val", "--")):
                    ys = [row.get(f"{split}_{key}") for row in h]
                    if any(y is None for y in ys):
                        continue
                    kw = {"color": line.get_color()} if line is not None else {}
                    (ln,) = ax.plot(epochs, ys, style, marker=marker, markersize=4, markerfacecolor="none",
                                    label=f"{name} {split}", **kw)
                    line = line or ln
        loss_ax.set(title="Loss", xlabel="epoch", ylabel="cross-entropy loss (mean per image)")
        acc_ax.set(title="Top-1 accuracy", xlabel="epoch", ylabel="top-1 accuracy (fraction)")
        for ax in (loss_ax, acc_ax):
            ax.grid(alpha=0.3)
            _legend(ax)
        plots.append(save(fig, out / f"training_curves_{_slug(arch)}.png"))
    return plots


# --- latency vs batch ---------------------------------------------------------------------------------------

def plot_latency_vs_batch(records: list[Record], out: Path) -> PlotInfo | None:
    series: dict[tuple, list] = {}
    for r in sorted(records, key=sort_key(labels_of(records))):
        if r.batch_size:
            series.setdefault((r.label, *r.ident), []).append((r.batch_size, r.median * 1e3))
    if not series:
        return None
    fig, (ax,) = _figure("Inference latency vs batch size")
    idents = [dict(zip(("label", "backend", "arch", "device"), k)) for k in series]
    for points, name in zip(series.values(), series_names(idents)):
        xs, ys = zip(*sorted(points))
        ax.plot(xs, ys, marker="o", label=name)
    ax.set(xscale="log", yscale="log", xlabel="batch size (images)", ylabel="latency per batch, ms (median)",
           title="log-log; lower is faster")
    ax.grid(alpha=0.3, which="both")
    _legend(ax)
    return save(fig, out / "latency_vs_batch.png")


# --- accuracy vs latency / memory ---------------------------------------------------------------------------

LATENCY_KEYS = ("latency_b1_ms", "infer_b1_ms", "latency_ms")
MEMORY_KEYS = ("peak_rss_mib", "infer_peak_rss_mib", "peak_memory_mib")


def _first(d: dict, keys):
    return next((d[k] for k in keys if d.get(k) is not None), None)


def _points(records: list[Record]) -> list[dict]:
    """Headline rows (one per backend x arch x device) plus MLP-sweep models, as plain dicts."""
    pts = overall_rows(records)
    for r in records:
        if r.section == "mlp-sweep":
            pts.append({**_ident(r), **r.extra, "arch": r.get("arch") or f"mlp {r.get('hidden')}"})
    return pts


def pareto_front(points: list[tuple]) -> list[tuple]:
    """(cost, accuracy) points no other point beats on both (lower-or-equal cost, higher-or-equal accuracy)."""
    front, best = [], float("-inf")
    for cost, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if acc > best:
            front.append((cost, acc))
            best = acc
    return front


def _scatter(ax, pts: list[dict], keys: tuple, xlabel: str, title: str, colors: dict) -> None:
    """Test top-1 against ``keys``' first present value, one colour per series, Pareto front circled."""
    names = dict(zip(map(id, pts), series_names(pts)))
    pts = [p for p in pts if _first(p, keys) is not None and p.get("test_top1") is not None]
    xs = [_first(p, keys) for p in pts]
    groups: dict[str, list] = {}
    for p, x in zip(pts, xs):
        groups.setdefault(names[id(p)], []).append((x, p["test_top1"]))
    for name, xy in groups.items():
        ax.plot(*zip(*sorted(xy)), marker="o", linestyle="-" if len(xy) > 1 else "none", label=name,
                color=colors[name])
    front = pareto_front(list(zip(xs, (p["test_top1"] for p in pts))))
    ax.step(*zip(*front), where="post", color="black", linestyle=":", linewidth=1.2)
    ax.plot(*zip(*front), linestyle="none", marker="o", markersize=11, markerfacecolor="none",
            markeredgecolor="black", label="Pareto front")
    ax.set(xscale="log", xlabel=xlabel, ylabel="test top-1 accuracy (fraction)", title=title)
    ax.grid(alpha=0.3, which="both")
    _legend(ax)


def _colors(names) -> dict:
    return {n: f"C{i % 10}" for i, n in enumerate(dict.fromkeys(names))}


def plot_accuracy_vs_latency(records: list[Record], out: Path) -> PlotInfo | None:
    pts = [p for p in _points(records) if _first(p, LATENCY_KEYS) is not None and p.get("test_top1") is not None]
    if not pts:
        return None
    fig, (ax,) = _figure("Accuracy vs inference latency (batch 1)")
    _scatter(ax, pts, LATENCY_KEYS, "latency ms, batch 1 (median, log scale)", "upper left is better",
             _colors(series_names(pts)))
    return save(fig, out / "accuracy_vs_latency.png")


def plot_accuracy_vs_memory(records: list[Record], out: Path) -> PlotInfo | None:
    pts = _points(records)
    panels = [(("param_bytes",), "parameter bytes (float32, log scale)", "Parameters"),
              (MEMORY_KEYS, "peak RSS MiB, inference (log scale)", "Peak resident memory")]
    panels = [p for p in panels if any(_first(q, p[0]) is not None and q.get("test_top1") is not None for q in pts)]
    if not panels:
        return None
    fig, axes = _figure("Accuracy vs memory (Pareto front: nothing is both smaller and more accurate)",
                        ncols=len(panels))
    colors = _colors(series_names(pts))
    for ax, (keys, xlabel, title) in zip(axes, panels):
        _scatter(ax, pts, keys, xlabel, title, colors)
    return save(fig, out / "accuracy_vs_memory.png")


# --- compression --------------------------------------------------------------------------------------------

def plot_compression(records: list[Record], out: Path) -> PlotInfo | None:
    rows = [r for r in compression_rows(records) if r.get("top1") is not None]
    panels = [(k, xl, t) for k, xl, t in (("file_bytes", "serialized bytes (.npz, log scale)", "Size on disk"),
                                          ("gzip_bytes", "gzip bytes (log scale)", "Compressed size"),
                                          ("latency_b1_ms", "latency ms, batch 1 (median, log scale)", "Latency"))
              if any(r.get(k) is not None for r in rows)]
    if not panels:
        return None
    fig, axes = _figure("Compression trade-offs", ncols=len(panels))
    for ax, (key, xlabel, title) in zip(axes, panels):
        series: dict[str, list] = {}
        for r in rows:
            if r.get(key) is not None:
                name = " ".join(str(v) for v in (r.get("technique"), r["backend"]) if v)
                series.setdefault(name, []).append((r[key], r["top1"]))
        for name, xy in series.items():
            base = name.startswith("none")
            ax.plot(*zip(*sorted(xy)), marker="*" if base else "o", markersize=12 if base else 5,
                    linestyle="none" if base or len(xy) == 1 else "-", label=name)
        ax.set(xscale="log", xlabel=xlabel, ylabel="test top-1 accuracy (fraction)", title=title)
        ax.grid(alpha=0.3, which="both")
        _legend(ax)
    return save(fig, out / "compression_tradeoffs.png")


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
