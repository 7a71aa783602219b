"""The committed histories under docs/history read and report the figures they did before the typed entries:
a median, an accuracy and a flag of each, taken from the report that main's code wrote from them (commit
e1c2c19), so that a change to how histories are parsed or migrated cannot move a published figure unseen.

docs/history/cpu-digits was written in lenet format 1 with nothing flagged; docs/history/cpu-fashion-mnist-full
in format 1 too, by older trust rules, so its flags are judged again when it is read (lenet.schema.flag_of).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from test_report import table

from lenet.io.history import load_runs
from lenet.io.records import flatten
from lenet.report import build_report

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "docs/history/cpu-digits"
FULL = ROOT / "docs/history/cpu-fashion-mnist-full"


def by_name(history: Path) -> dict:
    records, _ = flatten([(None, run) for run in load_runs([history])])
    return {r.name: r for r in records}


def test_digits_history_reads_the_same_figures():
    recs = by_name(DIGITS)
    assert len(recs) == 55
    assert recs["test_accuracy[handcrafted-lenet5-cpu]"].get("test_top1") == pytest.approx(0.9693593314763231,
                                                                                           rel=1e-12)
    assert recs["test_inference[handcrafted-lenet5-cpu-1]"].median == pytest.approx(7.44106666843436e-05, rel=1e-12)
    assert recs["test_train_epoch[torch-lenet5-cpu-64]"].median == pytest.approx(1.7475383419996433, rel=1e-12)
    assert not any(r.unstable for r in recs.values())


def test_full_history_reads_the_same_figures_and_flags():
    recs = by_name(FULL)
    assert len(recs) == 278
    assert recs["test_accuracy[handcrafted-lenet5-cpu]"].get("test_top1") == pytest.approx(0.9051, rel=1e-12)
    assert recs["test_inference[handcrafted-lenet5-cpu-1024]"].median == pytest.approx(0.02871568050068163,
                                                                                       rel=1e-12)
    epoch = recs["test_train_epoch[torch-lenet5-cpu-64]"]
    assert epoch.median == pytest.approx(1.503798060999543, rel=1e-12)
    # flagged as before; its reasons are today's rules' (as lenet compare gave them already), not the older
    # rules' that the bench recorded (a drifting probe, an interval bound of 10%)
    assert epoch.unstable and epoch.reasons == ["median's 95% interval is 52% of the median wide (bound 20%)"]
    assert sum(r.unstable for r in recs.values()) == 44


def test_an_older_rows_flag_is_judged_again_once_when_the_history_is_read():
    """The history keeps the flag its bench recorded; the entry carries today's (an accuracy is never flagged)."""
    (run,) = load_runs([FULL])
    raw = next(b for b in run.benchmarks if b["name"] == "test_accuracy[handcrafted-lenet5-relu-cpu]")
    entry = next(e for e in run.entries if e.name == raw["name"])
    assert raw["extra_info"]["unstable"] is True
    assert not entry.unstable and entry.reasons == []
    assert run.entries is run.entries  # parsed once


def test_digits_report_shows_the_same_headline(tmp_path):
    report = build_report([DIGITS], tmp_path / "out", labels=["cpu-2core"])
    rows = {r["backend"]: r for r in table(report.markdown, "Overall performance")["rows"]}
    assert rows["handcrafted"]["test top-1"] == "0.9694"
    assert rows["handcrafted"]["inference ms, batch 1 (median)"] == "0.07441"
    assert rows["torch"]["train epoch s, batch 64 (median)"] == "1.748"
