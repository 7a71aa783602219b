"""The report's comparison section: which two runs, and the table of :mod:`lenet.study.compare`'s verdicts.

``lenet report --compare`` judges exactly as ``lenet compare`` does (raw samples, significance and a
threshold, unstable rows inconclusive, top-1 against its binomial standard error); this module only picks
the two runs and renders the verdicts.
"""
from __future__ import annotations

from ..io.history import Run
from ..study.compare import Verdict, describe_time, side_text
from .errors import ReportError
from .markdown import Column, Table, code, fraction, text


class CompareError(ReportError):
    """The runs given cannot be compared (not exactly two)."""


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


def _points(v: Verdict):
    return f"{v.top1.points:+.2f} ± {v.top1.stderr_points:.2f}" if v.top1 is not None else None


def verdicts_table(rows: list[Verdict]) -> Table:
    return Table([
        Column("benchmark", lambda v: v.name, code, left=True),
        Column("group", lambda v: v.group, text, left=True),
        Column("base ms (median)", lambda v: side_text(v.base), text),
        Column("new ms (median)", lambda v: side_text(v.new), text),
        Column("new/base [95% CI]", describe_time, text),
        Column("time verdict", lambda v: v.time, text, left=True),
        Column("judged on", lambda v: v.basis, text, left=True),
        Column("base test top-1", lambda v: v.top1.base if v.top1 else None, fraction, optional=True),
        Column("new test top-1", lambda v: v.top1.new if v.top1 else None, fraction, optional=True),
        Column("top-1 change (points ± SE)", _points, text, optional=True),
        Column("instructions new/base", lambda v: v.instruction_ratio, lambda x: f"{x:.4f}×", optional=True),
        Column("instructions verdict", lambda v: v.instructions, text, left=True, optional=True),
        Column("flag", lambda v: ", ".join(v.flags) or None, text, left=True),
    ], rows)
