"""Is this figure to be trusted?  The machine's state around each benchmark, and the rules that flag it.

On a shared 2-core box a loaded machine does not make timings a little noisier: it makes spinning thread
pools collapse (torch batch-1 latency went from 0.5 ms to 147 ms at load 5-8).  So around every benchmark the
harness records:

* the 1-minute **load average** (``os.getloadavg``) before and after;
* **stolen** CPU time (the ``steal`` column of ``/proc/stat``, where present: time the hypervisor gave to
  another guest) and the CPU time that **other processes** used while the benchmark ran (all CPU time from
  ``/proc/stat`` less this process's own, from ``psutil``), both as a fraction of the machine;
* a short fixed **reference probe**: a 384x384 float32 matrix product through NumPy's BLAS at the thread count
  in force, timed :data:`PROBE_REPEATS` times after a warm-up (median), and its drift from the session's first
  reading.  A busy or throttled machine shows up here within seconds, long before the load average moves.

:func:`judge` turns that, and the spread of the benchmark's own samples, into an ``unstable`` flag with the
reasons.  The bounds are module constants, listed in docs/trust.md and chosen in docs/noise-calibration.md.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

from .stats import Summary
from .threads import usable_cores

# The bounds a figure must stay within to be trusted.
# The reference probe changing between the readings right before and right after the figure: the machine changed
# state while it was taken.  A shared host moves the vCPUs between states for minutes at a time (the 2-thread
# probe reads about 0.64, 0.78 or 1.22 ms with nothing else running): a figure taken wholly within one state is a
# figure of that state (``noise.probe_state_s`` records it, and ``lenet compare`` calls a pair of figures from
# different states "machine state differs"), whereas one taken across a change mixes two machines.
# Bound chosen on the committed quiet histories (docs/noise-calibration.md): ±25% flagged 27% of the quiet full
# study's timing rows, ±50% 9%; a figure disturbed by a smaller change shows in its own spread (the rules below).
PROBE_CHANGE_MAX = 0.50
# The drift from the session's first reading is recorded (``noise.probe_drift``) and judges the session's
# reference itself (lenet.measure.monitor), and the sides of ``lenet compare``; it no longer flags a figure.
PROBE_DRIFT_MAX = 0.50
STEAL_MAX = 0.05  # more than 5% of the machine's CPU time stolen by the hypervisor
OTHERS_CPU_MAX = 0.25  # other processes used more than 0.25 of a core beyond the cores this run leaves free
# the 1-minute load average more than one task above the usable cores: a run that keeps every core busy loads
# the machine to about its core count by itself (its own threads, its fresh-process probes), so "above the
# cores" flagged most rows of a quiet full-profile run; what others use while a figure is taken is measured
# exactly by the OTHERS_CPU_MAX rule, and the load average, a lagging minute-long mean, is its coarse backstop
LOAD_EXCESS_MAX = 1.0
IQR_OVER_MEDIAN_MAX = 0.50  # interquartile range above half the median: bimodal, or disturbed in bursts
# The median's 95% interval wider than 20% of the median.  Rounds are planned for 10%
# (lenet.measure.timing.PRECISION_TARGET); on the committed quiet histories a 10% bound flagged 20% of the full
# study's timing rows, most of them its 7-epoch training rows, whose 95% interval is their whole range.
CI_REL_WIDTH_MAX = 0.20
MIN_SAMPLES_FOR_SPREAD = 6  # fewer samples: no interval, the spread rules do not apply (said so)

# A peak RSS whose repeats (fresh processes each) spread more than this around their median: something else
# (a lazy allocator, a page cache) decided it, not the model and the framework.
MEMORY_SPREAD_MAX = 0.05
# extra_info fields holding a memory figure's repeats (bench/test_memory.py)
MEMORY_REPEATS_FIELDS = ("infer_peak_rss_repeats_mib", "train_peak_rss_repeats_mib")

PROBE_N = 384
PROBE_WARMUP_S = 0.02  # products for this long first, untimed: idle vCPUs and sleeping BLAS threads wake
PROBE_REPEATS = 15


def _proc_stat() -> tuple[float, float, float] | None:
    """(busy, steal, total) CPU seconds of the whole machine from ``/proc/stat``, or None where absent."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:]]
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    ticks += [0] * (8 - len(ticks))
    user, nice, system, idle, iowait, irq, softirq, steal = ticks[:8]
    # guest time is already inside user/nice; busy excludes idle, iowait and steal
    busy = user + nice + system + irq + softirq
    return busy / hz, steal / hz, (busy + idle + iowait + steal) / hz


def _own_cpu_seconds() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)


_PROBE_BUFFERS: dict = {}


def reference_probe() -> float:
    """Median seconds of one fixed 384x384 float32 GEMM (BLAS at the thread count in force)."""
    if not _PROBE_BUFFERS:
        rng = np.random.default_rng(0)
        _PROBE_BUFFERS.update(a=rng.standard_normal((PROBE_N, PROBE_N), dtype=np.float32),
                              b=rng.standard_normal((PROBE_N, PROBE_N), dtype=np.float32),
                              out=np.empty((PROBE_N, PROBE_N), np.float32))
    a, b, out = _PROBE_BUFFERS["a"], _PROBE_BUFFERS["b"], _PROBE_BUFFERS["out"]
    warm_until = time.perf_counter() + PROBE_WARMUP_S
    while time.perf_counter() < warm_until:
        np.matmul(a, b, out=out)
    times = []
    for _ in range(PROBE_REPEATS):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


@dataclass(frozen=True)
class State:
    """One reading of the machine."""

    wall: float  # time.perf_counter()
    load1: float
    probe_s: float
    own_cpu_s: float
    proc: tuple | None  # (busy, steal, total) CPU seconds, or None without /proc/stat


def read_state(probe: bool = True) -> State:
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    probe_s = reference_probe() if probe else float("nan")
    return State(time.perf_counter(), load1, probe_s, _own_cpu_seconds(), _proc_stat())


@dataclass(frozen=True)
class Conditions:
    """The machine around one benchmark: what :func:`judge` reads and ``extra_info['noise']`` records."""

    cores: int
    threads: int
    load1_before: float
    load1_after: float
    probe_ref_s: float  # the session's first reading
    probe_before_s: float
    probe_after_s: float
    steal_fraction: float | None
    others_cpu_cores: float | None  # CPU used by other processes while the benchmark ran, in cores
    seconds: float

    @property
    def probe_change(self) -> float:
        """After relative to before (+0.3: the probe read 30% slower after the figure than before it)."""
        ok = self.probe_before_s > 0 and self.probe_after_s == self.probe_after_s
        return self.probe_after_s / self.probe_before_s - 1 if ok else 0.0

    @property
    def probe_state_s(self) -> float | None:
        """The machine's state the figure was taken in: the geometric mean of the probe before and after."""
        values = (self.probe_before_s, self.probe_after_s)
        return math.sqrt(values[0] * values[1]) if all(v > 0 for v in values) else None

    @property
    def probe_drift(self) -> float:
        """The worse of before/after, relative to the session's first reading (+0.3: 30% slower)."""
        drifts = [p / self.probe_ref_s - 1 for p in (self.probe_before_s, self.probe_after_s)
                  if self.probe_ref_s > 0 and p == p]
        return max(drifts, key=abs) if drifts else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "probe_drift": self.probe_drift, "probe_change": self.probe_change,
                "probe_state_s": self.probe_state_s}


def conditions(before: State, after: State, probe_ref_s: float, threads: int) -> Conditions:
    seconds = max(after.wall - before.wall, 1e-9)
    steal = others = None
    if before.proc and after.proc:
        busy = after.proc[0] - before.proc[0]
        total = after.proc[2] - before.proc[2]
        if total > 0:
            steal = (after.proc[1] - before.proc[1]) / total
        own = after.own_cpu_s - before.own_cpu_s
        others = max(0.0, (busy - own) / seconds)
    return Conditions(usable_cores(), threads, before.load1, after.load1, probe_ref_s, before.probe_s,
                      after.probe_s, steal, others, seconds)


def judge(cond: Conditions | None, summary: Summary | None) -> list[str]:
    """The reasons this figure is not to be trusted (empty: trusted), each naming the bound it broke."""
    reasons = []
    if cond is not None:
        change = cond.probe_change
        if abs(change) > PROBE_CHANGE_MAX:
            reasons.append(f"the machine changed state while it ran: reference probe {change:+.0%} from before to "
                           f"after (bound ±{PROBE_CHANGE_MAX:.0%})")
        load = max(v for v in (cond.load1_before, cond.load1_after))
        if load > cond.cores + LOAD_EXCESS_MAX:
            reasons.append(f"load average {load:.2f} above the {cond.cores} usable cores + {LOAD_EXCESS_MAX:g}")
        if cond.steal_fraction is not None and cond.steal_fraction > STEAL_MAX:
            reasons.append(f"{cond.steal_fraction:.0%} of CPU time stolen (bound {STEAL_MAX:.0%})")
        free = max(0, cond.cores - cond.threads)
        if cond.others_cpu_cores is not None and cond.others_cpu_cores > free + OTHERS_CPU_MAX:
            reasons.append(f"other processes used {cond.others_cpu_cores:.2f} cores while it ran "
                           f"({cond.threads} thread(s) on {cond.cores} cores leave {free} free; "
                           f"bound {free + OTHERS_CPU_MAX:.2f})")
    if summary is not None and summary.n >= MIN_SAMPLES_FOR_SPREAD:
        if summary.iqr_over_median > IQR_OVER_MEDIAN_MAX:
            reasons.append(f"spread IQR/median {summary.iqr_over_median:.2f} (bound {IQR_OVER_MEDIAN_MAX})")
        width = summary.ci_rel_width
        if width is not None and width > CI_REL_WIDTH_MAX:
            reasons.append(f"median's 95% interval is {width:.0%} of the median wide (bound {CI_REL_WIDTH_MAX:.0%})")
    return reasons


def rejudge(extra: dict) -> list[str] | None:
    """A timing row's reasons under today's rules, from the readings its history kept (``noise``, ``timing``);
    None when it kept too little to judge (then its recorded flag stands)."""
    n, t = extra.get("noise"), extra.get("timing")
    if not isinstance(n, dict) or not isinstance(t, dict):
        return None
    try:
        cond = Conditions(**{f: n[f] for f in Conditions.__dataclass_fields__})
        ci = t.get("median_ci95_s")
        summary = Summary(int(t["n"]), float(t["p50_s"]), float(t["p90_s"]), float(t["p99_s"]), float(t["iqr_s"]),
                          tuple(ci) if ci else None, t.get("p90_upper99_s"))
    except (KeyError, TypeError, ValueError):
        return None
    return judge(cond, summary)


def judge_memory(extra: dict) -> list[str]:
    """The reasons a memory row is not to be trusted: a peak RSS whose repeats spread beyond
    :data:`MEMORY_SPREAD_MAX` of their median.  CPU load is no reason: it does not change what a forward
    pass or a training epoch allocates.  Fewer than two repeats cannot be judged and are not flagged."""
    reasons = []
    for key in MEMORY_REPEATS_FIELDS:
        values = [v for v in extra.get(key) or () if v is not None]
        if len(values) >= 2:
            median = float(np.median(values))
            spread = (max(values) - min(values)) / median if median > 0 else math.inf
            if spread > MEMORY_SPREAD_MAX:
                reasons.append(f"{key.removesuffix('_repeats_mib')} spread {spread:.1%} over {len(values)} "
                               f"fresh processes (bound {MEMORY_SPREAD_MAX:.0%})")
    return reasons


BOUNDS = {
    "probe_change_max": PROBE_CHANGE_MAX, "probe_drift_max": PROBE_DRIFT_MAX, "steal_max": STEAL_MAX,
    "others_cpu_max_cores": OTHERS_CPU_MAX,
    "load_max": f"usable cores + {LOAD_EXCESS_MAX:g}", "iqr_over_median_max": IQR_OVER_MEDIAN_MAX,
    "ci_rel_width_max": CI_REL_WIDTH_MAX, "min_samples_for_spread": MIN_SAMPLES_FOR_SPREAD,
    "memory_spread_max": MEMORY_SPREAD_MAX,
}


ADVICE = ("rerun on a quiet machine (stop other jobs; check `uptime`), or with --threads 1, which leaves a core "
          "free and keeps spinning thread pools out of each other's way")
