"""``lenet history``: each benchmark over the runs of a storage, ordered by commit time, with its change points.

``lenet compare`` judges two runs; a history of many runs asks where a figure moved.  Per benchmark (matched by
fullname and params, as :mod:`lenet.study.compare` does), the timeline lists every run's median with the 95%
order-statistic interval of that median (:func:`lenet.measure.stats.quantile_interval`), the runs ordered by
their commit's time (then by when they ran; the shards of a run are one run, :mod:`lenet.io.shards`).

Change points are found by Apache Otava (``otava.analysis.compute_change_points``: E-divisive means split in
sliding windows, then weak points merged away by a t-test, Fleming et al. 2023), on the medians of the
**unflagged** runs only: a run flagged ``unstable`` measured the machine, not the code.  Otava judges medians
alone, so a raw alert is noisy (TorchBench files an issue only after bisection for that reason); each point it
finds is therefore **confirmed** by our own judge, :func:`lenet.study.compare.judge_time` (hierarchical bootstrap
of the median ratio, significant and beyond the threshold), between the unflagged runs before it and after it, up
to its neighbouring change points.  A confirmed slowdown is a regression: ``lenet history`` exits 1.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from ..entry import Entry
from ..io.history import HistoryError, Run
from ..measure.stats import CONFIDENCE, Ratio, quantile_interval
from .compare import DEFAULT_THRESHOLD, IMPROVEMENT, REGRESSION, Side, as_judged, judge_time, ratio_text

MIN_RUNS = 3  # fewer runs are a comparison (lenet compare), not a timeline
MAX_PVALUE = 0.001  # Otava's default significance for a change point (its t-test, after the merge step)
WINDOW = 50  # Otava's default window (runs) for the E-divisive split


class TimelineError(HistoryError):
    """Histories that make no timeline (too few runs, a selector that is not an expression)."""


def _aware(text: str) -> dt.datetime:
    """An ISO time; without an offset it is UTC (pytest-benchmark writes its ``datetime`` in UTC)."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def run_order(run: Run) -> tuple:
    """Sort key of a run in a timeline: its commit's time (else when it ran), then when it ran."""
    return _aware(str(run.commit.get("time") or run.datetime)), _aware(run.datetime)


def commit_text(run: Run) -> str:
    """``15f3cd0d020c 2026-11-22 06:09`` (short id and commit time), or when it ran for a run without a commit."""
    commit = str(run.commit.get("id") or "no-commit")[:12] + ("+dirty" if run.commit.get("dirty") else "")
    return f"{commit} {str(run.commit.get('time') or run.datetime)[:16].replace('T', ' ')}"


@dataclass(frozen=True)
class Point:
    """One benchmark in one run of the timeline."""

    index: int  # the run's place in the timeline (0-based)
    run: Run
    entry: Entry  # the run's entry for this benchmark
    flagged: bool = False  # flagged by the bench when it was taken (the history's recorded flag)

    @property
    def median(self) -> float:
        return float(self.entry.median)

    @property
    def interval(self) -> tuple[float, float] | None:
        """95% order-statistic interval of the median, from the raw samples (None without them)."""
        data = self.entry.stats.get("data")
        return quantile_interval(data) if data else None

    @property
    def unstable(self) -> bool:
        """Flagged by the bench when it was taken: change points are sought among the runs it trusted then
        (the comparison that confirms one judges by today's rules, :meth:`lenet.entry.Entry.parse`)."""
        return self.flagged


@dataclass(frozen=True)
class ChangePoint:
    """Where Otava saw a benchmark's median move, and what the bootstrap judge says of it."""

    at: Point  # the first run after the change
    before: tuple  # the unflagged Points judged as the base (back to the previous change point)
    after: tuple  # the unflagged Points judged as the new side (up to the next change point)
    pvalue: float  # Otava's
    verdict: str  # judge_time's: REGRESSION, IMPROVEMENT, or why not confirmed
    ratio: Ratio | None

    @property
    def confirmed(self) -> bool:
        return self.ratio is not None and self.verdict in (REGRESSION, IMPROVEMENT)


@dataclass(frozen=True)
class Series:
    """One benchmark over the runs that hold it, with its change points."""

    name: str
    fullname: str
    group: str
    points: tuple
    change_points: tuple = ()

    @property
    def stable(self) -> tuple:
        return tuple(p for p in self.points if not p.unstable)


@dataclass(frozen=True)
class Timeline:
    runs: tuple  # in timeline order
    series: tuple
    threshold: float
    confidence: float

    @property
    def regressions(self) -> list[ChangePoint]:
        return [c for s in self.series for c in s.change_points if c.verdict == REGRESSION]


def selector(expression: str | None):
    """``-k``: pytest's keyword expression (``infer and not torch``), matched as pytest matches it (a
    case-insensitive substring of the test's name or its file's), so that ``lenet history -k`` and ``lenet bisect
    -k`` select the same benchmarks that ``pytest -k`` runs.  None selects everything."""
    if not expression:
        return lambda fullname: True
    from _pytest.mark import expression as pytest_expression  # pytest's own parser: the same grammar as -k

    malformed = getattr(pytest_expression, "ParseError", SyntaxError)  # pytest < 8.4 names its own error
    try:
        compiled = pytest_expression.Expression.compile(expression)
    except malformed as e:
        raise TimelineError(f"-k {expression!r}: not a pytest keyword expression ({e})") from None

    def matches(fullname: str) -> bool:
        file, _, test = fullname.rpartition("::")
        names = [test.lower(), test.split("[")[0].lower(), file.rsplit("/", 1)[-1].lower()]
        return compiled.evaluate(lambda word, **kwargs: not kwargs and any(word.lower() in n for n in names))

    return matches


def _side(points: Sequence[Point]) -> Side:
    return Side(tuple(p.entry for p in points), tuple(p.run.path for p in points))


def _otava():
    """Otava's change-point search (``apache-otava``, installed by tox; see pyproject.toml), or a one-line error
    without it."""
    try:
        from otava.analysis import compute_change_points
    except ImportError:
        raise TimelineError("change points need Apache Otava: pip install --no-deps apache-otava==0.8.0 (its "
                            "declared pins would downgrade numpy and scipy; lenet uses only otava.analysis)") from None
    return compute_change_points


def _change_points(points: tuple, threshold: float, confidence: float, max_pvalue: float) -> tuple:
    """Otava's change points on the unflagged points, each judged by the bootstrap between its neighbours."""
    stable = [p for p in points if not p.unstable]
    if len(stable) < MIN_RUNS:
        return ()
    whole = _side(stable)
    medians = as_judged(whole, whole)[0].medians  # per sample when the runs' batch sizes differ
    found, _ = _otava()(medians, window_len=WINDOW, max_pvalue=max_pvalue)
    cuts = sorted(found, key=lambda c: c.index)
    bounds = [0, *(c.index for c in cuts), len(stable)]
    out = []
    for k, cut in enumerate(cuts):
        before, after = stable[bounds[k]:bounds[k + 1]], stable[bounds[k + 1]:bounds[k + 2]]
        verdict, ratio = judge_time(*as_judged(_side(before), _side(after)), threshold, confidence)
        out.append(ChangePoint(stable[cut.index], tuple(before), tuple(after), float(cut.stats.pvalue), verdict,
                               ratio))
    return tuple(out)


def build_timeline(runs: Sequence[Run], select: str | None = None, threshold: float = DEFAULT_THRESHOLD,
                   confidence: float = CONFIDENCE, max_pvalue: float = MAX_PVALUE, where: str = "") -> Timeline:
    """Every selected benchmark over ``runs`` (at least :data:`MIN_RUNS`), with its confirmed change points."""
    if len(runs) < MIN_RUNS:
        raise TimelineError(f"{where or 'histories'}: {len(runs)} run(s) (the shards of a run count once); a "
                            f"timeline needs at least {MIN_RUNS}, and two runs are judged by `lenet compare`")
    matches = selector(select)
    ordered = sorted(runs, key=run_order)
    found: dict = {}
    for i, run in enumerate(ordered):
        for row, entry in zip(run.benchmarks, run.entries):
            if matches(entry.fullname):
                recorded = bool((row.get("extra_info") or {}).get("unstable"))
                found.setdefault(entry.key, []).append(Point(i, run, entry, recorded))
    if not found:
        raise TimelineError(f"{where or 'histories'}: no benchmark matches -k {select!r}")
    series = []
    for key, points in found.items():
        last = points[-1].entry
        series.append(Series(last.name, key[0], last.group, tuple(points),
                             _change_points(tuple(points), threshold, confidence, max_pvalue)))
    series.sort(key=lambda s: (s.group, s.name))
    return Timeline(tuple(ordered), tuple(series), threshold, confidence)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.4g}"


def describe_change(c: ChangePoint) -> str:
    """``run 13, 1a2b3c4d5e6f 2026-12-01 10:00: x1.150 [1.14, 1.16] regression (Otava p=1e-05, 12 runs before,
    8 after)``."""
    before, after = as_judged(_side(c.before), _side(c.after))
    ratio = ratio_text(c.ratio) if c.ratio else f"x{after.median / before.median:.3f}"
    return (f"run {c.at.index + 1}, {commit_text(c.at.run)}: {ratio}"
            f" {c.verdict}{' ⚠' if c.verdict == REGRESSION else ''}"
            f"{'' if c.confirmed else ' (not confirmed by the bootstrap)'} "
            f"(Otava p={c.pvalue:.2g}; {len(c.before)} unflagged run(s) before, {len(c.after)} from it)")


def format_timeline(t: Timeline) -> str:
    """What ``lenet history`` prints: per benchmark its runs, then its change points; a summary at the end."""
    lines = [f"{len(t.runs)} run(s), by commit time:"]
    lines += [f"  run {i + 1:>3}  {commit_text(r)}  {', '.join(p.name for p in r.files)}" for i, r in enumerate(t.runs)]
    lines.append(f"change points: Apache Otava (E-divisive means) on unflagged runs, each confirmed when the "
                 f"{t.confidence:.0%} bootstrap interval of after/before excludes 1 and the ratio is beyond "
                 f"±{t.threshold:.0%}")
    for s in t.series:
        lines += ["", f"{s.group} :: {s.name}", f"  {'run':>5}  {'median ms':>10}  {'95% CI ms':<19}"]
        for p in s.points:
            ci = f"{_ms(p.interval[0])}-{_ms(p.interval[1])}" if p.interval else "-"
            flag = "  unstable: excluded" if p.unstable else ""
            lines.append(f"  {p.index + 1:>5}  {_ms(p.median):>10}  {ci:<19}{flag}")
        if len(s.stable) < MIN_RUNS:
            lines.append(f"  fewer than {MIN_RUNS} unflagged runs: no change points sought")
        elif not s.change_points:
            lines.append("  no change point")
        lines += [f"  change point at {describe_change(c)}" for c in s.change_points]
    confirmed = [(s, c) for s in t.series for c in s.change_points if c.confirmed]
    lines += ["", f"{len(t.series)} benchmark(s), {sum(len(s.change_points) for s in t.series)} change point(s) "
              f"found, {len(confirmed)} confirmed, {len(t.regressions)} regression(s)"]
    lines += [f"  {s.name}: {describe_change(c)}" for s, c in confirmed]
    return "\n".join(lines)


def exit_status(t: Timeline) -> int:
    """1 when a confirmed change point is a regression, else 0."""
    return 1 if t.regressions else 0
