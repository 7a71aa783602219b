"""Markdown tables and the number formats the report uses.

Every cell is either a number in one of the formats below or a dash for "not
measured"; units live in the column headers, never in the cells, so that a
table can be read back (tests parse it and compare with the JSON).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

DASH = "-"


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and not math.isfinite(v))


def text(v) -> str:
    return DASH if v is None or v == "" else str(v).replace("|", "\\|").replace("\n", " ")


def integer(v) -> str:
    return DASH if _missing(v) else f"{round(v):,}"


def plain(v) -> str:
    """Counts that read better without separators (batch sizes)."""
    return DASH if _missing(v) else str(round(v))


def general(v) -> str:
    """Settings such as a pruning level or a learning rate, as written (0.5, 8, 0.002)."""
    return DASH if _missing(v) else (f"{v:g}" if isinstance(v, int | float) and not isinstance(v, bool) else text(v))


def fraction(v) -> str:
    """Accuracies as fractions in [0, 1], 4 decimals (0.9333), like the reference studies' tables."""
    return DASH if _missing(v) else f"{v:.4f}"


def sig(v, digits: int = 4) -> str:
    """``digits`` significant figures; thousands separators and no decimals from 1,000 up."""
    if _missing(v):
        return DASH
    if isinstance(v, bool):
        return str(v)
    if v == 0:
        return "0"
    if abs(v) >= 10 ** (digits - 1):
        return f"{v:,.0f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(v))))
    return f"{v:.{decimals}f}"


def signed_pct(v) -> str:
    return DASH if _missing(v) else f"{v:+.1f}%"


def signed_points(v) -> str:
    return DASH if _missing(v) else f"{v:+.2f}"


def ratio(v) -> str:
    return DASH if _missing(v) else f"{v:.3g}×"


def auto(v) -> str:
    """Format by type: ints with separators, floats to 4 significant figures, the rest as text."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return text(v)
    return integer(v) if isinstance(v, int) else sig(v)


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable  # row -> raw value (None: not measured)
    fmt: Callable = auto
    optional: bool = False  # dropped when no row has a value
    left: bool = False  # text columns align left


@dataclass
class Table:
    columns: Sequence[Column]
    rows: Sequence
    caption: str = ""  # a line above the table (bold)
    note: str = ""  # a line below the table

    def visible_columns(self) -> list[Column]:
        return [c for c in self.columns if not c.optional or any(not _missing(c.value(r)) for r in self.rows)]

    def cells(self) -> list[list[str]]:
        cols = self.visible_columns()
        out = []
        for row in self.rows:
            out.append([c.fmt(v) if not _missing(v := c.value(row)) else DASH for c in cols])
        return out

    def to_markdown(self) -> str:
        cols = self.visible_columns()
        lines = [f"**{self.caption}**", ""] if self.caption else []
        lines.append("| " + " | ".join(text(c.header) for c in cols) + " |")
        lines.append("|" + "|".join(":---" if c.left else "---:" for c in cols) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in self.cells()]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines)


def field(row, key: str):
    """``row[key]`` for dict rows, ``row.get(key)`` for records; None when absent."""
    return row.get(key) if hasattr(row, "get") else getattr(row, key, None)


# Headers (with units and conventions) and formats of the extra_info fields the
# report knows by name; anything else gets a header from its suffix (_ms, _s,
# _bytes, _mib) so that new fields render sensibly without code changes.
KNOWN_FIELDS = {
    "backend": ("backend", text),
    "arch": ("arch", text),
    "arch_name": ("architecture", text),
    "device": ("device", text),
    "dataset": ("dataset", text),
    "technique": ("technique", text),
    "level": ("level", general),
    "mode": ("mode", text),
    "phase": ("phase", text),
    "hidden": ("hidden units", text),
    "batch_size": ("batch", plain),
    "params": ("params", integer),
    "nonzero_params": ("non-zero params", integer),
    "param_bytes": ("param bytes (float32)", integer),
    "dense_bytes": ("dense bytes (float32)", integer),
    "file_bytes": ("file bytes (.npz)", integer),
    "gzip_bytes": ("gzip bytes (level 9)", integer),
    "macs_per_sample": ("MACs/sample (thop convention)", integer),
    "executed_macs": ("executed MACs/sample", integer),
    "val_top1": ("val top-1", fraction),
    "val_top5": ("val top-5", fraction),
    "test_top1": ("test top-1", fraction),
    "test_top5": ("test top-5", fraction),
    "top1": ("test top-1", fraction),
    "top5": ("test top-5", fraction),
    "base_top1": ("base test top-1", fraction),
    "latency_ms": ("latency ms (median)", sig),
    "latency_b1_ms": ("latency ms, batch 1 (median)", sig),
    "latency_b256_ms": ("latency ms, batch 256 (median)", sig),
    "throughput_img_s": ("img/s", sig),
    "peak_rss_mib": ("peak RSS MiB", sig),
    "first_call_s": ("first call s", sig),
    "steady_s": ("steady-state s (median)", sig),
    "break_even_calls": ("break-even calls", sig),
}

_SUFFIX_UNITS = (("_ms", "ms"), ("_s", "s"), ("_bytes", "bytes"), ("_mib", "MiB"), ("_img_s", "img/s"),
                 ("_pct", "%"))


def field_header(key: str) -> str:
    if key in KNOWN_FIELDS:
        return KNOWN_FIELDS[key][0]
    for suffix, unit in sorted(_SUFFIX_UNITS, key=lambda su: -len(su[0])):
        if key.endswith(suffix):
            return f"{key[: -len(suffix)].replace('_', ' ')} {unit}"
    return key.replace("_", " ")


def field_column(key: str, optional: bool = True) -> Column:
    fmt = KNOWN_FIELDS.get(key, (None, auto))[1]
    return Column(field_header(key), lambda r, k=key: field(r, k), fmt, optional=optional, left=fmt is text)
