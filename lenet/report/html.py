"""The report as one self-contained HTML page: ``index.html`` beside the markdown.

The same sections, tables and plots as the markdown, with nothing fetched from anywhere: CSS and a small
script inline, every plot a base64 ``data:`` URI, so the page opens from the file system with no server and
no network.  A contents bar stays at the top; clicking a column header sorts its table (numbers by their raw
value, a dash last).  A row holding a ⚠ flag (unstable, a regression) is tinted, its flag cell spelled out.

After loading, the page writes into ``<body>`` how many images loaded and failed
(``data-images-loaded``, ``data-images-failed``) and how many script errors it saw (``data-script-errors``),
so that a headless browser's dumped DOM tells whether it rendered (tests/test_report_html.py).
"""
from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from html import escape
from xml.sax.saxutils import quoteattr

from .markdown import anchor

STYLE = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #d8dce3; --band: #f4f6f9; --flag: #fff3d6; --accent: #2a5db0; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
nav { position: sticky; top: 0; z-index: 2; background: #fff; border-bottom: 1px solid var(--line);
      padding: .45rem 1.5rem; display: flex; flex-wrap: wrap; gap: .2rem 1rem; font-size: 13px; }
nav a { color: var(--accent); text-decoration: none; white-space: nowrap; }
nav a:hover { text-decoration: underline; }
main { max-width: 1180px; margin: 0 auto; padding: 1rem 1.5rem 4rem; }
h1 { font-size: 1.6rem; margin: .6rem 0 .3rem; }
h2 { font-size: 1.25rem; margin: 2.2rem 0 .5rem; padding-top: .4rem; border-top: 2px solid var(--line);
     scroll-margin-top: 3rem; }
section#what-this-run-shows { background: var(--band); border-radius: 6px; padding: .2rem 1.2rem .6rem; }
section#what-this-run-shows h2 { border-top: 0; margin-top: .8rem; }
.caption { font-weight: 600; margin: 1.2rem 0 .3rem; }
.note { color: var(--muted); font-size: 13px; margin: .3rem 0 1rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: .28rem .6rem; border-bottom: 1px solid var(--line); }
th { background: var(--band); text-align: left; vertical-align: bottom; cursor: pointer; user-select: none; }
th.num, td.num { text-align: right; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
tr.flagged td { background: var(--flag); }
td.flag { color: #8a5a00; max-width: 28rem; }
code { font-size: 92%; background: var(--band); padding: 0 .25em; border-radius: 3px; }
figure { margin: 1.2rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13px; }
"""

SCRIPT = """
(function () {
  var body = document.body;
  body.dataset.scriptErrors = "0";
  window.addEventListener("error", function () {
    body.dataset.scriptErrors = String(Number(body.dataset.scriptErrors) + 1);
  });
  function key(td) { return td.getAttribute("data-v"); }
  document.querySelectorAll("table.sortable th").forEach(function (th) {
    th.addEventListener("click", function () {
      var table = th.closest("table"), tbody = table.tBodies[0], col = th.cellIndex;
      var numeric = th.classList.contains("num"), asc = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var rows = Array.prototype.slice.call(tbody.rows);
      rows.sort(function (a, b) {
        var x = key(a.cells[col]), y = key(b.cells[col]);
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        var d = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        return asc ? d : -d;
      });
      rows.forEach(function (r) { tbody.appendChild(r); });
    });
  });
  window.addEventListener("load", function () {
    var images = Array.prototype.slice.call(document.images);
    var failed = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).length;
    body.dataset.imagesLoaded = String(images.length - failed);
    body.dataset.imagesFailed = String(failed);
  });
})();
"""


def inline(text: str) -> str:
    """The markdown inline the report writes (`code`, **bold**, [text](#anchor), a hard break) as HTML."""
    out = escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", lambda m: f'<a href="{escape(m[2])}">{m[1]}</a>', out)
    return out.replace("  \n", "<br>\n")


def _paragraphs(text: str) -> list[str]:
    return [f"<p>{inline(p)}</p>" for p in text.split("\n\n") if p.strip()]


def _sort_value(value) -> str:
    """What a cell sorts by: the raw number (an interval by its low end), else the text; "" for missing."""
    if isinstance(value, tuple | list):
        value = value[0] if value else None
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool):
        return str(value)
    return repr(value) if isinstance(value, int | float) else str(value)


def table_html(t) -> str:
    cols = t.visible_columns()
    numeric = [not c.left for c in cols]
    head = "".join(f'<th scope="col"{" class=num" if n else ""}>{inline(h)}</th>'
                   for h, n in zip(t.headers(), numeric))
    rows = []
    for row, cells in zip(t.rows, t.cells()):
        raw = [c.value(row) for c in cols]
        flagged = any(cell.startswith("⚠") for cell in cells)
        tds = []
        for cell, value, n, c in zip(cells, raw, numeric, cols):
            cls = "num" if n else ("flag" if cell.startswith("⚠") else "")
            hover = c.footnote(row) if c.footnote is not None else None  # the footnote, on hover too
            tds.append(f'<td{f" class={cls}" if cls else ""}{f" title={quoteattr(hover)}" if hover else ""} '
                       f'data-v="{escape(_sort_value(value))}">{inline(cell)}</td>')
        rows.append(f"<tr{' class=flagged' if flagged else ''}>{''.join(tds)}</tr>")
    parts = [f'<p class="caption">{inline(t.caption)}</p>'] if t.caption else []
    parts.append(f'<div class="scroll"><table class="sortable" id="table-{escape(t.name)}"><thead><tr>{head}'
                 f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")
    if note := t.full_note():
        parts.append(f'<p class="note">{inline(note)}</p>')
    return "\n".join(parts)


def figure_html(plot) -> str:
    data = base64.b64encode(plot.path.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{escape(plot.title)}">'
            f"<figcaption>{escape(plot.title)}</figcaption></figure>")


def section_html(s) -> str:
    parts = [f'<section id="{anchor(s.title)}"><h2>{escape(s.title)}</h2>']
    if s.intro:
        parts += _paragraphs(s.intro)
    if s.bullets:
        parts.append("<ul>" + "".join(f"<li>{inline(b)}</li>" for b in s.bullets) + "</ul>")
    parts += [table_html(t) for t in s.tables]
    parts += [p for text in s.after for p in _paragraphs(text)]
    parts += [figure_html(p) for p in s.plots]
    parts.append("</section>")
    return "\n".join(parts)


def page(title: str, lead: Sequence[str], sections: Sequence) -> str:
    nav = "".join(f'<a href="#{anchor(s.title)}">{escape(s.title)}</a>' for s in sections)
    body = "\n".join(section_html(s) for s in sections)
    intro = "\n".join(p for text in lead for p in _paragraphs(text))
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f'<nav aria-label="contents">{nav}</nav>\n<main>\n<h1>{escape(title)}</h1>\n{intro}\n{body}\n</main>\n'
            f"<script>{SCRIPT}</script>\n</body>\n</html>\n")
