"""The handcrafted backend's speed targets, checked from benchmark output (never asserted in tests).

Targets (issue: foundation), handcrafted against torch on the same machine,
same threads, same batch:

* training epoch time at most 1.25x torch's;
* inference throughput at batch 1 at least torch's;
* inference throughput at batch 1024 at least half torch's.
"""
from __future__ import annotations

from .history import Run

EPOCH_MAX_RATIO = 1.25
INFER_MIN_RATIO = {1: 1.0, 1024: 0.5}


def _index(run: Run, group_prefix: str) -> dict:
    """``(backend, arch, batch_size) -> median`` of the run's CPU benchmarks in the group; entries that do not
    say their backend and arch cannot be paired and are left out.  (Medians are positive: lenet.history checks.)
    """
    out = {}
    for b in run.benchmarks:
        e = b["extra_info"]
        if ((b.get("group") or "").startswith(group_prefix) and (e.get("device") or "cpu") == "cpu"
                and e.get("backend") and e.get("arch")):
            out[(e["backend"], e["arch"], e.get("batch_size"))] = b["stats"]["median"]
    return out


def check(run: Run) -> list[dict]:
    """One row per target that the run can judge: what, ratio, limit, passed."""
    rows = []
    epochs = _index(run, "train-epoch")
    for (backend, arch, batch), hc in sorted(epochs.items()):
        if backend == "handcrafted" and ("torch", arch, batch) in epochs:
            ratio = hc / epochs[("torch", arch, batch)]
            rows.append({"target": f"train epoch {arch} batch {batch}: handcrafted / torch time",
                         "ratio": ratio, "limit": f"<= {EPOCH_MAX_RATIO}", "passed": ratio <= EPOCH_MAX_RATIO})
    infer = _index(run, "inference")
    for (backend, arch, batch), hc in sorted(infer.items()):
        if backend == "handcrafted" and batch in INFER_MIN_RATIO and ("torch", arch, batch) in infer:
            ratio = infer[("torch", arch, batch)] / hc  # throughput ratio = inverse time ratio
            limit = INFER_MIN_RATIO[batch]
            rows.append({"target": f"inference {arch} batch {batch}: handcrafted / torch throughput",
                         "ratio": ratio, "limit": f">= {limit}", "passed": ratio >= limit})
    return rows


def format_rows(rows: list[dict]) -> str:
    if not rows:
        return "no handcrafted/torch pairs in this history: run the bench with both backends"
    width = max(len(r["target"]) for r in rows)
    return "\n".join(f"{r['target']:<{width}}  {r['ratio']:6.2f}  ({r['limit']})  {'PASS' if r['passed'] else 'FAIL'}"
                     for r in rows)
