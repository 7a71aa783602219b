"""How many timing rows each trust rule flags, at its bound and at others: the table the bounds are chosen from.

    python -m lenet.measure.calibrate quiet=.benchmarks/quiet hog=.benchmarks/hog

Each ``NAME=HISTORY`` is a label and a history file or storage folder (every run in it).  For every timing row
(:data:`lenet.schema.TIME` groups) the measure each rule of :func:`lenet.measure.noise.judge` compares with its
bound is recomputed from the row's ``extra_info`` (``noise`` and ``timing``), and the table gives, per rule and
candidate bound, how many rows of each label it would flag.  A good bound flags almost nothing on quiet runs and
catches the rows timed under a hog; ``docs/noise-calibration.md`` holds the measured table and the choice.
"""
from __future__ import annotations

import argparse
import math
import sys

from ..io.history import HistoryError, load_runs
from ..schema import TIME
from . import noise

# rule -> (what it measures from a row, the bound in force, candidate bounds)
RULES = {
    "probe change while timed": (lambda n, t: abs(n.get("probe_change", _change(n))), noise.PROBE_CHANGE_MAX,
                                 (0.10, 0.15, 0.25, 0.50)),
    "probe drift from session start": (lambda n, t: abs(n.get("probe_drift", 0.0)), noise.PROBE_DRIFT_MAX,
                                       (0.25, 0.50, 1.00)),
    "load above cores": (lambda n, t: max(n["load1_before"], n["load1_after"]) - n["cores"], noise.LOAD_EXCESS_MAX,
                         (0.5, 1.0, 2.0)),
    "steal": (lambda n, t: n.get("steal_fraction") or 0.0, noise.STEAL_MAX, (0.02, 0.05, 0.10)),
    "others' CPU beyond free cores": (
        lambda n, t: (n.get("others_cpu_cores") or 0.0) - max(0, n["cores"] - n["threads"]), noise.OTHERS_CPU_MAX,
        (0.10, 0.25, 0.50)),
    "IQR / median": (lambda n, t: t.get("iqr_over_median") or 0.0, noise.IQR_OVER_MEDIAN_MAX, (0.25, 0.5, 1.0)),
    "median CI width / median": (lambda n, t: t.get("median_ci_rel_width") or 0.0, noise.CI_REL_WIDTH_MAX,
                                 (0.05, 0.10, 0.20)),
}


def _change(n: dict) -> float:
    before, after = n.get("probe_before_s"), n.get("probe_after_s")
    return after / before - 1 if before and after else 0.0


def timing_rows(paths) -> list[dict]:
    """``extra_info`` of every timing row in the histories (the kept attempt of a re-timed one)."""
    rows = []
    for run in load_runs(paths):
        for entry in run.entries:
            e = entry.extra
            if entry.declared is not None and entry.declared.trust == TIME and e.get("noise") and e.get("timing"):
                rows.append(e)
    return rows


def table(labelled: dict[str, list[dict]]) -> list[tuple]:
    """``(rule, bound, in force?, {label: (flagged, rows)})`` for every rule and candidate bound."""
    out = []
    for rule, (measure, current, candidates) in RULES.items():
        for bound in sorted(set(candidates) | {current}):
            counts = {}
            for label, rows in labelled.items():
                values = [measure(e["noise"], e["timing"]) for e in rows]
                counts[label] = (sum(1 for v in values if math.isfinite(v) and v > bound), len(values))
            out.append((rule, bound, bound == current, counts))
    return out


def format_table(rows: list[tuple], labels: list[str]) -> str:
    head = "| rule | bound | " + " | ".join(f"{label}: rows flagged" for label in labels) + " |"
    lines = [head, "|" + "---|" * (2 + len(labels))]
    for rule, bound, current, counts in rows:
        cells = [f"{f} of {n} ({f / n:.0%})" if n else "-" for f, n in (counts[label] for label in labels)]
        lines.append(f"| {rule} | {bound:g}{' (in force)' if current else ''} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m lenet.measure.calibrate", description=__doc__.split("\n\n")[0])
    p.add_argument("histories", nargs="+", metavar="NAME=HISTORY", help="a label and a history file or folder")
    args = p.parse_args(argv)
    labelled = {}
    try:
        for item in args.histories:
            label, sep, path = item.partition("=")
            if not sep or not label or not path:
                p.error(f"{item!r}: expected NAME=HISTORY, e.g. quiet=.benchmarks/quiet")
            labelled[label] = timing_rows([path])
    except HistoryError as e:
        print(f"calibrate: error: {e}", file=sys.stderr)
        return 2
    print(format_table(table(labelled), list(labelled)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
