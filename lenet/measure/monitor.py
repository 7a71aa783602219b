"""Watching every benchmark of a session: the machine's state around its timed region, its statistics, its flag.

``bench/conftest.py`` reads the machine (:mod:`lenet.measure.noise`) right before and right after the body of every
test that uses pytest-benchmark's ``benchmark`` fixture (its ``pytest_runtest_call`` hook: fixtures, and so
model training, are outside that window; the body is the warm-up and the timed call), then
:meth:`SessionMonitor.judge` writes into ``extra_info``:

* ``timing``: p50/p90/p99 per call, the median's 95% interval and the tail bound
  (:func:`lenet.measure.stats.summarize`);
* ``noise``: load, steal, other processes' CPU and the reference probe before and after;
* ``unstable`` (bool) and ``unstable_reasons`` (each naming the bound it broke); the spread rules are left out
  for samples that include queueing (``extra_info["queueing"]``).

:class:`SessionMonitor` keeps what is shared by the session: the reference probe's first reading, the measured
ceiling (:mod:`lenet.measure.ceiling`) and the flagged benchmarks for the end-of-session warning.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import noise
from .stats import summarize
from .threads import usable_cores

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
        """Write ``timing``, ``noise`` and the flag into a pytest-benchmark fixture's ``extra_info``.

        Returns the reasons (empty when trusted); a fixture that timed nothing is left alone.
        """
        meta = fixture.stats
        if meta is None or not meta.stats.data:
            return []
        summary = summarize(meta.stats.data, what=fixture.name)
        cond = noise.conditions(before, after, self.probe_ref_s, self.threads)
        # latencies that include queueing behind random arrivals (``extra_info["queueing"]``, LoadGen's server
        # scenario) are spread by the scenario itself: the spread rules would flag every one of them
        reasons = noise.judge(cond, None if fixture.extra_info.get("queueing") else summary)
        e = fixture.extra_info
        e.update({"timing": summary.as_dict(), "noise": cond.as_dict(), "unstable": bool(reasons),
                  "unstable_reasons": reasons})
        self.judged += 1
        if reasons:
            self.flagged.append((fixture.name, reasons))
        return reasons

    def machine_info(self) -> dict:
        self.start()
        return {"ceiling": self.ceiling, "probe_reference_s": self.probe_ref_s,
                "probe_reference_readings_s": list(self.probe_ref_readings), "noise_bounds": noise.BOUNDS,
                "usable_cores": usable_cores()}

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
