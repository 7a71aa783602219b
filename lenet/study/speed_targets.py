"""The handcrafted backend's speed targets, checked from benchmark output (never asserted in tests).

Targets (issue: foundation), handcrafted against torch on the same machine,
same threads, same batch:

* training epoch time at most 1.25x torch's;
* inference throughput at batch 1 at least torch's;
* inference throughput at batch 1024 at least half torch's.

A figure flagged ``unstable`` by the bench (``extra_info['unstable']``, see
:mod:`lenet.measure.noise`) is not judged: the row reads "UNSTABLE" with the reasons,
and the check does not pass.  A zero, negative or non-finite time never
reaches a judgement: :mod:`lenet.io.history` refuses the file that holds it.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..io.history import Run

EPOCH_MAX_RATIO = 1.25
INFER_MIN_RATIO = {1: 1.0, 1024: 0.5}


@dataclass(frozen=True)
class Figure:
    median: float
    reasons: tuple  # why the figure is not to be trusted (empty: trusted)


def _figure(b: dict) -> Figure:
    e = b["extra_info"]
    reasons = e.get("unstable_reasons") or ([] if not e.get("unstable") else ["flagged unstable"])
    return Figure(float(b["stats"]["median"]), tuple(reasons))


def _index(run: Run, group_prefix: str) -> dict:
    """``(backend, arch, batch_size) -> Figure`` of the run's CPU benchmarks in the group; entries that do not
    say their backend and arch cannot be paired and are left out.  (Medians are positive: lenet.io.history checks.)
    """
    out = {}
    for b in run.benchmarks:
        e = b["extra_info"]
        if ((b.get("group") or "").startswith(group_prefix) and (e.get("device") or "cpu") == "cpu"
                and e.get("backend") and e.get("arch")):
            out[(e["backend"], e["arch"], e.get("batch_size"))] = _figure(b)
    return out


def _row(target: str, hc: Figure, other: Figure, ratio_of, limit: str, passes) -> dict:
    reasons = hc.reasons + tuple(r for r in other.reasons if r not in hc.reasons)
    if reasons:
        return {"target": target, "ratio": None, "limit": limit, "passed": None, "reasons": list(reasons)}
    ratio = ratio_of(hc.median, other.median)
    return {"target": target, "ratio": ratio, "limit": limit, "passed": passes(ratio), "reasons": []}


def check(run: Run) -> list[dict]:
    """One row per target that the run holds: what, ratio, limit, passed (None: not judged, with reasons)."""
    rows = []
    epochs = _index(run, "train-epoch")
    for (backend, arch, batch), hc in sorted(epochs.items()):
        if backend == "handcrafted" and ("torch", arch, batch) in epochs:
            rows.append(_row(f"train epoch {arch} batch {batch}: handcrafted / torch time", hc,
                             epochs[("torch", arch, batch)], lambda h, t: h / t, f"<= {EPOCH_MAX_RATIO}",
                             lambda r: r <= EPOCH_MAX_RATIO))
    infer = _index(run, "inference")
    for (backend, arch, batch), hc in sorted(infer.items()):
        if backend == "handcrafted" and batch in INFER_MIN_RATIO and ("torch", arch, batch) in infer:
            limit = INFER_MIN_RATIO[batch]
            # throughput ratio = inverse time ratio
            rows.append(_row(f"inference {arch} batch {batch}: handcrafted / torch throughput", hc,
                             infer[("torch", arch, batch)], lambda h, t: t / h, f">= {limit}",
                             lambda r, limit=limit: r >= limit))
    return rows


def passed(rows: list[dict]) -> bool:
    """True only when there are rows and every one was judged and passed."""
    return bool(rows) and all(r["passed"] is True for r in rows)


def format_rows(rows: list[dict]) -> str:
    if not rows:
        return "no handcrafted/torch pairs in this history: run the bench with both backends"
    width = max(len(r["target"]) for r in rows)
    lines = []
    for r in rows:
        if r["passed"] is None:
            lines.append(f"{r['target']:<{width}}  {'-':>6}  ({r['limit']})  UNSTABLE, not judged: "
                         + "; ".join(r["reasons"]))
        else:
            lines.append(f"{r['target']:<{width}}  {r['ratio']:6.2f}  ({r['limit']})  "
                         f"{'PASS' if r['passed'] else 'FAIL'}")
    if any(r["passed"] is None for r in rows):
        from ..measure.noise import ADVICE

        lines.append(f"unstable figures are not judged: {ADVICE}")
    return "\n".join(lines)
