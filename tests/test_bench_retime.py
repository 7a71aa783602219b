"""Quotable figures: a flagged timing is timed again at the end of the session, and only what time can disturb
is ever flagged.

The bench runs for real in a subprocess (:func:`tests.conftest.run_bench`); the machine's disturbance is
injected by a small pytest plugin written by the test, which replaces the timing rules
(:func:`lenet.measure.noise.judge`): a real slow spell cannot be summoned on demand.
"""
import json
import os

import pytest

from lenet.io.history import load_run
from lenet.schema import DETERMINISTIC, TIME

pytestmark = pytest.mark.slow

PLUGIN = '''
import lenet.measure.noise as noise

CALLS = []


def judge(cond, summary):
    CALLS.append(1)
    return ["injected disturbance"] if {flag_first_only} is False or len(CALLS) == 1 else []


noise.judge = judge
'''


def bench_with(bench, tmp_path, flag_first_only: bool, *args):
    (tmp_path / "disturb_plugin.py").write_text(PLUGIN.format(flag_first_only=flag_first_only))
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), old]))
    try:
        proc = bench(tmp_path, "-p", "disturb_plugin", "--retime-budget", "5", *args)
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    (path,) = sorted((tmp_path / "storage").glob("*/*.json"))
    return proc, load_run(path), json.loads(path.read_text())


def test_a_flagged_timing_is_timed_again_and_the_clean_attempt_kept(bench, tmp_path):
    proc, run, _ = bench_with(bench, tmp_path, True, "-k", "test_inference and handcrafted")
    rows = run.benchmarks
    assert len(rows) == 3  # one row per test, however often it was timed (batch 1, 64 and 1024)
    retimed = [b for b in rows if "attempts" in b["extra_info"]]
    (row,) = retimed  # only the first judgement was disturbed
    e = row["extra_info"]
    assert [a["unstable"] for a in e["attempts"]] == [True, False]
    assert e["attempts"][0]["unstable_reasons"] == ["injected disturbance"]
    assert e["unstable"] is False and e["trust_rule"] == TIME
    assert row["stats"]["median"] == pytest.approx(e["attempts"][1]["median_s"])  # the figure is the clean one
    assert "re-timing 1 flagged figure(s) at the end of the session" in proc.stdout
    # none left flagged (the session's own reference-probe warning may still appear on a loaded machine: it is about
    # the session, not a figure)
    assert "benchmark(s) were measured on a disturbed machine" not in proc.stdout


def test_only_what_time_can_disturb_is_flagged(bench, tmp_path):
    """Every timing judgement disturbed: accuracy rows stay unflagged, inference rows are re-timed and stay
    flagged, each with both attempts recorded."""
    proc, run, doc = bench_with(bench, tmp_path, False, "-k", "(test_accuracy or test_inference) and handcrafted")
    by_group = {}
    for b in run.benchmarks:
        by_group.setdefault(b["group"].split(" ")[0], []).append(b["extra_info"])
    (acc,) = by_group["accuracy"]
    assert acc["trust_rule"] == DETERMINISTIC and acc["unstable"] is False and "attempts" not in acc
    assert len(by_group["inference"]) == 3
    for e in by_group["inference"]:
        assert e["unstable"] is True and [a["unstable"] for a in e["attempts"]] == [True, True]
    assert "3 of 4 benchmark(s) were measured on a disturbed machine" in proc.stdout
    assert doc["lenet_session"]["noise_bounds"]["memory_spread_max"] > 0
