"""The handcrafted backend's speed targets, checked from benchmark output (never asserted in tests).

Targets (issue 17, restated against each framework's tuned mode by issue 26 and raised by issue 32), at each
thread count a run holds (``extra_info['threads']['requested']``), against the other backends of the same
machine, threads, architecture and batch:

* inference throughput at batch 1, 64 and 1024 at least :data:`INFER_MIN_RATIO` times each of
  :data:`RIVALS` (those the run holds), except against ONNX Runtime at batch 1, an engine that runs a whole
  graph in one C++ call where NumPy pays a Python dispatch per operation: :func:`infer_limit`;
* a training epoch at batch 64 taking at most :data:`EPOCH_MAX_RATIO` of each one's time (0.8 of
  torch's and JAX's, keras' at most), judged only on at least :data:`MIN_TRAIN_SAMPLES` images: a digits epoch
  lasts about 0.2 s at 2 threads, too short to time well (the ``speed`` profile runs 60,000);
* at batch 1024, inference reaching at least :func:`min_pct_of_peak` % of the GEMM peak measured in
  the same run (``extra_info['pct_of_peak']``, :func:`lenet.measure.ceiling.roofline`), or, in an
  interleaved row, of the GEMM timed in the same rounds (``extra_info['pct_of_gemm']``): 50 % at one
  thread, 40 % at more;
* two threads never slower than one: where the runs hold interleaved inference rows at 1 and at 2 threads,
  handcrafted's per-call time at each batch size (:func:`_scaling_rows`).

Where the run holds the interleaved rows of ``bench/test_speed_ratios.py`` (group ``speed-ratio``), the
ratio targets are judged from them instead: the median over rounds of the per-round ratio, with its 95%
interval. A slow spell of the machine lands on every contender of a round alike, so these rows are
judged by their interval, not by the machine's flags: PASS when the whole interval meets the limit, FAIL when
none of it does, and "not judged" when it straddles the limit.  A training step stands in for the epoch
there: an epoch is its steps plus the shared loop's bookkeeping, the same for every backend.  The
sequential rows time every backend in its default mode, and say so: only the interleaved rows compare
against each framework's fastest mode.  The thread-scaling rows compare two sessions, not rounds of one:
their interval joins the two medians' order-statistic intervals, and they say that the machine's state
may differ between the runs.

The sequential rows' own ratios come first where they have them: a rival's ``inference`` or ``train-epoch``
row records ``extra_info["ratio"]`` against handcrafted (:func:`lenet.study.contenders.pair_ratio`: its
forward pass or training step and handcrafted's, on the same weights and input, in interleaved rounds), and the
target is judged from it by its interval, as above, rival by rival (default modes, a training step for the
epoch, on any number of images: the rounds, not the epoch's length, make it well timed).  The quotient of the
two rows' medians, timed minutes apart, is the fallback for histories written before these ratios.

A sequential figure flagged ``unstable`` (``extra_info['unstable']``, see :mod:`lenet.measure.noise`; a row of
an older history judged again by today's rules, :class:`lenet.entry.Entry`) is not judged: the row reads
"UNSTABLE" with the reasons, and the check does not pass; so is the session's GEMM-peak figure, from either
kind of row, since it depends on the machine's speed then and not on a ratio.  The GEMM timed in the rounds
makes that share a ratio too, judged by its interval.  A zero, negative or non-finite time never reaches a
judgement: :mod:`lenet.io.history` refuses the file that holds it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..entry import Entry
from ..io.history import Run
from ..measure.paired import Paired

HANDCRAFTED = "handcrafted"
RIVALS = ("torch", "keras", "onnxruntime", "jax")
INFER_BATCHES = (1, 64, 1024)
INFER_MIN_RATIO = 1.1  # handcrafted throughput / each rival's
INFER_MIN_RATIO_AT = {(1, "onnxruntime"): 0.8}  # (batch, rival) -> its own limit
TRAIN_BATCH = 64
EPOCH_MAX_RATIO = {"torch": 0.8, "jax": 0.8, "keras": 1.0}  # handcrafted epoch time / the rival's
TRAIN_RIVALS = tuple(EPOCH_MAX_RATIO)
MIN_TRAIN_SAMPLES = 10_000
CEILING_BATCH = 1024
MIN_PCT_OF_PEAK = {1: 50.0}  # threads -> handcrafted's least % of the GEMM peak at CEILING_BATCH
MIN_PCT_OF_PEAK_MORE_THREADS = 40.0
SCALING_THREADS = (1, 2)  # two threads never slower than one


def infer_limit(batch: int, rival: str) -> float:
    """The least handcrafted / ``rival`` throughput ratio at ``batch``."""
    return INFER_MIN_RATIO_AT.get((batch, rival), INFER_MIN_RATIO)


def min_pct_of_peak(threads: int | None) -> float:
    """The least % of the GEMM peak handcrafted reaches at :data:`CEILING_BATCH` with ``threads``."""
    return MIN_PCT_OF_PEAK.get(threads, MIN_PCT_OF_PEAK_MORE_THREADS)


@dataclass(frozen=True)
class Figure:
    median: float
    reasons: tuple  # why the figure is not to be trusted (empty: trusted)
    extra: dict


def _figure(entry: Entry) -> Figure:
    reasons = entry.reasons or (["flagged unstable"] if entry.unstable else [])
    return Figure(float(entry.median), tuple(reasons), entry.extra)


def _index(entries: Sequence[Entry], group_prefix: str) -> dict:
    """``(threads, backend, arch, batch_size) -> Figure`` of the CPU benchmarks in the group (a later entry's
    figure replaces an earlier one's); entries that do not say their backend and arch cannot be paired and are
    left out.  (Medians are positive: lenet.io.history checks.)
    """
    out = {}
    for entry in entries:
        e = entry.extra
        if (entry.group.startswith(group_prefix) and (e.get("device") or "cpu") == "cpu"
                and e.get("backend") and e.get("arch")):
            out[(_threads_of(e), e["backend"], e["arch"], e.get("batch_size"))] = _figure(entry)
    return out


def _threads_of(e: dict) -> int | None:
    threads = (e.get("threads") or {}).get("requested")  # a mapping: lenet.io.history checks
    return threads if isinstance(threads, int) and not isinstance(threads, bool) else None


def _paired_index(entries: Sequence[Entry]) -> dict:
    """``(threads, phase, arch, batch_size) -> Figure`` of the interleaved rows (later entries win)."""
    out = {}
    for entry in entries:
        e = entry.extra
        if (entry.group.startswith("speed-ratio") and e.get("speedup") and e.get("arch")
                and e.get("phase") in ("infer", "train")):
            out[(_threads_of(e), e["phase"], e["arch"], e.get("batch_size"))] = _figure(entry)
    return out


def _interval_row(target: str, value: float, low: float, high: float, limit: str, passes) -> dict:
    """A ratio judged by its interval: passed when all of it passes, failed when none does, else not judged."""
    ends = {passes(low), passes(high)}
    verdict = ends.pop() if len(ends) == 1 else None
    reasons = [] if verdict is not None else [
        f"the 95% interval [{low:.2f}, {high:.2f}] of the interleaved rounds straddles the limit: rerun "
        "with more rounds or on a quieter machine"]
    return {"target": target, "ratio": value, "interval": [low, high], "limit": limit, "passed": verdict,
            "unstable": False, "reasons": reasons}


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


def _rival(rival: str, e: dict) -> str:
    """``rival`` with the mode it ran in an interleaved row (rows recorded before issue 26 ran the default)."""
    return f"{rival} ({(e.get('rival_modes') or {}).get(rival) or 'default mode'})"


def _paired_rows(paired: dict) -> list[dict]:
    rows = []
    for (threads, phase, arch, batch), fig in sorted(paired.items(), key=lambda kv: (kv[0][0] or 0, *kv[0][1:])):
        where, e = f"{_where(threads)}, interleaved", fig.extra
        if phase == "infer" and batch in INFER_BATCHES:
            for rival in RIVALS:
                if rival in e["speedup"]:
                    s, limit = e["speedup"][rival], infer_limit(batch, rival)
                    rows.append(_interval_row(f"{where}, inference {arch} batch {batch}: handcrafted / "
                                              f"{_rival(rival, e)} throughput", s["median"], s["low"], s["high"],
                                              f">= {limit:g}", lambda r, limit=limit: r >= limit))
            share, least = e.get("pct_of_gemm"), min_pct_of_peak(threads)
            if batch == CEILING_BATCH and share:
                rows.append(_interval_row(f"{where}, inference {arch} batch {batch}: handcrafted % of the GEMM peak "
                                          "timed in the same rounds", share["median"], share["low"], share["high"],
                                          f">= {least:g}", lambda r, least=least: r >= least))
            elif batch == CEILING_BATCH and e.get("pct_of_peak") is not None:
                rows.append(_row(f"{where}, inference {arch} batch {batch}: handcrafted % of the measured GEMM "
                                 "peak", e["pct_of_peak"], f">= {least:g}", lambda r, least=least: r >= least, [fig]))
        elif phase == "train" and batch == TRAIN_BATCH:
            for rival, limit in EPOCH_MAX_RATIO.items():
                if rival in e["speedup"]:
                    s = e["speedup"][rival]  # time ratio = 1 / speedup
                    rows.append(_interval_row(f"{where}, train step {arch} batch {batch}: handcrafted / "
                                              f"{_rival(rival, e)} time", 1 / s["median"], 1 / s["high"],
                                              1 / s["low"], f"<= {limit}", lambda r, limit=limit: r <= limit))
    return rows


def _side_by_side(fig: Figure) -> dict | None:
    """A rival row's ratio against handcrafted (its speed over handcrafted's), or None."""
    ratio = fig.extra.get("ratio")
    return ratio if ratio and ratio["reference"] == HANDCRAFTED else None


def _scaling_rows(paired: dict) -> list[dict]:
    """Handcrafted at 2 threads against 1, per interleaved inference row held at both: the ratio of the 1-thread
    median per-call time to the 2-thread one (>= 1: two threads no slower), its interval joining the two
    medians' 95% order-statistic intervals (conservative: the runs are separate sessions)."""
    one, two = SCALING_THREADS
    rows = []
    for (threads, phase, arch, batch), fig in sorted(paired.items(), key=lambda kv: (kv[0][2], kv[0][3] or 0)):
        other = paired.get((one, phase, arch, batch))
        if threads != two or phase != "infer" or other is None:
            continue
        p1, p2 = (Paired.from_dict(f.extra.get("paired")) for f in (other, fig))
        if p1 is None or p2 is None or not (p1.per_call_s.get(HANDCRAFTED) and p2.per_call_s.get(HANDCRAFTED)):
            continue
        (low1, high1), (low2, high2) = (p.median_interval_s(HANDCRAFTED) for p in (p1, p2))
        rows.append(_interval_row(
            f"threads {two} against {one} (separate runs: the machine's state may differ), inference {arch} batch "
            f"{batch}: handcrafted throughput ratio", p1.median_s(HANDCRAFTED) / p2.median_s(HANDCRAFTED), low1 / high2,
            high1 / low2, ">= 1", lambda r: r >= 1))
    return rows


def _inference_rows(infer: dict, paired: dict) -> list[dict]:
    rows = []
    for (threads, backend, arch, batch), hc in sorted(infer.items(), key=_order):
        if backend != HANDCRAFTED or (threads, "infer", arch, batch) in paired:
            continue
        if batch in INFER_BATCHES:
            rivals = {r: infer[(threads, r, arch, batch)] for r in RIVALS if (threads, r, arch, batch) in infer}
            for rival, other in rivals.items():
                limit, s = infer_limit(batch, rival), _side_by_side(other)
                if s:  # handcrafted's throughput over the rival's = 1 / the rival's ratio
                    rows.append(_interval_row(f"{_where(threads)}, side by side, inference {arch} batch {batch}: "
                                              f"handcrafted / {rival} throughput, default modes", 1 / s["median"],
                                              1 / s["high"], 1 / s["low"], f">= {limit:g}",
                                              lambda r, limit=limit: r >= limit))
                else:  # throughput ratio = inverse time ratio
                    rows.append(_row(f"{_where(threads)}, inference {arch} batch {batch}: handcrafted / {rival} "
                                     "throughput, default modes", other.median / hc.median, f">= {limit:g}",
                                     lambda r, limit=limit: r >= limit, [hc, other]))
        pct, least = hc.extra.get("pct_of_peak"), min_pct_of_peak(threads)
        if batch == CEILING_BATCH and pct is not None:
            rows.append(_row(f"{_where(threads)}, inference {arch} batch {batch}: handcrafted % of the measured "
                             "GEMM peak", pct, f">= {least:g}", lambda r, least=least: r >= least, [hc]))
    return rows


def _epoch_rows(epochs: dict, paired: dict) -> list[dict]:
    rows = []
    for (threads, backend, arch, batch), hc in sorted(epochs.items(), key=_order):
        if backend != HANDCRAFTED or batch != TRAIN_BATCH or (threads, "train", arch, batch) in paired:
            continue
        for rival, limit in EPOCH_MAX_RATIO.items():
            other = epochs.get((threads, rival, arch, batch))
            if other is None:
                continue
            s = _side_by_side(other)  # handcrafted's step time over the rival's = the rival's ratio
            if s:
                rows.append(_interval_row(f"{_where(threads)}, side by side, train step {arch} batch {batch}: "
                                          f"handcrafted / {rival} time, default modes", s["median"], s["low"],
                                          s["high"], f"<= {limit}", lambda r, limit=limit: r <= limit))
                continue
            samples = min(f.extra.get("train_samples") or 0 for f in (hc, other))
            refused = () if samples >= MIN_TRAIN_SAMPLES else (
                f"the epoch ran on {samples} images, fewer than {MIN_TRAIN_SAMPLES:,}: too short to time well "
                "(run the train-epoch group with --profile speed)",)
            rows.append(_row(f"{_where(threads)}, train epoch {arch} batch {batch}: handcrafted / {rival} time, "
                             "default modes",
                             hc.median / other.median, f"<= {limit}", lambda r, limit=limit: r <= limit,
                             [hc, other], refused))
    return rows


def check(*runs: Run) -> list[dict]:
    """:func:`check_entries` of the runs' benchmarks, in run order (a later run's figure wins)."""
    return check_entries([entry for run in runs for entry in run.entries])


def check_entries(entries: Sequence[Entry]) -> list[dict]:
    """One row per target that the entries hold: what, ratio, limit, passed (None: not judged, with reasons).

    Interleaved rows replace the sequential ones of the same threads, architecture and batch.
    """
    paired = _paired_index(entries)
    return (_paired_rows(paired) + _scaling_rows(paired) + _inference_rows(_index(entries, "inference"), paired)
            + _epoch_rows(_index(entries, "train-epoch"), paired))


def passed(rows: list[dict]) -> bool:
    """True only when there are rows and every one was judged and passed."""
    return bool(rows) and all(r["passed"] is True for r in rows)


def format_rows(rows: list[dict]) -> str:
    if not rows:
        return (f"no pairs of handcrafted and one of {', '.join(RIVALS)} in this history: run the bench with "
                "them")
    width = max(len(r["target"]) for r in rows)
    lines = []
    for r in rows:
        if r["passed"] is None:
            what = "UNSTABLE, not judged" if r["unstable"] else "not judged"
            if r.get("interval"):
                what = f"{r['ratio']:.2f}, not judged"
            lines.append(f"{r['target']:<{width}}  {'-':>6}  ({r['limit']})  {what}: " + "; ".join(r["reasons"]))
        else:
            interval = f"  [{r['interval'][0]:.2f}, {r['interval'][1]:.2f}]" if r.get("interval") else ""
            lines.append(f"{r['target']:<{width}}  {r['ratio']:6.2f}  ({r['limit']})  "
                         f"{'PASS' if r['passed'] else 'FAIL'}{interval}")
    if any(r["unstable"] for r in rows):
        from ..measure.noise import ADVICE

        lines.append(f"unstable figures are not judged: {ADVICE}")
    return "\n".join(lines)
