"""``lenet history``: timelines by commit time, Otava's change points confirmed by the bootstrap, flagged runs out.

The synthetic histories are made from real samples: a benchmark's 1,000 raw timings from a stored speed run
(docs/history/cpu-speed-threads1, commit 0416508) are cut, in the order they were taken, into consecutive slices,
one per run, so each run carries the drift that the machine really had between slices.  Two benchmarks are used
whose slices stay within about 2% of each other; the others in that history drift by 11-16% between slices (the
host moving vCPUs, DESIGN section 7), more than the 15% step, and a step cannot be told from the machine there.
"""
import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pytest

from lenet.cli import main
from lenet.io.history import load_runs
from lenet.study.compare import REGRESSION
from lenet.study.timeline import build_timeline, selector

pytest.importorskip("otava.analysis", reason="change points need apache-otava (tox installs it with --no-deps)")

ROOT = Path(__file__).resolve().parents[1]
REAL = (ROOT / "docs/history/cpu-speed-threads1/Linux-CPython-3.11-64bit/"
        "0004_0416508dec40b8f9f032c1aaa30f1be1667e0d64_20261202_001531.json")
STEADY = ("test_inference[handcrafted-lenet5-cpu-1]", "test_inference[torch-lenet5-cpu-1]")


def real_benchmarks() -> list[dict]:
    return [b for b in json.loads(REAL.read_text())["benchmarks"] if b["name"] in STEADY]


def write_runs(folder: Path, runs: int, step_at: int | None = None, shuffle: bool = False,
               unstable=(), slower=()) -> Path:
    """``runs`` histories of the steady benchmarks, from consecutive slices of their real samples; from run
    ``step_at`` on, every sample 15% slower; runs in ``slower`` 50% slower, flagged unstable when in ``unstable``.
    Files are named in reverse commit order, so that only commit times can order them."""
    folder.mkdir()
    slices = {}
    for b in real_benchmarks():
        data = np.asarray(b["stats"]["data"])
        if shuffle:
            data = np.random.default_rng(0).permutation(data)
        slices[b["name"]] = (b, np.array_split(data, runs))
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    for i in range(runs):
        scale = (1.15 if step_at is not None and i >= step_at else 1.0) * (1.5 if i in slower else 1.0)
        entries = []
        for b, parts in slices.values():
            data = [float(v) for v in parts[i] * scale]
            extra = {**b["extra_info"], "unstable": i in unstable, "unstable_reasons": ["doctored"] * (i in unstable)}
            entries.append({**b, "stats": {"median": float(np.median(data)), "data": data}, "extra_info": extra})
        when = (start + dt.timedelta(hours=i)).isoformat()
        (folder / f"{runs - i:04d}.json").write_text(json.dumps({
            "machine_info": {"node": "box"}, "commit_info": {"id": f"{i + 1:02x}" * 20, "time": when},
            "datetime": when, "benchmarks": entries}))
    return folder


def confirmed(timeline) -> dict:
    return {s.name: [c.at.index for c in s.change_points if c.confirmed] for s in timeline.series}


def test_a_fifteen_percent_step_is_found_at_its_run_and_nowhere_else(tmp_path, capsys):
    folder = write_runs(tmp_path / "h", 20, step_at=12)
    timeline = build_timeline(load_runs([folder]))
    assert [r.commit["id"][-2:] for r in timeline.runs] == [f"{i:02x}" for i in range(1, 21)]  # by commit time
    assert confirmed(timeline) == {name: [12] for name in STEADY}
    for s in timeline.series:
        (step,) = [c for c in s.change_points if c.confirmed]
        assert step.verdict == REGRESSION and 1.10 < step.ratio.ratio < 1.20
    assert main(["history", str(folder)]) == 1
    out = capsys.readouterr().out
    assert out.count("change point at run 13, 0d0d0d0d0d0d") == 2 and "2 confirmed, 2 regression(s)" in out


@pytest.mark.parametrize("shuffle", [False, True], ids=["in-order", "reshuffled"])
def test_ten_runs_of_one_commit_give_no_change_point(tmp_path, capsys, shuffle):
    folder = write_runs(tmp_path / "h", 10, shuffle=shuffle)
    assert confirmed(build_timeline(load_runs([folder]))) == {name: [] for name in STEADY}
    assert main(["history", str(folder)]) == 0
    assert "0 confirmed, 0 regression(s)" in capsys.readouterr().out


def test_flagged_runs_are_left_out_of_change_points(tmp_path):
    block = range(5, 9)  # four runs 50% slower: the machine, disturbed, not the code
    flagged = build_timeline(load_runs([write_runs(tmp_path / "flagged", 20, 12, slower=block, unstable=block)]))
    assert confirmed(flagged) == {name: [12] for name in STEADY}
    unflagged = build_timeline(load_runs([write_runs(tmp_path / "unflagged", 20, 12, slower=block)]))
    assert confirmed(unflagged) != confirmed(flagged)  # the same block, unflagged, is seen


def test_k_selects_as_pytest_does(tmp_path, capsys):
    folder = write_runs(tmp_path / "h", 4)
    assert [s.name for s in build_timeline(load_runs([folder]), "torch and not relu").series] == [STEADY[1]]
    assert selector("handcrafted")("bench/test_inference.py::test_inference[handcrafted-lenet5-cpu-1]")
    assert selector("test_inference.py")("bench/test_inference.py::test_inference[torch-lenet5-cpu-1]")
    assert not selector("keras")("bench/test_inference.py::test_inference[torch-lenet5-cpu-1]")


@pytest.mark.parametrize(("runs", "args", "message"), [
    (2, [], r"2 run\(s\) \(the shards of a run count once\); a timeline needs at least 3"),
    (3, ["-k", "keras"], "no benchmark matches -k 'keras'"),
    (3, ["-k", "torch and"], r"-k 'torch and': not a pytest keyword expression"),
])
def test_what_makes_no_timeline_is_one_line(tmp_path, capsys, runs, args, message):
    folder = write_runs(tmp_path / "h", runs)
    assert main(["history", str(folder), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lenet: error: ") and re.search(message, err), err


def test_the_report_plots_a_timeline_from_three_runs(tmp_path):
    from lenet.report import build_report

    report = build_report([write_runs(tmp_path / "h", 20, step_at=12)], tmp_path / "report")
    section = report.section("timeline")
    (plot,) = section.plots  # one group, one machine
    assert plot.path.is_file() and plot.title.endswith(": inference batch=1")
    assert [name for name, _ in plot.axes[0].series] == ["handcrafted-lenet5-cpu-1", "torch-lenet5-cpu-1"]
    assert len(section.bullets) == 2 and all("change point at run 13, 0d0d0d0d0d0d" in b for b in section.bullets)
    assert "## Timeline" in report.markdown
    few = build_report([write_runs(tmp_path / "few", 2)], tmp_path / "few-report")
    assert few.section("timeline") is None
