"""The whole session's progress on one updating line, its ETA from a plan, and the wall time of each part.

    lenet-bench  37/94 |######4      | 12:04 · ETA 18m20s (plan: last run) · inference[torch-lenet5-cpu-64]

The plan is the last run's duration of every test (kept in pytest's cache per profile and dataset);
a test it does not know is planned at the mean of its own bench file's tests, then of all the tests seen.
The ETA is what remains of the plan, scaled by this run's pace so far (actual over planned seconds of the
finished tests), so a run on a warm model cache or a slower machine corrects itself as it goes.
While the session waits for another session's lock on a model-cache entry (:mod:`lenet.io.model_cache`), the
line says so, with how long it has waited so far: ``· waiting for another session to train <entry> (1m05s)``.

Parts are the bench files (``accuracy``, ``inference``, ...) plus ``model training``: the seconds spent
training models that were not in the cache, taken out of whichever test first needed them.
"""
from __future__ import annotations

import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

TRAINING_PART = "model training"
_NOMINAL_S = 10.0  # a test's plan when nothing at all is known yet


def part_of(nodeid: str) -> str:
    """``bench/test_inference.py::test_inference[...]`` -> ``inference``."""
    return nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removeprefix("test_").removesuffix(".py")


def short_name(nodeid: str) -> str:
    """``bench/test_inference.py::test_inference[torch-lenet5]`` -> ``inference[torch-lenet5]``."""
    return nodeid.split("::", 1)[-1].removeprefix("test_")


def format_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class Plan:
    """Planned seconds per test: the last run's, else its part's mean, else the mean of all seen."""

    def __init__(self, nodeids: Iterable[str], last_run: dict[str, float] | None = None):
        self.nodeids = list(nodeids)
        self.last_run = {k: float(v) for k, v in (last_run or {}).items() if isinstance(v, (int, float)) and v >= 0}
        self.known = sum(n in self.last_run for n in self.nodeids)

    def seconds(self, nodeid: str, seen: dict[str, float]) -> float:
        if nodeid in self.last_run:
            return self.last_run[nodeid]
        pool = {**seen, **self.last_run}  # planned figures first: the pace scales them, not the seen ones
        same = [v for k, v in pool.items() if part_of(k) == part_of(nodeid)]
        values = same or list(pool.values())
        return sum(values) / len(values) if values else _NOMINAL_S

    @property
    def source(self) -> str:
        if self.known == len(self.nodeids) and self.nodeids:
            return "last run"
        if self.known:
            return f"last run for {self.known}/{len(self.nodeids)}"
        return "this run's means"


class SessionProgress:
    """Tracks the session's tests; renders one line through ``write`` (a tqdm bar when given one)."""

    def __init__(self, plan: Plan, training_seconds: Callable[[], float] = lambda: 0.0,
                 clock: Callable[[], float] = time.perf_counter, waiting: Callable[[], str | None] = lambda: None):
        self.plan = plan
        self.training_seconds = training_seconds
        self.clock = clock
        self.waiting = waiting  # what the session waits for now (None: nothing), shown with how long so far
        self._waited: tuple[str | None, float] = (None, 0.0)
        self.durations: dict[str, float] = {}
        self.parts: dict[str, float] = defaultdict(float)
        self.current: str | None = None
        self._started = self._training_at_start = 0.0
        self.session_start = clock()
        self._lock = threading.Lock()  # the line's thread reads what the test hooks write

    def start(self, nodeid: str) -> None:
        with self._lock:
            self.current, self._started, self._training_at_start = nodeid, self.clock(), self.training_seconds()

    def finish(self, nodeid: str) -> None:
        with self._lock:
            if nodeid != self.current:
                return
            seconds = self.clock() - self._started
            trained = self.training_seconds() - self._training_at_start
            self.durations[nodeid] = seconds
            self.parts[part_of(nodeid)] += seconds - trained
            if trained:
                self.parts[TRAINING_PART] += trained
            self.current = None

    def eta_seconds(self) -> float:
        """What remains of the plan, at this run's pace so far (call with the lock held, as status does)."""
        done_plan = sum(self.plan.seconds(n, self.durations) for n in self.durations)
        pace = sum(self.durations.values()) / done_plan if done_plan > 0 else 1.0
        remaining = 0.0
        for n in self.plan.nodeids:
            if n in self.durations:
                continue
            planned = self.plan.seconds(n, self.durations) * pace
            if n == self.current:
                planned = max(planned - (self.clock() - self._started), 0.0)
            remaining += planned
        return remaining

    def status(self) -> str:
        with self._lock:
            now = f" · {short_name(self.current)}" if self.current else ""
            note = self.waiting()
            if note != self._waited[0]:
                self._waited = (note, self.clock())
            if note:
                now += f" · {note} ({format_seconds(self.clock() - self._waited[1])})"
            return f"ETA {format_seconds(self.eta_seconds())} (plan: {self.plan.source}){now}"

    @property
    def done(self) -> int:
        return len(self.durations)

    def parts_table(self) -> list[tuple[str, float]]:
        """``[(part, seconds)]``, longest first, then the session's total wall time."""
        rows = sorted(self.parts.items(), key=lambda kv: -kv[1])
        return [*rows, ("total (session)", self.clock() - self.session_start)]


class ProgressLine:
    """A tqdm line over the session's tests, refreshed every ``interval`` seconds from a daemon thread."""

    def __init__(self, progress: SessionProgress, stream, interval: float = 1.0):
        from tqdm.auto import tqdm

        self.progress = progress
        columns = shutil.get_terminal_size(fallback=(120, 24)).columns or 120  # 0 on a pty with no size
        self.bar = tqdm(total=len(progress.plan.nodeids), desc="lenet-bench", file=stream, ncols=columns,
                        mininterval=0, leave=True, unit="test",
                        bar_format="{desc} {n_fmt}/{total_fmt} |{bar:12}| {elapsed}{postfix}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, args=(interval,), daemon=True, name="lenet-progress")
        self._thread.start()

    def _tick(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.refresh()

    def refresh(self) -> None:
        self.bar.set_postfix_str(self.progress.status(), refresh=False)
        self.bar.n = self.progress.done
        self.bar.refresh()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.refresh()
        self.bar.close()


PROGRESS_MODES = ("auto", "line", "log", "off")


class RunProgress:
    """The session's progress as the bench shows it: ``line`` (one updating line, for a terminal),
    ``log`` (a plain line as each test starts, for log files), ``off``; ``auto`` is ``line`` on a
    terminal and ``off`` elsewhere.  ``stream`` is where it writes (the terminal, apart from pytest's
    output capture)."""

    def __init__(self, nodeids: list[str], last_run: dict | None, training_seconds: Callable[[], float],
                 mode: str, stream, waiting: Callable[[], str | None] = lambda: None):
        if mode not in PROGRESS_MODES:
            raise ValueError(f"--progress must be one of {', '.join(PROGRESS_MODES)}, got {mode!r}")
        if mode == "auto":
            mode = "line" if stream is not None and stream.isatty() else "off"
        self.mode, self.stream = mode, stream
        self.progress = SessionProgress(Plan(nodeids, last_run), training_seconds, waiting=waiting)
        self.line = ProgressLine(self.progress, stream) if mode == "line" else None

    def start(self, nodeid: str) -> None:
        self.progress.start(nodeid)
        if self.mode == "log":
            p = self.progress
            elapsed = format_seconds(p.clock() - p.session_start)
            print(f"lenet-bench {p.done}/{len(p.plan.nodeids)} · {elapsed} · {p.status()}", file=self.stream,
                  flush=True)
        elif self.line:
            self.line.refresh()

    def finish(self, nodeid: str) -> None:
        self.progress.finish(nodeid)
        if self.line:
            self.line.refresh()

    def close(self) -> None:
        if self.line:
            self.line.close()
            self.line = None
