"""Markdown: the number formats, the tables and the whole document.

Every cell is either a number in one of the formats below or a dash for "not
measured"; units live in the column headers, never in the cells, so that a
table can be read back (tests parse it and compare with the JSON).  Figures
keep 4 significant digits; a duration column picks s, ms or µs from its values.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..schema import FIELD

DASH = "-"


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and not math.isfinite(v))


def text(v) -> str:
    return DASH if v is None or v == "" else str(v).replace("|", "\\|").replace("\n", " ")


def code(v) -> str:
    """A file or benchmark name, as inline code."""
    return f"`{text(v)}`"


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
    """``digits`` significant figures (23,724 -> 23,720; 0.0511); thousands separators from 1,000 up."""
    if _missing(v):
        return DASH
    if isinstance(v, bool):
        return str(v)
    if v == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(v)))
    if magnitude >= digits - 1:
        return f"{round(v, digits - 1 - magnitude):,.0f}"
    return f"{v:.{digits - 1 - magnitude}f}"


# --- durations: seconds in, a unit that suits the column out ----------------------------------------------

UNIT = "{unit}"  # in a Column header: a duration column, its values in seconds, its unit chosen per column
TIME_UNITS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6))


def time_unit(seconds) -> tuple[str, float]:
    """(name, seconds per unit): of s, ms and µs, the one in which the column's figures read shortest.

    A figure from 1 to 999 costs nothing; each leading zero below 1 costs 1 (0.6423: 1, 0.0744: 2) and each
    digit beyond three above 999 costs 2 (a big number is harder to take in than a small decimal); the
    cheapest unit wins, the larger unit on a tie.  So a column never shows 0.0004785 s (it reads 0.4785 ms
    beside 102.5 ms, not 478.5 and 102,500 µs), and one figure alone reads from 1 to 999 (642.3 µs).
    """
    values = [abs(v) for v in _flat(seconds) if not _missing(v) and v != 0]
    return min(TIME_UNITS, key=lambda u: sum(_reading_cost(v / u[1]) for v in values))


def _reading_cost(x: float) -> int:
    magnitude = math.floor(math.log10(x))
    return -magnitude if magnitude < 0 else 2 * max(0, magnitude - 2)


def _flat(values):
    for v in values:
        if isinstance(v, tuple | list):
            yield from v
        else:
            yield v


def in_unit(seconds, scale: float) -> str:
    """A duration (or a (low, high) interval) in the column's unit, 4 significant figures."""
    if isinstance(seconds, tuple | list):
        return "–".join(sig(s / scale) for s in seconds)
    return sig(seconds / scale)


def signed_points(v) -> str:
    return DASH if _missing(v) else f"{v:+.2f}"


def ratio(v) -> str:
    """A ratio to 3 significant figures, in positional notation (``4,680×``, never ``4.68e+03×``)."""
    return DASH if _missing(v) else f"{sig(v, 3)}×"


def auto(v) -> str:
    """Format by type: ints with separators, floats to 4 significant figures, the rest as text."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return text(v)
    return integer(v) if isinstance(v, int) else sig(v)


@dataclass(frozen=True)
class Column:
    header: str  # with UNIT in it: a duration column (values in seconds), its unit chosen from its values
    value: Callable  # row -> raw value (None: not measured); a duration column may give a (low, high) interval
    fmt: Callable = auto
    optional: bool = False  # dropped when no row has a value
    left: bool = False  # text columns align left
    collapsible: bool = False  # an identity column (arch, device) folded into the note when one value fills it
    footnote: Callable | None = None  # row -> a longer text (a flag's reasons), given under the table, not in the cell

    @property
    def timed(self) -> bool:
        return UNIT in self.header


@dataclass
class Table:
    columns: Sequence[Column]
    rows: Sequence
    caption: str = ""  # a line above the table (bold)
    note: str = ""  # a line below the table
    name: str = ""  # the CSV file's stem, set by the report (unique within it)

    def present_columns(self) -> list[Column]:
        """Every column with a value in some row (optional ones without any are dropped): what CSV holds."""
        return [c for c in self.columns if not c.optional or any(not _missing(c.value(r)) for r in self.rows)]

    def collapsed(self) -> list[tuple[Column, str]]:
        """Identity columns holding one value in every row, with that value: named in the note, not tabled."""
        out = []
        for c in self.present_columns():
            values = {c.fmt(c.value(r)) for r in self.rows}
            if c.collapsible and self.rows and len(values) == 1:
                out.append((c, values.pop()))
        return out

    def visible_columns(self) -> list[Column]:
        folded = {id(c) for c, _ in self.collapsed()}
        return [c for c in self.present_columns() if id(c) not in folded]

    def units(self, columns: Sequence[Column]) -> list[tuple[str, float] | None]:
        return [time_unit(c.value(r) for r in self.rows) if c.timed else None for c in columns]

    def headers(self) -> list[str]:
        cols = self.visible_columns()
        return [c.header.replace(UNIT, u[0]) if u else c.header for c, u in zip(cols, self.units(cols))]

    def footnotes(self) -> dict[str, int]:
        """Each distinct footnote text of the visible columns, numbered in row order from 1."""
        numbers: dict[str, int] = {}
        for row in self.rows:
            for c in self.visible_columns():
                if c.footnote is not None and (note := c.footnote(row)):
                    numbers.setdefault(note, len(numbers) + 1)
        return numbers

    def cells(self) -> list[list[str]]:
        cols = self.visible_columns()
        units = self.units(cols)
        numbers = self.footnotes()
        out = []
        for row in self.rows:
            cells = []
            for c, u in zip(cols, units):
                cell = DASH if _missing(v := c.value(row)) else in_unit(v, u[1]) if u else c.fmt(v)
                note = c.footnote(row) if c.footnote is not None else None
                cells.append(f"{cell} [{numbers[note]}]" if note else cell)
            out.append(cells)
        return out

    def full_note(self) -> str:
        """The note, after what the folded identity columns held ("Every row: arch lenet5, device cpu."), then
        the footnotes the cells point to ("[1] ...")."""
        folded = ", ".join(f"{c.header} {v}" for c, v in self.collapsed())
        notes = " ".join(f"[{n}] {text}." for text, n in self.footnotes().items())
        return " ".join(p for p in ((f"Every row: {folded}." if folded else ""), self.note, notes) if p)

    def to_text(self) -> str:
        """Aligned plain text (a terminal's view of the same table): caption, header, rule, rows, note."""
        cols, rows = self.visible_columns(), [self.headers(), *self.cells()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
        lines = [self.caption] if self.caption else []
        lines += ["  ".join(v.ljust(w) if c.left else v.rjust(w) for v, c, w in zip(r, cols, widths)).rstrip()
                  for r in rows]
        lines.insert(len(lines) - len(rows) + 1, "  ".join("-" * w for w in widths))
        if note := self.full_note():
            lines.append(note)
        return "\n".join(lines)

    def to_markdown(self) -> str:
        cols = self.visible_columns()
        lines = [f"**{self.caption}**", ""] if self.caption else []
        lines.append("| " + " | ".join(text(h) for h in self.headers()) + " |")
        lines.append("|" + "|".join(":---" if c.left else "---:" for c in cols) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in self.cells()]
        if note := self.full_note():
            lines += ["", note]
        return "\n".join(lines)


def field(row, key: str):
    """``row[key]`` for dict rows, ``row.get(key)`` for records; None when absent."""
    return row.get(key) if hasattr(row, "get") else getattr(row, key, None)


# The number formats a field's declaration names (lenet.schema.Field.fmt).
FORMATS = {"text": text, "integer": integer, "plain": plain, "general": general, "fraction": fraction, "sig": sig,
           "auto": auto}
# A field the schema does not head gets a header from its suffix, so that a new field renders without code changes.
_SUFFIX_UNITS = (("_ms", UNIT), ("_s", UNIT), ("_bytes", "bytes"), ("_mib", "MiB"), ("_img_s", "img/s"),
                 ("_pct", "%"))


def _suffix(key: str) -> tuple[str, str] | None:
    return next(((s, u) for s, u in sorted(_SUFFIX_UNITS, key=lambda su: -len(su[0])) if key.endswith(s)), None)


def seconds_per(key: str) -> float | None:
    """Seconds per unit of a duration field (declared in ms or s, or named ``_ms``, ``_s``), None for any other."""
    if key in FIELD and FIELD[key].unit:
        return {"ms": 1e-3, "s": 1.0}.get(FIELD[key].unit)
    suffix = _suffix(key)
    return None if suffix is None or suffix[1] != UNIT else {"_ms": 1e-3, "_s": 1.0}[suffix[0]]


def field_header(key: str) -> str:
    """The field's declared header (lenet.schema.FIELDS), else one made from its name and suffix."""
    if key in FIELD and FIELD[key].header:
        return FIELD[key].header
    if suffix := _suffix(key):
        return f"{key[: -len(suffix[0])].replace('_', ' ')} {suffix[1]}"
    return key.replace("_", " ")


def field_column(key: str, optional: bool = True) -> Column:
    """An extra_info field's column; a duration field (``_ms``, ``_s``) converted to seconds for its unit."""
    fmt = FORMATS[FIELD[key].fmt] if key in FIELD else auto
    scale = seconds_per(key)
    value = (lambda r, k=key: field(r, k)) if scale is None else \
        (lambda r, k=key: None if _missing(v := field(r, k)) or not isinstance(v, int | float) else v * scale)
    return Column(field_header(key), value, fmt, optional=optional, left=fmt is text,
                  collapsible=key in ("arch", "device"))


def anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes."""
    return "".join(c for c in title.lower() if c.isalnum() or c in " -_").replace(" ", "-")


def document(title: str, lead: Sequence[str], sections: Sequence) -> str:
    """The report as markdown: title, lead paragraphs, a contents line, then each section in order.

    A section (``tables.Section``) renders as its intro, bullets, tables, paragraphs after, and plots.
    """
    lines = [f"# {title}", ""]
    for p in lead:
        lines += [p, ""]
    lines += ["Contents: " + " · ".join(f"[{s.title}](#{anchor(s.title)})" for s in sections), ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        if s.intro:
            lines += [s.intro, ""]
        if s.bullets:
            lines += [f"- {b}" for b in s.bullets] + [""]
        for t in s.tables:
            lines += [t.to_markdown(), ""]
        for p in s.after:
            lines += [p, ""]
        for p in s.plots:
            lines += [f"![{p.title}]({p.path.name})", ""]
    return "\n".join(lines).rstrip() + "\n"
