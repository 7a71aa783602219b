"""Comparing two runs: median-time change in percent and accuracy change in points, per matching benchmark.

Benchmarks match by fullname and params.  A change beyond the thresholds is
flagged: "⚠ slower +32.0%" (time) and "⚠ top-1 -1.50 pts" (accuracy);
improvements beyond them are named without the warning sign.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..history import Run
from .markdown import Column, Table, fraction, sig, signed_pct, signed_points, text
from .records import ReportError, benchmark_key, section_of

# Sections whose benchmarks are about accuracy: only their top-1 change is judged (every benchmark carries
# the trained model's accuracy, which would otherwise be flagged once per timing).
ACCURACY_SECTIONS = ("accuracy", "compression", "mlp-sweep")
ACCURACY_FIELDS = ("test_top1", "top1")


class CompareError(ReportError):
    """The runs given cannot be compared (not exactly two)."""


@dataclass(frozen=True)
class Delta:
    name: str
    group: str
    base_s: float
    new_s: float
    base_top1: float | None
    new_top1: float | None
    flags: tuple

    @property
    def time_pct(self) -> float:
        return (self.new_s - self.base_s) / self.base_s * 100 if self.base_s else float("nan")

    @property
    def top1_points(self) -> float | None:
        if self.base_top1 is None or self.new_top1 is None:
            return None
        return (self.new_top1 - self.base_top1) * 100

    @property
    def flagged(self) -> bool:
        return any(f.startswith("⚠") for f in self.flags)


def pick_pair(runs_per_argument: list[list[Run]]) -> tuple[Run, Run]:
    """(base, new): one argument gives its two newest runs; two arguments give the newest run of each."""
    if len(runs_per_argument) == 1 and len(runs_per_argument[0]) >= 2:
        base, new = sorted(runs_per_argument[0], key=lambda r: r.datetime)[-2:]
        return base, new
    if len(runs_per_argument) == 2:
        return tuple(max(runs, key=lambda r: r.datetime) for runs in runs_per_argument)
    found = sum(map(len, runs_per_argument))
    raise CompareError(f"--compare needs exactly two runs: one storage folder holding at least two, or two "
                       f"histories (got {len(runs_per_argument)} argument(s) holding {found} run(s))")


def _top1(b: dict):
    e = b.get("extra_info") or {}
    if section_of(b.get("group")) not in ACCURACY_SECTIONS:
        return None
    return next((e[k] for k in ACCURACY_FIELDS if e.get(k) is not None), None)


def deltas(base: Run, new: Run, threshold_time: float = 10.0, threshold_acc: float = 1.0):
    """Deltas for benchmarks in both runs, plus the names only in base and only in new."""
    old = {benchmark_key(b.get("fullname") or b["name"], b.get("params")): b for b in base.benchmarks}
    cur = {benchmark_key(b.get("fullname") or b["name"], b.get("params")): b for b in new.benchmarks}
    out = []
    for key, b in cur.items():
        if key not in old:
            continue
        a = old[key]
        d = Delta(b["name"], b.get("group") or "", a["stats"]["median"], b["stats"]["median"], _top1(a), _top1(b),
                  ())
        flags = []
        if d.time_pct == d.time_pct and abs(d.time_pct) > threshold_time:
            flags.append(f"⚠ slower {d.time_pct:+.1f}%" if d.time_pct > 0 else f"faster {d.time_pct:+.1f}%")
        if d.top1_points is not None and abs(d.top1_points) > threshold_acc:
            flags.append(f"⚠ top-1 {d.top1_points:+.2f} pts" if d.top1_points < 0 else
                         f"top-1 {d.top1_points:+.2f} pts")
        out.append(replace(d, flags=tuple(flags)))
    out.sort(key=lambda d: (d.group, d.name))
    only_base = sorted(b["name"] for k, b in old.items() if k not in cur)
    only_new = sorted(b["name"] for k, b in cur.items() if k not in old)
    return out, only_base, only_new


def deltas_table(rows: list[Delta]) -> Table:
    return Table([
        Column("benchmark", lambda d: f"`{d.name}`", text, left=True),
        Column("group", lambda d: d.group, text, left=True),
        Column("base ms (median)", lambda d: d.base_s * 1e3, sig),
        Column("new ms (median)", lambda d: d.new_s * 1e3, sig),
        Column("time change %", lambda d: d.time_pct, signed_pct),
        Column("base test top-1", lambda d: d.base_top1, fraction, optional=True),
        Column("new test top-1", lambda d: d.new_top1, fraction, optional=True),
        Column("top-1 change (points)", lambda d: d.top1_points, signed_points, optional=True),
        Column("flag", lambda d: ", ".join(d.flags) or None, text, left=True),
    ], rows)
