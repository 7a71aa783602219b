"""What a benchmark is judged on between runs, and how far that figure moves between runs of one commit.

Two facts measured on the shared 2-core VM (docs/noise-calibration.md) shape how ``lenet compare`` judges:

* **A row timed side by side is judged on its ratio.**  A row that records ``extra_info["ratio"]`` (this row
  against a named reference, in interleaved rounds on the same input and weights) is judged between runs on
  that ratio, not on its absolute time: both contenders ran in the same machine state, so a host that moved the
  VM's cores between the runs moves both.  A server-scenario row is judged on its peak rate under the latency
  bound (MLPerf's own server metric), not on the queueing latency measured at whatever rate its search found.
* **One run a side holds only that run's noise.**  The same commit run twice moves a framework's figure by
  10-20% with the probe unchanged (the process's placement, its allocator, its thread pool), which no interval
  taken inside one run can see.  :func:`between_run_spread` measures that movement from runs of one commit
  found in the histories given (Kalibera and Jones, "Rigorous benchmarking in reasonable time", 2013: the
  variance between executions must be measured at the execution level), pooled over the rows of each section
  and basis; ``lenet compare`` widens a change's interval to at least that spread.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..entry import Entry
from ..io.history import Run
from ..measure.stats import z_critical
from ..schema import RETIMED

TIME = "time"  # the basis of a row judged on its own time
PEAK_RATE = "peak rate under the latency bound"
MIN_DOF = 3  # deviations pooled before a spread is used: fewer say nothing about a section


def side_by_side(reference: str) -> str:
    """The basis of a row judged on its ratio to ``reference``."""
    return f"side by side against {reference}"


@dataclass(frozen=True)
class Figure:
    """What one run's row is judged on: ``log_value`` grows as the row gets slower; ``log_se`` is its
    standard error on the log scale, from the run's own interval (or bracket)."""

    basis: str
    log_value: float
    log_se: float


def judged_figure(entry: Entry) -> Figure | None:
    """The figure ``entry`` is judged on when it is not its time: its side-by-side ratio, or a server row's
    peak rate; None for a row judged on its time."""
    ratio = entry.extra.get("ratio")
    if isinstance(ratio, dict):  # checked by lenet.io.history_checks: positive, low <= median <= high
        z = z_critical(float(ratio.get("confidence", 0.95)))
        se = (math.log(ratio["high"]) - math.log(ratio["low"])) / (2 * z)
        return Figure(side_by_side(ratio["reference"]), -math.log(ratio["median"]), se)
    peak, failing = entry.extra.get("peak_qps"), entry.extra.get("peak_qps_below")
    if isinstance(peak, int | float) and peak > 0:
        # The search brackets the peak between the highest rate that met the bound and the lowest that did
        # not: a uniform spread over that bracket (sd = width / sqrt(12)) on the log scale.
        width = math.log(failing / peak) if isinstance(failing, int | float) and failing > peak else 0.0
        return Figure(PEAK_RATE, -math.log(peak), width / math.sqrt(12))
    return None


def figure_of(entry: Entry, per_sample: bool = False) -> Figure:
    """:func:`judged_figure`, else the row's median time (per sample when ``per_sample``) with no se."""
    figure = judged_figure(entry)
    if figure is not None:
        return figure
    batch = entry.extra.get("batch_size")
    scale = batch if per_sample and isinstance(batch, int) and batch > 0 else 1
    return Figure(TIME, math.log(float(entry.median) / scale), 0.0)


def pool_key(entry: Entry, basis: str) -> tuple[str, str]:
    """Rows whose between-run spreads are pooled: one section (inference, graph, scenario server...) and one
    basis kind (time, side by side, peak rate).  Pooling per backend as well was tried on three quiet quick
    runs and called more false changes (8 against 2): with a few runs of a commit, a backend's few rows give
    too few repeats to measure its own spread (docs/noise-calibration.md)."""
    section = entry.declared.prefix if entry.declared is not None else entry.group
    return section, "side by side" if basis.startswith("side by side") else basis


@dataclass(frozen=True)
class Spread:
    """The pooled standard deviation of a figure's log between runs of one commit."""

    sigma: float  # on the log scale
    dof: int  # deviations pooled
    commits: int  # commits whose repeated runs fed it

    def describe(self) -> str:
        return f"±{math.expm1(self.sigma):.0%} run to run (sd over {self.dof} repeats, {self.commits} commit(s))"


def _repeat_groups(runs: Iterable[Run]) -> list[list[Run]]:
    """Runs of one clean commit on one node, in groups of two or more: what repeats the same code."""
    groups: dict = defaultdict(list)
    for run in runs:
        commit = run.commit.get("id")
        if commit and not run.commit.get("dirty"):
            groups[(run.machine.get("node"), commit)].append(run)
    return [g for g in groups.values() if len(g) >= 2]


def between_run_spread(runs: Iterable[Run]) -> dict[tuple[str, str], Spread]:
    """``{pool key: Spread}`` from the repeated runs of each commit among ``runs``.

    For each row present in two or more runs of one commit, the deviations of its judged figure (log scale)
    from their mean; pooled per :func:`pool_key` as ``sum(dev**2) / sum(n - 1)``.  A row whose basis differs
    between the runs (a ratio in one, none in the other) or whose batch size differs is left out.
    """
    squares: dict = defaultdict(float)
    dof: dict = defaultdict(int)
    commits: dict = defaultdict(set)
    for group in _repeat_groups(runs):
        by_key: dict = defaultdict(list)
        for run in group:
            for entry in run.entries:
                if entry.declared is not None and entry.declared.trust not in RETIMED:
                    continue  # accuracy, FLOPs, memory: not judged on time
                by_key[entry.key].append(entry)
        for entries in by_key.values():
            if len(entries) < 2 or len({e.extra.get("batch_size") for e in entries}) > 1:
                continue
            figures = [figure_of(e) for e in entries]
            if len({f.basis for f in figures}) > 1:
                continue
            values = np.array([f.log_value for f in figures])
            key = pool_key(entries[-1], figures[-1].basis)
            squares[key] += float(np.sum((values - values.mean()) ** 2))
            dof[key] += len(values) - 1
            commits[key].add(group[0].commit.get("id"))
    return {k: Spread(math.sqrt(squares[k] / dof[k]), dof[k], len(commits[k])) for k in dof if dof[k] >= MIN_DOF}
