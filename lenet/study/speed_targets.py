"""The handcrafted backend's speed targets, checked from benchmark output (never asserted in tests).

Targets (issue 17), at each thread count a run holds (``extra_info['threads']['requested']``), against
the other backends of the same machine, threads, architecture and batch:

* inference throughput at batch 1, 64 and 1024 at least :data:`INFER_MIN_RATIO` times the best of
  torch and keras (those of the two the run holds);
* a training epoch at batch 64 taking at most :data:`EPOCH_MAX_RATIO` of each one's time (0.8 of
  torch's, keras' at most), judged only on at least :data:`MIN_TRAIN_SAMPLES` images: a digits epoch
  lasts about 0.2 s at 2 threads, too short to time well (the ``speed`` profile runs 60,000);
* at batch 1024, inference reaching at least :data:`MIN_PCT_OF_PEAK` % of the GEMM peak measured in
  the same run (``extra_info['pct_of_peak']``, :func:`lenet.measure.ceiling.roofline`).

A figure flagged ``unstable`` by the bench (``extra_info['unstable']``, see
:mod:`lenet.measure.noise`) is not judged: the row reads "UNSTABLE" with the reasons,
and the check does not pass.  A zero, negative or non-finite time never
reaches a judgement: :mod:`lenet.io.history` refuses the file that holds it.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..io.history import Run

HANDCRAFTED = "handcrafted"
RIVALS = ("torch", "keras")
INFER_BATCHES = (1, 64, 1024)
INFER_MIN_RATIO = 1.1  # handcrafted throughput / the best rival's
TRAIN_BATCH = 64
EPOCH_MAX_RATIO = {"torch": 0.8, "keras": 1.0}  # handcrafted epoch time / the rival's
MIN_TRAIN_SAMPLES = 10_000
CEILING_BATCH = 1024
MIN_PCT_OF_PEAK = 25.0


@dataclass(frozen=True)
class Figure:
    median: float
    reasons: tuple  # why the figure is not to be trusted (empty: trusted)
    extra: dict


def _figure(b: dict) -> Figure:
    e = b["extra_info"]
    reasons = e.get("unstable_reasons") or ([] if not e.get("unstable") else ["flagged unstable"])
    return Figure(float(b["stats"]["median"]), tuple(reasons), e)


def _index(runs: tuple[Run, ...], group_prefix: str) -> dict:
    """``(threads, backend, arch, batch_size) -> Figure`` of the runs' CPU benchmarks in the group (a later
    run's figure replaces an earlier one's); entries that do not say their backend and arch cannot be paired
    and are left out.  (Medians are positive: lenet.io.history checks.)
    """
    out = {}
    for run in runs:
        for b in run.benchmarks:
            e = b["extra_info"]
            if ((b.get("group") or "").startswith(group_prefix) and (e.get("device") or "cpu") == "cpu"
                    and e.get("backend") and e.get("arch")):
                threads = (e.get("threads") or {}).get("requested")  # a mapping: lenet.io.history checks
                threads = threads if isinstance(threads, int) and not isinstance(threads, bool) else None
                out[(threads, e["backend"], e["arch"], e.get("batch_size"))] = _figure(b)
    return out


def _row(target: str, ratio, limit: str, passes, figures, refused: tuple = ()) -> dict:
    """A judged row, or one not judged: ``refused`` reasons, or the figures' unstable reasons."""
    unstable = tuple(dict.fromkeys(r for f in figures for r in f.reasons))
    if refused or unstable:
        return {"target": target, "ratio": None, "limit": limit, "passed": None, "unstable": bool(unstable),
                "reasons": list(refused + unstable)}
    return {"target": target, "ratio": ratio, "limit": limit, "passed": passes(ratio), "unstable": False,
            "reasons": []}


def _order(item) -> tuple:
    threads, backend, arch, batch = item[0]
    return threads or 0, arch, batch or 0, backend


def _where(threads) -> str:
    return f"threads {threads if threads is not None else '?'}"


def _inference_rows(infer: dict) -> list[dict]:
    rows = []
    for (threads, backend, arch, batch), hc in sorted(infer.items(), key=_order):
        if backend != HANDCRAFTED:
            continue
        if batch in INFER_BATCHES:
            rivals = {r: infer[(threads, r, arch, batch)] for r in RIVALS if (threads, r, arch, batch) in infer}
            if rivals:
                best = min(rivals, key=lambda r: rivals[r].median)
                # throughput ratio = inverse time ratio
                rows.append(_row(f"{_where(threads)}, inference {arch} batch {batch}: handcrafted / best of "
                                 f"{', '.join(rivals)} throughput ({best})", rivals[best].median / hc.median,
                                 f">= {INFER_MIN_RATIO}", lambda r: r >= INFER_MIN_RATIO, [hc, *rivals.values()]))
        pct = hc.extra.get("pct_of_peak")
        if batch == CEILING_BATCH and pct is not None:
            rows.append(_row(f"{_where(threads)}, inference {arch} batch {batch}: handcrafted % of the measured "
                             "GEMM peak", pct, f">= {MIN_PCT_OF_PEAK:g}", lambda r: r >= MIN_PCT_OF_PEAK, [hc]))
    return rows


def _epoch_rows(epochs: dict) -> list[dict]:
    rows = []
    for (threads, backend, arch, batch), hc in sorted(epochs.items(), key=_order):
        if backend != HANDCRAFTED or batch != TRAIN_BATCH:
            continue
        for rival, limit in EPOCH_MAX_RATIO.items():
            other = epochs.get((threads, rival, arch, batch))
            if other is None:
                continue
            samples = min(f.extra.get("train_samples") or 0 for f in (hc, other))
            refused = () if samples >= MIN_TRAIN_SAMPLES else (
                f"the epoch ran on {samples} images, fewer than {MIN_TRAIN_SAMPLES:,}: too short to time well "
                "(run the train-epoch group with --profile speed)",)
            rows.append(_row(f"{_where(threads)}, train epoch {arch} batch {batch}: handcrafted / {rival} time",
                             hc.median / other.median, f"<= {limit}", lambda r, limit=limit: r <= limit,
                             [hc, other], refused))
    return rows


def check(*runs: Run) -> list[dict]:
    """One row per target that the runs hold: what, ratio, limit, passed (None: not judged, with reasons)."""
    return _inference_rows(_index(runs, "inference")) + _epoch_rows(_index(runs, "train-epoch"))


def passed(rows: list[dict]) -> bool:
    """True only when there are rows and every one was judged and passed."""
    return bool(rows) and all(r["passed"] is True for r in rows)


def format_rows(rows: list[dict]) -> str:
    if not rows:
        return "no handcrafted/torch or handcrafted/keras pairs in this history: run the bench with them"
    width = max(len(r["target"]) for r in rows)
    lines = []
    for r in rows:
        if r["passed"] is None:
            what = "UNSTABLE, not judged" if r["unstable"] else "not judged"
            lines.append(f"{r['target']:<{width}}  {'-':>6}  ({r['limit']})  {what}: " + "; ".join(r["reasons"]))
        else:
            lines.append(f"{r['target']:<{width}}  {r['ratio']:6.2f}  ({r['limit']})  "
                         f"{'PASS' if r['passed'] else 'FAIL'}")
    if any(r["unstable"] for r in rows):
        from ..measure.noise import ADVICE

        lines.append(f"unstable figures are not judged: {ADVICE}")
    return "\n".join(lines)
