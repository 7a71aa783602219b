"""Watching every benchmark of a session: the machine's state around its timed region, its statistics, its flag.

``bench/conftest.py`` reads the machine (:mod:`lenet.measure.noise`) right before and right after the body of every
test that uses pytest-benchmark's ``benchmark`` fixture (its ``pytest_runtest_call`` hook: fixtures, and so
model training, are outside that window; the body is the warm-up and the timed call), then
:meth:`SessionMonitor.judge` writes into ``extra_info``:

* ``timing``: p50/p90/p99 per call, the median's 95% interval and the tail bound
  (:func:`lenet.measure.stats.summarize`);
* ``noise``: load, steal, other processes' CPU and the reference probe before and after;
* ``unstable`` (bool) and ``unstable_reasons`` (each naming the bound it broke), by the rule the benchmark's
  group declares (:mod:`lenet.schema`).

:class:`SessionMonitor` keeps what is shared by the session: the reference probe's first reading, the measured
ceiling (:mod:`lenet.measure.ceiling`) and the flagged benchmarks for the end-of-session warning.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..schema import DETERMINISTIC, MEMORY, QUEUED, TIME, group_of
from . import noise
from .stats import summarize

PROBE_REFERENCE_READINGS = 3


@dataclass
class SessionMonitor:
    threads: int
    probe_ref_s: float | None = None
    probe_ref_readings: tuple = ()
    ceiling: dict | None = None
    flagged: list = field(default_factory=list)  # (benchmark name, [reasons])
    judged: int = 0

    def start(self) -> None:
        """First readings of the session (before the first timed region): the probe reference and the ceiling."""
        if self.ceiling is None:  # first: it also wakes BLAS's threads and the CPU's clock for the probe
            from .ceiling import measure_ceiling

            self.ceiling = measure_ceiling()
        if self.probe_ref_s is None:
            self.probe_ref_readings = tuple(noise.reference_probe() for _ in range(PROBE_REFERENCE_READINGS))
            self.probe_ref_s = float(np.median(self.probe_ref_readings))

    @property
    def reference_disturbed(self) -> bool:
        """The session's first probe readings disagree beyond the drift bound: its reference is itself suspect."""
        r = self.probe_ref_readings
        return bool(r) and max(r) / min(r) - 1 > noise.PROBE_DRIFT_MAX

    def read(self) -> noise.State:
        """A reading of the machine, taken after the session's first readings."""
        self.start()
        return noise.read_state()

    def judge(self, fixture, before: noise.State, after: noise.State) -> list[str]:
        """Write ``timing``, ``noise``, the trust rule applied and the flag into a pytest-benchmark fixture's
        ``extra_info``.

        The rule is the fixture's group's (:mod:`lenet.schema`): a timing by the machine's state and its
        spread, a memory figure by its spread over repeats, a deterministic figure never.  Returns the
        reasons (empty when trusted); a fixture that timed nothing is left alone.
        """
        meta = fixture.stats
        if meta is None or not meta.stats.data:
            return []
        summary = summarize(meta.stats.data, what=fixture.name)
        cond = noise.conditions(before, after, self.probe_ref_s, self.threads)
        group = group_of(fixture.group)
        rule = group.trust if group else TIME
        reasons = {TIME: lambda: noise.judge(cond, summary), QUEUED: lambda: noise.judge(cond, None),
                   MEMORY: lambda: noise.judge_memory(fixture.extra_info), DETERMINISTIC: list}[rule]()
        e = fixture.extra_info
        e.update({"timing": summary.as_dict(), "noise": cond.as_dict(), "trust_rule": rule, "unstable": bool(reasons),
                  "unstable_reasons": reasons})
        self.judged += 1
        if reasons:
            self.flagged.append((fixture.name, reasons))
        return reasons

    def settle(self, name: str, reasons: list[str], attempts: int) -> None:
        """A benchmark timed ``attempts`` times counts once, flagged with the kept attempt's ``reasons``."""
        self.flagged = [(n, r) for n, r in self.flagged if n != name] + ([(name, reasons)] if reasons else [])
        self.judged -= attempts - 1

    def readings(self) -> dict:
        """What the session measured of the machine: the GEMM ceiling, the probe reference, the bounds in force."""
        self.start()
        return {"ceiling": self.ceiling, "probe_reference_s": self.probe_ref_s,
                "probe_reference_readings_s": list(self.probe_ref_readings), "noise_bounds": noise.BOUNDS}

    def warning_lines(self) -> list[str]:
        lines = []
        if self.reference_disturbed:
            lines.append("WARNING: the session's first reference-probe readings disagree ("
                         + ", ".join(f"{v * 1e3:.2f}" for v in self.probe_ref_readings)
                         + " ms): the machine was already disturbed when the session started, so probe drifts are "
                           "measured from an unreliable reference.")
        if not self.flagged:
            return lines
        lines += [f"WARNING: {len(self.flagged)} of {self.judged} benchmark(s) were measured on a disturbed machine "
                 f"or are too noisy to trust (extra_info 'unstable'):"]
        lines += [f"  {name}: {'; '.join(reasons)}" for name, reasons in self.flagged]
        lines.append(f"Do not quote these figures: {noise.ADVICE}.")
        return lines
