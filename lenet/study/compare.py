"""Noise-aware comparison of benchmark histories: ``lenet compare BASE NEW`` and ``lenet report --compare``.

Benchmarks present on both sides (matched by fullname and params) are judged from their raw samples
(pytest-benchmark's ``--benchmark-save-data``).  Each side may be one run or several:

* the figure of a side is the **median of its runs' medians**; the spread across its runs is shown as the
  range of those medians;
* the change is the ratio ``new / base`` of those figures with a 95% **hierarchical bootstrap** interval
  (:func:`lenet.measure.stats.ratio_interval`: runs resampled, then samples within runs);
* a time change counts only when it is **significant** (the interval excludes 1) **and beyond the threshold**
  (``ratio > 1 + t`` is a regression, ``ratio < 1 / (1 + t)`` an improvement; ``t`` = 10% unless told);
* a benchmark flagged ``unstable`` in any run of either side reads "inconclusive (unstable)", never
  "regression";
* a benchmark whose machine state differs between the sides reads "inconclusive (machine state differs)":
  its reference probe (:mod:`lenet.measure.noise`, read around the benchmark; geometric mean of before and after, median
  over a side's runs) differs by more than :data:`PROBE_MATCH_MAX`.  On a shared host the same code measured
  minutes apart runs on a machine whose 2-thread GEMM speed moved by 20-90% (vCPUs placed on other cores);
  the probe sees that, so such a pair is not called a change of the code.  The gate needs both sides at the same
  thread count (the probe runs at the count in force); with different counts it is skipped, and said so;
* a row timed **side by side** (``extra_info["ratio"]``: this row against a named reference in interleaved
  rounds) is judged on that ratio when every run of both sides has it, against the same reference: the change
  is the ratio's, with a log-normal interval from each run's own interval; both contenders ran in the same
  machine state, so neither the probe gate nor the absolute figure's flag applies.  A server-scenario row is
  judged on its **peak rate** under the latency bound (its search's bracket as its error), not on the latency
  at the rate its search found (:mod:`lenet.study.run_spread`);
* the **between-run spread**: where the histories given hold repeated runs of one commit (not counting the new
  side), every interval is widened to at least the spread those repeats show, pooled per section and basis.
  One run's interval holds only that run's noise, and on a shared VM the same code moves 10-20% between runs;
* a history without raw samples compares its medians with the note "no raw samples: medians only, no
  significance", and is never called a regression;
* test top-1 (in the accuracy, compression and MLP-sweep groups) is judged against the larger of the binomial
  standard error of the difference at the test-set size and, when both sides hold several seeds
  (``extra_info["seed_spread"]``), the seeds' spread (:func:`lenet.measure.stats.proportion_change`), not by
  fixed points; the verdict says which bound it used;
* instructions per call (``--instrument instructions``, :mod:`lenet.measure.instructions`), where both sides
  counted them, are judged by a tight threshold alone (1% unless told), with no resampling: cachegrind's counts
  repeat to well under that, so any change beyond it is a change of the work done.  A row where time and
  instructions disagree about a change is flagged (:attr:`Verdict.disagrees`): a change that moves only memory
  traffic the simulated caches do not see, or only the machine, is the known limit of counting.

:func:`exit_status` is what CI reads: 1 when anything regressed significantly beyond its bound, else 0.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property, partial

import numpy as np

from ..entry import Entry
from ..io.history import HistoryError, Run, load_runs
from ..measure.noise import PROBE_DRIFT_MAX
from ..measure.stats import (
    CONFIDENCE,
    ProportionChange,
    Ratio,
    StatsError,
    proportion_change,
    ratio_interval,
    t_critical,
    z_critical,
)
from ..schema import RETIMED
from .run_spread import PEAK_RATE, TIME, Figure, Spread, between_run_spread, judged_figure, pool_key

DEFAULT_THRESHOLD = 0.10  # 10%: what a timing must change by, significantly, to count
DEFAULT_INSTRUCTION_THRESHOLD = 0.01  # 1%: what instructions per call must change by (counts repeat to <0.5%)
PROBE_MATCH_MAX = 0.25  # how far the sides' probes around a benchmark may differ (docs/noise-calibration.md)

# Sections whose benchmarks are about accuracy: only their top-1 change is judged (every benchmark carries
# the trained model's accuracy, which would otherwise be judged once per timing).
ACCURACY_GROUPS = ("accuracy", "compression", "mlp-sweep")  # group prefixes
ACCURACY_FIELDS = ("test_top1", "top1")

REGRESSION = "regression"
IMPROVEMENT = "improvement"
NO_SAMPLES = "no raw samples: medians only, no significance"
UNSTABLE = "inconclusive (unstable)"
MACHINE_DIFFERS = "inconclusive (machine state differs)"
COUNTS_DIFFER = "inconclusive (counted differently)"


class CompareError(HistoryError):
    """Runs that cannot be compared (a side without runs)."""


@dataclass(frozen=True)
class Side:
    """One benchmark on one side: its entry in every run of that side."""

    entries: tuple[Entry, ...]  # one per run, flagged by today's rules (lenet.entry.Entry.parse)
    paths: tuple = ()  # the history file of each entry

    per_sample: bool = False  # times divided by each entry's batch size (sides that ran different batches)

    def _scale(self, b: Entry) -> float:
        batch = b.extra.get("batch_size")
        return 1.0 / batch if self.per_sample and isinstance(batch, int) and batch > 0 else 1.0

    @property
    def medians(self) -> list[float]:
        return [float(b.median) * self._scale(b) for b in self.entries]

    @property
    def median(self) -> float:
        return float(np.median(self.medians))

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.medians), max(self.medians)

    @property
    def samples(self) -> list | None:
        """Each run's raw samples, or None when any run lacks them."""
        runs = [b.stats.get("data") for b in self.entries]
        if any(not r for r in runs):
            return None
        return [np.asarray(r, dtype=np.float64) * self._scale(b) for r, b in zip(runs, self.entries)]

    @property
    def unstable_reasons(self) -> list[str]:
        return [r for b in self.entries for r in b.reasons]

    @property
    def unstable(self) -> bool:
        """Flagged in any run, by today's rules (lenet.schema.flag_of: never for a deterministic figure)."""
        return any(b.unstable for b in self.entries)

    @cached_property
    def figures(self) -> tuple[Figure | None, ...]:
        """Each run's side-by-side ratio or peak rate (:func:`lenet.study.run_spread.judged_figure`), or None."""
        return tuple(map(judged_figure, self.entries))

    @property
    def probe_s(self) -> float | None:
        """The reference probe around this benchmark: geometric mean of before/after, median over runs."""
        values = []
        for b in self.entries:
            n = b.get("noise", {})
            before, after = n.get("probe_before_s"), n.get("probe_after_s")
            if isinstance(before, int | float) and isinstance(after, int | float) and before > 0 and after > 0:
                values.append(math.sqrt(before * after))
        return float(np.median(values)) if len(values) == len(self.entries) and values else None

    @property
    def threads(self) -> set:
        return {b.get("noise", {}).get("threads") for b in self.entries}

    @property
    def batch_sizes(self) -> set:
        return {b.extra.get("batch_size") for b in self.entries}

    def seed_top1(self) -> list | None:
        """The newest run's per-seed test top-1 (``extra_info["seed_spread"]``), or None."""
        spread = self.entries[-1].get("seed_spread", {}).get("test_top1") or {}
        return spread.get("values")

    @property
    def counts(self) -> list[dict] | None:
        """Each run's ``extra_info["instructions"]`` record, or None when any run lacks one."""
        records = [b.extra.get("instructions") for b in self.entries]
        ok = all(isinstance(r, dict) and isinstance(r.get("instructions"), int | float) and r["instructions"] > 0
                 for r in records)
        return records if ok else None

    def top1(self) -> tuple[float, int | None] | None:
        """(median test top-1 over runs, test-set size) for accuracy groups, else None."""
        values, sizes = [], []
        for b in self.entries:
            e = b.extra
            v = next((e[k] for k in ACCURACY_FIELDS if e.get(k) is not None), None)
            if v is not None:
                values.append(float(v))
                sizes.append(e.get("test_samples"))
        if not values:
            return None
        n = sizes[0] if sizes and all(s == sizes[0] for s in sizes) and isinstance(sizes[0], int) else None
        return float(np.median(values)), n


@dataclass(frozen=True)
class Verdict:
    name: str
    group: str
    base: Side
    new: Side
    ratio: Ratio | None  # None without raw samples on both sides or when unstable
    time: str  # the time verdict (REGRESSION, IMPROVEMENT, UNSTABLE, NO_SAMPLES, or a neutral phrase)
    top1: ProportionChange | None
    accuracy: str | None  # "regression", "improvement", "no significant change", "test-set size unknown"
    instructions: str | None = None  # the instructions verdict; None where a side has no counts
    instruction_ratio: float | None = None  # new / base instructions per call (median over runs)
    basis: str = TIME  # what the time verdict judged: the row's time, its ratio side by side, or its peak rate
    spread: Spread | None = None  # the between-run spread its interval was widened to, where one was measured

    @property
    def basis_note(self) -> str:
        """`` (side by side against handcrafted)``: what the time verdict judged, where not the time itself."""
        return "" if self.basis == TIME else f" ({self.basis})"

    @property
    def median_ratio(self) -> float:
        return self.new.median / self.base.median if self.base.median > 0 else math.inf

    @property
    def regressed(self) -> bool:
        return REGRESSION in (self.time, self.accuracy, self.instructions)

    @property
    def disagrees(self) -> bool:
        """Time and instructions, both judged, read the change differently (one a change, the other not or the
        opposite way)."""
        judged = (REGRESSION, IMPROVEMENT)
        if self.instructions is None or self.instructions == COUNTS_DIFFER or self.ratio is None:
            return False
        if self.time not in judged and self.instructions not in judged:
            return False
        return self.time != self.instructions

    @property
    def flags(self) -> tuple[str, ...]:
        """Short words for the flagged outcomes (what a report's flag column shows)."""
        out = []
        basis = self.basis_note
        if self.time == REGRESSION:
            out.append(f"⚠ slower x{self.ratio.ratio:.2f}{basis}")
        elif self.time == IMPROVEMENT:
            out.append(f"faster x{self.ratio.ratio:.2f}{basis}")
        elif self.time in (UNSTABLE, MACHINE_DIFFERS):
            out.append(self.time)
        if self.instructions == REGRESSION:
            out.append(f"⚠ instructions x{self.instruction_ratio:.3f}")
        elif self.instructions == IMPROVEMENT:
            out.append(f"instructions x{self.instruction_ratio:.3f}")
        if self.disagrees:
            out.append("time and instructions disagree")
        if self.accuracy == REGRESSION:
            out.append(f"⚠ top-1 {self.top1.points:+.2f} pts")
        elif self.accuracy == IMPROVEMENT:
            out.append(f"top-1 {self.top1.points:+.2f} pts")
        return tuple(out)


def as_judged(base: Side, new: Side) -> tuple[Side, Side]:
    """The two sides as they are judged: per sample (time / batch size) when their runs used different batch
    sizes, as the offline scenario does (it picks its batch by a sweep)."""
    if base.batch_sizes != new.batch_sizes or len(base.batch_sizes | new.batch_sizes) > 1:
        return replace(base, per_sample=True), replace(new, per_sample=True)
    return base, new


def _verdict(ratio: Ratio, threshold: float) -> str:
    """The words for a change ``ratio`` (new / base, > 1 slower): significant and beyond ``threshold``?"""
    if not ratio.significant:
        return "no significant change"
    if ratio.ratio > 1 + threshold:
        return REGRESSION
    if ratio.ratio < 1 / (1 + threshold):
        return IMPROVEMENT
    return f"significant, within ±{threshold:.0%}"


def _floor(spread: Spread | None, base: Side, new: Side, confidence: float) -> float:
    """The half-width (log scale) the between-run ``spread`` gives the change of one side's mean over the
    other's: Student t on the spread's degrees of freedom, a spread measured on few repeats being uncertain
    itself; 0 without a spread."""
    if spread is None:
        return 0.0
    return t_critical(confidence, spread.dof) * spread.sigma * math.sqrt(1 / len(base.entries) + 1 / len(new.entries))


def _widened(ratio: Ratio, half: float) -> Ratio:
    """``ratio`` with its interval widened to at least ``±half`` on the log scale."""
    if half <= 0:
        return ratio
    return Ratio(ratio.ratio, min(ratio.low, ratio.ratio * math.exp(-half)),
                 max(ratio.high, ratio.ratio * math.exp(half)), ratio.confidence)


def _gate(base: Side, new: Side) -> str | None:
    """Why an absolute figure cannot be judged: a side flagged unstable, or the sides' machine states differing
    (their probes, at one thread count, more than :data:`PROBE_MATCH_MAX` apart); None when it can."""
    if base.unstable or new.unstable:
        return UNSTABLE
    if base.probe_s and new.probe_s and base.threads == new.threads and len(base.threads) == 1:
        if abs(new.probe_s / base.probe_s - 1) > PROBE_MATCH_MAX:
            return MACHINE_DIFFERS
    return None


def judge_time(base: Side, new: Side, threshold: float, confidence: float,
               spread: Spread | None = None) -> tuple[str, Ratio | None]:
    """The time verdict of ``new`` against ``base`` (see the module's rules) and the bootstrap ratio it rests on,
    its interval widened to the between-run ``spread`` where one was measured."""
    gate = _gate(base, new)
    if gate == UNSTABLE:
        return UNSTABLE, None
    if base.samples is None or new.samples is None:
        return NO_SAMPLES, None
    if gate:
        return gate, None
    try:
        ratio = ratio_interval(base.samples, new.samples, confidence)
    except StatsError as e:
        files = ", ".join(str(p) for p in dict.fromkeys(base.paths + new.paths))
        raise CompareError(f"{files}: benchmark {new.entries[-1].name}: stats.data: {e}") from None
    ratio = _widened(ratio, _floor(spread, base, new, confidence))
    return _verdict(ratio, threshold), ratio


def _mean_and_variance(figures: list[Figure]) -> tuple[float, float]:
    """A side's mean figure (log scale) and its variance: each run's own error, and the runs' spread when there
    are several."""
    values = np.array([f.log_value for f in figures])
    k = len(figures)
    variance = sum(f.log_se ** 2 for f in figures) / k ** 2
    if k > 1:
        variance += float(np.var(values, ddof=1)) / k
    return float(values.mean()), variance


def judge_figure(base: Side, new: Side, basis: str, threshold: float, confidence: float,
                 spread: Spread | None = None) -> tuple[str, Ratio | None]:
    """The verdict on a row's side-by-side ratio or peak rate (:func:`lenet.study.run_spread.judged_figure`).

    The change is ``exp(mean_new - mean_base)`` of the figures' logs, so above 1 is slower against the
    reference (or a lower peak rate); its interval is normal on the log scale, from each side's own error or,
    when wider, the between-run ``spread``.  A ratio side by side needs no machine-state gate (both contenders
    ran in the same state); a peak rate is an absolute figure and keeps it, and the queueing flags.
    """
    gate = _gate(base, new) if basis == PEAK_RATE else None
    if gate:
        return gate, None
    (mb, vb), (mn, vn) = (_mean_and_variance(side.figures) for side in (base, new))
    half = max(z_critical(confidence) * math.sqrt(vb + vn), _floor(spread, base, new, confidence))
    change = mn - mb
    ratio = Ratio(math.exp(change), math.exp(change - half), math.exp(change + half), confidence)
    return _verdict(ratio, threshold), ratio


def basis_of(base: Side, new: Side) -> str:
    """What the two sides are judged on: their side-by-side ratio or peak rate when every run of both has it
    (against the same reference), else their time."""
    bases = {getattr(f, "basis", TIME) for side in (base, new) for f in side.figures}
    return bases.pop() if len(bases) == 1 else TIME


def _judge_instructions(base: Side, new: Side, threshold: float) -> tuple[str | None, float | None]:
    """Instructions per call against a plain threshold: the counts are deterministic, so no interval.

    Counts taken of different calls, by another valgrind or over other simulated caches do not compare.
    """
    a, b = base.counts, new.counts
    if a is None or b is None:
        return None, None
    ratio = float(np.median([r["instructions"] for r in b]) / np.median([r["instructions"] for r in a]))
    how = {(r.get("call"), r.get("valgrind"), str(r.get("caches"))) for r in a + b}
    if len(how) > 1:
        return COUNTS_DIFFER, ratio
    if ratio > 1 + threshold:
        return REGRESSION, ratio
    if ratio < 1 / (1 + threshold):
        return IMPROVEMENT, ratio
    return f"within ±{threshold:.0%}", ratio


def _judge_top1(base: Side, new: Side, confidence: float) -> tuple[ProportionChange | None, str | None]:
    a, b = base.top1(), new.top1()
    if a is None or b is None:
        return None, None
    if a[1] is None or b[1] is None:
        return None, "test-set size unknown: not judged"
    change = proportion_change(a[0], b[0], a[1], b[1], confidence, base.seed_top1(), new.seed_top1())
    if not change.significant:
        return change, "no significant change"
    return change, REGRESSION if change.points < 0 else IMPROVEMENT


@dataclass(frozen=True)
class Comparison:
    base_runs: tuple
    new_runs: tuple
    verdicts: list
    only_base: list
    only_new: list
    threshold: float
    confidence: float
    notes: list
    instruction_threshold: float = DEFAULT_INSTRUCTION_THRESHOLD

    @property
    def regressions(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.regressed]

    @property
    def flagged(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.flags]


def _index(runs: Sequence[Run]) -> dict:
    """``{benchmark key: Side}`` over ``runs``."""
    found: dict = {}
    for run in runs:
        for b in run.entries:
            found.setdefault(b.key, []).append((b, run.path))
    return {k: Side(tuple(b for b, _ in v), tuple(p for _, p in v)) for k, v in found.items()}


def _probe(run: Run) -> float | None:
    value = run.session.get("probe_reference_s")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _machine_notes(base_runs: Sequence[Run], new_runs: Sequence[Run]) -> list[str]:
    notes = []
    a = [p for p in map(_probe, base_runs) if p]
    b = [p for p in map(_probe, new_runs) if p]
    if a and b:
        drift = float(np.median(b)) / float(np.median(a)) - 1
        if abs(drift) > PROBE_DRIFT_MAX:
            notes.append(f"the machine's reference probe differs by {drift:+.0%} between the sides (bound "
                         f"±{PROBE_DRIFT_MAX:.0%}): the runs come from machines, or days, of different speed, so "
                         f"time changes may be the machine's, not the code's")
    return notes


def _by_loadgen(side: Side) -> bool:
    """Whether a scenario benchmark was run by LoadGen (its record carries LoadGen's verdict) in any run."""
    return any("loadgen" in b.extra for b in side.entries)


def compare_runs(base_runs: Sequence[Run], new_runs: Sequence[Run], threshold: float = DEFAULT_THRESHOLD,
                 confidence: float = CONFIDENCE, instruction_threshold: float = DEFAULT_INSTRUCTION_THRESHOLD,
                 repeats: Sequence[Run] = ()) -> Comparison:
    """Judge every benchmark present on both sides; each side is one run or several.

    ``repeats`` are the runs whose repeats of one commit measure the between-run spread
    (:func:`lenet.study.run_spread.between_run_spread`): what ``lenet compare`` found beside the sides,
    never the new side itself.
    """
    if not base_runs or not new_runs:
        raise CompareError(f"nothing to compare: base has {len(base_runs)} run(s), new has {len(new_runs)}")
    for what, value in (("threshold", threshold), ("instruction threshold", instruction_threshold)):
        if not (value >= 0 and math.isfinite(value)):
            raise CompareError(f"{what} must be a finite fraction >= 0, got {value!r}")
    if not (0 < confidence < 1):
        raise CompareError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    old, cur = _index(base_runs), _index(new_runs)
    spreads = between_run_spread(repeats)
    verdicts = []
    per_sample_names = []
    for key, new in cur.items():
        if key not in old:
            continue
        base, new = as_judged(old[key], new)
        if new.per_sample:
            per_sample_names.append(new.entries[-1].name)
        group = new.entries[-1].group
        declared = new.entries[-1].declared
        basis, spread = TIME, None
        if declared is not None and declared.trust not in RETIMED:  # accuracy, FLOPs, memory: time is a side figure
            time_verdict, ratio = f"not judged ({declared.trust} row: its time is a side figure)", None
        else:
            basis = basis_of(base, new)
            spread = spreads.get(pool_key(new.entries[-1], basis))
            judge = judge_time if basis == TIME else partial(judge_figure, basis=basis)
            time_verdict, ratio = judge(base, new, threshold=threshold, confidence=confidence, spread=spread)
        top1, accuracy = _judge_top1(base, new, confidence) if group.startswith(ACCURACY_GROUPS) else (None, None)
        counted, count_ratio = _judge_instructions(base, new, instruction_threshold)
        verdicts.append(Verdict(new.entries[-1].name, group, base, new, ratio, time_verdict, top1, accuracy,
                                counted, count_ratio, basis, spread))
    verdicts.sort(key=lambda v: (v.group, v.name))
    only_base = sorted(side.entries[-1].name for k, side in old.items() if k not in cur)
    only_new = sorted(side.entries[-1].name for k, side in cur.items() if k not in old)
    notes = _machine_notes(base_runs, new_runs)
    if per_sample_names:
        notes.append("compared per sample (time / batch size), their runs having used different batch sizes: "
                     + ", ".join(per_sample_names))
    harness = [v.name for v in verdicts if v.group.startswith("scenario") and _by_loadgen(v.base) != _by_loadgen(v.new)]
    if harness:
        notes.append("timed by the hand-written scenarios on one side and by MLPerf's LoadGen on the other: "
                     + ", ".join(harness) + ". The samples mean the same on both sides (single-stream: one-sample "
                     "query latencies, LoadGen's counting a few microseconds of its own dispatch; offline: batch-call "
                     "times), but offline throughput is LoadGen's over its whole query, not batch / median")
    if any(v.base.threads != v.new.threads for v in verdicts):
        notes.append("the sides ran at different thread counts: the machine-state gate (reference probe) is skipped "
                     "for those benchmarks, whose verdicts rest on their samples alone")
    notes += _spread_notes(verdicts, spreads, len(base_runs) == 1 or len(new_runs) == 1)
    if any(v.time == NO_SAMPLES for v in verdicts):
        notes.append("some histories hold no raw samples (run the bench with --benchmark-save-data): those "
                     "benchmarks are compared by their medians only, with no significance")
    return Comparison(tuple(base_runs), tuple(new_runs), verdicts, only_base, only_new, threshold, confidence, notes,
                      instruction_threshold)


def _spread_notes(verdicts: list[Verdict], spreads: dict, one_run_a_side: bool) -> list[str]:
    """What the between-run spreads did to the verdicts, or that none was measured."""
    used = {pool_key(v.new.entries[-1], v.basis): v.spread for v in verdicts if v.spread is not None}
    side = sum(v.basis.startswith("side by side") for v in verdicts)
    notes = []
    if side:
        notes.append(f"{side} row(s) timed side by side against a reference are judged on that ratio: both "
                     "contenders ran in the same machine state, so no machine-state gate applies to them")
    if used:
        notes.append("intervals widened to at least the spread between runs of one commit found beside the sides: "
                     + "; ".join(f"{section} ({kind}) {s.describe()}" for (section, kind), s in sorted(used.items())))
    elif one_run_a_side:
        notes.append("one run on a side, and no repeated runs of one commit beside the sides: each interval holds "
                     "the noise within one run only, not the 10-20% a figure moves between runs of the same code "
                     "on a shared machine; run the bench twice on one commit (or give each side several runs) "
                     "for verdicts that hold across runs")
    return notes


def sides_to_compare(base: str, new: str | None = None,
                     last: int | None = None) -> tuple[list[Run], list[Run], list[Run]]:
    """The runs of each side, oldest first, and the runs beside them that measure the between-run spread.

    Two paths (each a history file or a storage folder): the newest ``last`` runs of each (every run when
    None).  One storage folder alone: its newest run against the ``last`` runs before it (1 when None).  A run
    on both sides (the same file or folder twice, or a file inside the other side's folder) is refused: it
    would read as "no significant change" and mean nothing.  The third list is every run read except the new
    side's: the repeats of one commit among them are what :func:`compare_runs` measures the spread from.
    """
    if new is None:
        runs = sorted(load_runs([base]), key=lambda r: r.datetime)
        if len(runs) < 2:
            raise CompareError(f"{base}: holds {len(runs)} run; compared alone, a storage folder needs two (its "
                               "newest against the one before): run the bench again, or give BASE and NEW")
        return runs[-1 - (last or 1):-1], runs[-1:], runs[:-1]
    read = [sorted(load_runs([path]), key=lambda r: r.datetime) for path in (base, new)]
    sides = [runs[-last:] if last else runs for runs in read]
    shared = sorted({r.path.resolve() for r in sides[0]} & {r.path.resolve() for r in sides[1]})
    if shared:
        raise CompareError(f"{base} and {new} both hold {', '.join(p.name for p in shared)}: a run compared with "
                           "itself shows no change; give two different histories, or one storage folder alone "
                           "to compare its newest run with the one before")
    beside = [r for r in read[0] + read[1] if r.path.resolve() not in {n.path.resolve() for n in sides[1]}]
    return sides[0], sides[1], beside


def exit_status(comparison: Comparison) -> int:
    """1 when any benchmark regressed significantly beyond its bound (time or accuracy), else 0."""
    return 1 if comparison.regressions else 0


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.4g}"


def ratio_text(ratio: Ratio) -> str:
    """``x1.32 [1.28, 1.36]``: a ratio of medians and its interval."""
    return f"x{ratio.ratio:.3f} [{ratio.low:.3f}, {ratio.high:.3f}]"


def describe_time(v: Verdict) -> str:
    """``x1.32 [1.28, 1.36]`` (ratio of medians and its interval), or the median ratio alone."""
    if v.ratio is not None:
        return ratio_text(v.ratio)
    return f"x{v.median_ratio:.3f}"


def side_text(side: Side) -> str:
    """``1.234`` (one run) or ``1.234 (1.2-1.3, 3 runs)`` in ms."""
    if len(side.entries) == 1:
        return _ms(side.median)
    low, high = side.spread
    return f"{_ms(side.median)} ({_ms(low)}-{_ms(high)}, {len(side.entries)} runs)"


def format_comparison(c: Comparison) -> str:
    """The text ``lenet compare`` prints: one line per benchmark, then what was only on one side."""
    rows = [("benchmark", "base ms", "new ms", f"new/base [{c.confidence:.0%} CI]", "time", "top-1 change")]
    for v in c.verdicts:
        acc = "-"
        if v.top1 is not None:
            acc = f"{v.top1.points:+.2f} pts (SE {v.top1.stderr_points:.2f}, {v.top1.basis}): {v.accuracy}"
        elif v.accuracy:
            acc = v.accuracy
        time_text = v.time + (" ⚠" if v.time == REGRESSION else "") + v.basis_note
        if v.time == UNSTABLE:
            time_text += ": " + "; ".join(dict.fromkeys(v.base.unstable_reasons + v.new.unstable_reasons))
        elif v.time == MACHINE_DIFFERS:
            time_text += f": probe {v.base.probe_s * 1e3:.3g} -> {v.new.probe_s * 1e3:.3g} ms"
        rows.append((v.name, side_text(v.base), side_text(v.new), describe_time(v), time_text, acc))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:5], widths)) + "  " + r[5] for r in rows]
    files = lambda runs: ", ".join("+".join(p.name for p in r.files) for r in runs)  # noqa: E731 (shards: a+b+c)
    head = [f"base: {len(c.base_runs)} run(s) ({files(c.base_runs)})",
            f"new:  {len(c.new_runs)} run(s) ({files(c.new_runs)})",
            f"rule: a time change counts when the {c.confidence:.0%} interval of new/base excludes 1 and the ratio "
            f"is beyond ±{c.threshold:.0%}; top-1 when the change exceeds {z_critical(c.confidence):.2f} binomial "
            f"standard errors, or, where both sides hold several seeds and their spread is the wider bound, the "
            f"Welch t bound of the seed means", ""]
    tail = [""]
    for what, names in (("only in base", c.only_base), ("only in new", c.only_new)):
        if names:
            tail.append(f"{what}: {', '.join(names)}")
    tail += format_instructions(c)
    tail += [f"note: {n}" for n in c.notes]
    regressions = c.regressions
    tail.append(f"{len(c.verdicts)} compared, {len(regressions)} regression(s)"
                + (": " + ", ".join(v.name for v in regressions) if regressions else ""))
    return "\n".join(head + lines + tail)


def format_instructions(c: Comparison) -> list[str]:
    """The instruction-count lines of :func:`format_comparison`: one per benchmark counted on both sides."""
    counted = [v for v in c.verdicts if v.instructions is not None]
    if not counted:
        return []
    lines = [f"instructions per call (cachegrind; a change counts beyond ±{c.instruction_threshold:.0%}, no "
             "resampling: the counts are deterministic):"]
    for v in counted:
        base, new = (float(np.median([r["instructions"] for r in side.counts])) for side in (v.base, v.new))
        text = v.instructions + (" ⚠" if v.instructions == REGRESSION else "")
        lines.append(f"  {v.name}  {base:,.0f} -> {new:,.0f}  x{v.instruction_ratio:.4f}  {text}"
                     + ("  (time and instructions disagree)" if v.disagrees else ""))
    return lines + [""]
