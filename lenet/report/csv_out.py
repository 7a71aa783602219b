"""One CSV file per report table, for pandas or a spreadsheet: ``csv/<section>[-<caption>].csv``.

The CSV holds the raw figures, not the rounded ones: durations in seconds (the header says ``s``), an
interval as two columns (``... low``, ``... high``), every other number exactly as the history has it
(Python's shortest round-trip repr), an empty cell where the markdown shows a dash.  Identity columns the
markdown folds into a note (one arch, one device) are kept, so that CSVs of several runs concatenate.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ..io.atomic import write_text
from .markdown import UNIT

FOLDER = "csv"


def _pair(c, table) -> bool:
    return any(isinstance(c.value(r), tuple | list) for r in table.rows)


def header_row(table) -> list[str]:
    out = []
    for c in table.present_columns():
        header = c.header.replace(UNIT, "s")
        out += [f"{header} low", f"{header} high"] if _pair(c, table) else [header]
        if c.footnote is not None:
            out.append(f"{header} note")
    return out


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def table_csv(table) -> str:
    cols = table.present_columns()
    pairs = [_pair(c, table) for c in cols]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header_row(table))
    for row in table.rows:
        cells = []
        for c, pair in zip(cols, pairs):
            value = c.value(row)
            cells += [_cell(v) for v in (value or (None, None))] if pair else [_cell(value)]
            if c.footnote is not None:
                cells.append(_cell(c.footnote(row)))
        writer.writerow(cells)
    return buf.getvalue()


def write_tables(out: Path, sections) -> list[Path]:
    """Every named table of ``sections`` as ``out/csv/<name>.csv``, written atomically; the paths written."""
    paths = []
    for s in sections:
        for t in s.tables:
            path = out / FOLDER / f"{t.name}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text(path, table_csv(t))
            paths.append(path)
    return paths
