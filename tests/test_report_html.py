"""The report's ``index.html`` in a real browser: headless Chromium (Debian's ``chromium``) renders it from the file
system, takes a screenshot, and dumps the DOM after load; the page has recorded there whether its images loaded
and whether any script failed.  Chromium's console log (stderr) must hold no message at all.  Without Chromium
the test skips and says so (``.ci/run`` installs it where it can).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from matplotlib.image import imread
from test_report import FINDINGS_HISTORY, MLP, write_history

from lenet.report import build_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WINDOW = (1280, 2000)
TIMEOUT_S = 90


def _browser() -> str:
    found = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if not found:
        pytest.skip(f"no headless browser: none of {', '.join(BROWSERS)} on PATH "
                    f"(Debian: apt-get install chromium; .ci/run installs it where it can)")
    return found


def chromium(page: Path, *args: str, profile: Path) -> subprocess.CompletedProcess:
    cmd = [_browser(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
           "--disable-background-networking", "--disable-sync", "--hide-scrollbars", "--mute-audio",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
           f"--window-size={WINDOW[0]},{WINDOW[1]}", *args, page.as_uri()]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish within {TIMEOUT_S} s: {' '.join(cmd)}")


def console_messages(stderr: str) -> list[str]:
    """What the page logged or failed on (console calls, uncaught errors, failed loads), from chromium's log."""
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
            or "net::ERR_" in line]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("html")
    return build_report([write_history(tmp / "h.json", FINDINGS_HISTORY + MLP)], tmp / "out")


def test_page_renders_in_headless_chromium(report, tmp_path):
    shot = tmp_path / "page.png"
    proc = chromium(report.html, f"--screenshot={shot}", profile=tmp_path / "profile-shot")
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-3000:]
    pixels = imread(shot)
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0]) and pixels.std() > 0.05  # drawn, not a blank page

    proc = chromium(report.html, "--dump-dom", profile=tmp_path / "profile-dom")
    assert proc.returncode == 0, proc.stderr[-3000:]
    dom = proc.stdout
    body = re.search(r"<body([^>]*)>", dom)[1]
    state = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body))
    assert state == {"script-errors": "0", "images-loaded": str(len(report.plots)), "images-failed": "0"}, state
    assert "What this run shows" in dom and dom.count("<table") == sum(len(s.tables) for s in report.document)
    assert console_messages(proc.stderr) == []


def test_sorting_a_column_orders_its_rows(report, tmp_path):
    """A header click sorts by the raw figure (seconds, not the shown text), a dash last; again, descending."""
    probe = """<script>addEventListener("load", function () {
      var t = document.getElementById("table-inference-steady-state"), th = t.tHead.rows[0].cells;
      var col = Array.prototype.findIndex.call(th, function (h) { return h.textContent.indexOf("latency") === 0; });
      function order() { return Array.prototype.map.call(t.tBodies[0].rows, function (r) {
        return r.cells[col].getAttribute("data-v"); }); }
      th[col].click(); var up = order(); th[col].click(); var down = order();
      document.body.setAttribute("data-sorted", JSON.stringify({up: up, down: down}));
    });</script></body>"""
    page = tmp_path / "index.html"
    page.write_text(report.html.read_text(encoding="utf-8").replace("</body>", probe), encoding="utf-8")
    proc = chromium(page, "--dump-dom", profile=tmp_path / "profile")
    sorted_ = json.loads(re.search(r"data-sorted=\"([^\"]*)\"", proc.stdout)[1].replace("&quot;", '"'))
    medians = sorted(b["stats"]["median"] for b in FINDINGS_HISTORY if b["group"].startswith("inference"))
    assert [float(v) for v in sorted_["up"]] == medians
    assert [float(v) for v in sorted_["down"]] == medians[::-1]
    assert console_messages(proc.stderr) == []
