"""The session's progress line: its plan, ETA, parts, and the modes it renders in."""
import io

import pytest

from lenet.study.progress import (
    TRAINING_PART,
    Plan,
    RunProgress,
    SessionProgress,
    format_seconds,
    part_of,
    short_name,
)

A1, A2 = "bench/test_accuracy.py::test_accuracy[torch]", "bench/test_accuracy.py::test_accuracy[keras]"
I1, I2 = "bench/test_inference.py::test_inference[torch-1]", "bench/test_inference.py::test_inference[torch-64]"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_names_and_formats():
    assert part_of(I1) == "inference" and part_of("bench/test_mlp_sweep.py::test_mlp_sweep[x]") == "mlp_sweep"
    assert short_name(I1) == "inference[torch-1]"
    assert [format_seconds(s) for s in (0, 59.4, 61, 3600 + 120)] == ["0s", "59s", "1m01s", "1h02m"]


def test_plan_uses_last_run_then_the_parts_mean_then_all():
    plan = Plan([A1, A2, I1, I2], {A1: 30.0, I1: 2.0, "gone::test": 100.0})
    assert plan.seconds(A1, {}) == 30.0
    assert plan.seconds(A2, {}) == 30.0  # the accuracy part's mean (A1 only)
    assert plan.seconds(I2, {I1: 4.0}) == 2.0  # a known test keeps its planned figure; I2 gets its part's mean
    assert plan.source == "last run for 2/4"
    assert Plan([A1], {A1: 1}).source == "last run" and Plan([A1], None).source == "this run's means"
    assert Plan([A1], {A1: "x", A2: -1}).last_run == {}  # a damaged cache entry is no plan


def test_eta_scales_the_remaining_plan_by_this_runs_pace():
    clock = Clock()
    progress = SessionProgress(Plan([A1, A2, I1, I2], {A1: 10.0, A2: 10.0, I1: 1.0, I2: 1.0}), clock=clock)
    with progress._lock:
        assert progress.eta_seconds() == pytest.approx(22.0)
    progress.start(A1)
    clock.now = 20.0  # twice as slow as planned
    progress.finish(A1)
    with progress._lock:
        assert progress.eta_seconds() == pytest.approx(2 * 12.0)
    progress.start(A2)
    clock.now = 25.0  # the running test's elapsed time is taken off its planned share
    with progress._lock:
        assert progress.eta_seconds() == pytest.approx(2 * 12.0 - 5.0)
    assert "ETA 19s (plan: last run) · accuracy[keras]" == progress.status()


def test_a_wait_for_another_session_shows_on_the_line_with_its_duration():
    clock, note = Clock(), [None]
    progress = SessionProgress(Plan([A1], {A1: 10.0}), clock=clock, waiting=lambda: note[0])
    progress.start(A1)
    assert progress.status() == "ETA 10s (plan: last run) · accuracy[torch]"
    clock.now, note[0] = 2.0, "waiting for another session to train x.npz"
    assert progress.status().endswith("· accuracy[torch] · waiting for another session to train x.npz (0s)")
    clock.now = 67.0
    assert progress.status().endswith("· waiting for another session to train x.npz (1m05s)")
    note[0] = None
    assert progress.status() == "ETA 0s (plan: last run) · accuracy[torch]"


def test_parts_take_fresh_training_out_of_the_test_that_triggered_it():
    clock, trained = Clock(), [0.0]
    progress = SessionProgress(Plan([A1, I1]), training_seconds=lambda: trained[0], clock=clock)
    progress.start(A1)
    clock.now, trained[0] = 50.0, 40.0
    progress.finish(A1)
    progress.start(I1)
    clock.now = 53.0
    progress.finish(I1)
    progress.finish(I1)  # a second finish of the same test counts nothing
    parts = dict(progress.parts_table())
    assert parts == {TRAINING_PART: 40.0, "accuracy": 10.0, "inference": 3.0, "total (session)": 53.0}
    assert progress.done == 2


def test_log_mode_writes_a_line_per_test_and_auto_is_off_without_a_terminal():
    out = io.StringIO()
    run = RunProgress([A1, I1], {}, lambda: 0.0, "log", out)
    run.start(A1)
    run.finish(A1)
    run.start(I1)
    run.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("lenet-bench 0/2 · 0s · ETA") and lines[0].endswith("accuracy[torch]")
    assert lines[1].startswith("lenet-bench 1/2") and lines[1].endswith("inference[torch-1]")
    assert RunProgress([A1], {}, lambda: 0.0, "auto", io.StringIO()).mode == "off"
    assert RunProgress([A1], {}, lambda: 0.0, "auto", None).mode == "off"


def test_line_mode_renders_one_updating_line():
    out = io.StringIO()
    run = RunProgress([A1, I1], {A1: 5.0, I1: 5.0}, lambda: 0.0, "line", out)
    run.start(A1)
    run.finish(A1)
    run.close()
    text = out.getvalue()
    assert "\r" in text and "lenet-bench 1/2" in text and "ETA" in text and "plan: last run" in text


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="--progress must be one of auto, line, log, off, got 'fancy'"):
        RunProgress([A1], {}, lambda: 0.0, "fancy", None)
