""""What this run shows": short sentences generated from the records, each with the figures it quotes.

Every :class:`Finding` keeps those figures raw in ``facts`` (seconds, ratios, points), so that a test can
recompute them from the JSON and check the sentence against them.  Nothing here is written about a
particular run: a finding appears only when the records hold what it needs.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..io.records import Record, labels_of
from . import accuracy_seeds
from .markdown import in_unit, integer, sig, signed_points, time_unit
from .markdown import ratio as ratio_text
from .sections.compression import compression_rows, relative, slower_at, top1_change_points
from .sections.core import FLAG, Context, PartRow
from .sections.graph import break_even
from .sections.roofline import phase_of, roofline_records
from .sections.speed_ratios import RatioRow, speed_ratio_rows


@dataclass(frozen=True)
class Finding:
    kind: str  # fastest-inference, fastest-training, accuracy, roofline, graph, compression-*, scenario-*, unstable
    text: str  # one sentence, markdown inline
    facts: dict  # the figures it quotes, raw


def duration(seconds: float) -> str:
    """One duration in the unit that suits it: ``51.09 µs``, ``2.107 ms``, ``5.360 s``."""
    name, scale = time_unit([seconds])
    return f"{in_unit(seconds, scale)} {name}"


def times(ratio: float) -> str:
    return f"{ratio:.3g}×"


def side_by_side(ratio: dict, reference: str) -> str:
    """``1.80× eager's speed [1.60, 2.00] side by side``: a row's ``extra_info["ratio"]`` with its interval."""
    return (f"{ratio_text(ratio['median'])} {reference}'s speed [{sig(ratio['low'], 3)}, {sig(ratio['high'], 3)}] "
            "side by side")


def _where(parts: dict, varying: dict) -> str:
    """" on cpu-box (lenet5, cpu)": the identity parts that vary across the report, else nothing."""
    shown = [str(v) for k, v in parts.items() if varying.get(k)]
    return f" ({', '.join(shown)})" if shown else ""


def _varying(records: list[Record]) -> dict:
    return {"label": len(labels_of(records)) > 1, "arch": len({r.ident[1] for r in records}) > 1,
            "device": len({r.ident[2] for r in records}) > 1}


def _unstable_mark(*recs: Record) -> str:
    return f" ({FLAG}: do not quote)" if any(r.get("unstable") for r in recs) else ""


def fastest(records: list[Record], section: str, what: str, kind: str) -> list[Finding]:
    """Per machine, arch, device and batch (and activation): the fastest backend and its lead on the next."""
    mine = [r for r in records if r.section == section and r.batch_size]
    varying = _varying(mine)
    groups: dict[tuple, list[Record]] = {}
    for r in mine:
        groups.setdefault((r.label, r.ident[1], r.ident[2], r.get("activation"), r.batch_size), []).append(r)
    out = []
    for (label, arch, device, activation, batch), recs in sorted(groups.items(), key=lambda kv: (
            labels_of(mine).index(kv[0][0]), kv[0][1], kv[0][2], str(kv[0][3]), kv[0][4])):
        if len({r.ident[0] for r in recs}) < 2:
            continue
        first, second = sorted(recs, key=lambda r: r.median)[:2]
        ratio = second.median / first.median
        where = _where({"label": label, "arch": arch, "device": device}, varying)
        act = f", {activation}" if activation and len({r.get("activation") for r in mine}) > 1 else ""
        paired = _lead_side_by_side(first, second)
        if paired:  # timed side by side: the ratio, not two medians taken minutes apart, nor their flags
            text = (f"{what} at batch {batch}{act}{where}: **{first.ident[0]}** is fastest ({duration(first.median)} "
                    f"median); it runs {paired}.")
        else:
            text = (f"{what} at batch {batch}{act}{where}: **{first.ident[0]}** is fastest, {duration(first.median)} "
                    f"(median), {times(ratio)} faster than {second.ident[0]} ({duration(second.median)})"
                    f"{_unstable_mark(first, second)}.")
        out.append(Finding(kind, text, {"label": label, "arch": arch, "device": device, "batch": batch,
                                        "activation": activation, "fastest": first.ident[0],
                                        "fastest_s": first.median, "runner_up": second.ident[0],
                                        "runner_up_s": second.median, "ratio": ratio}))
    return out


def _lead_side_by_side(first: Record, second: Record) -> str | None:
    """``2.10× torch's speed [1.90, 2.30] side by side``: the faster row's lead where one of the two was timed
    against the other in interleaved rounds (``extra_info["ratio"]``), else None."""
    for row, other, inverse in ((first, second, False), (second, first, True)):
        r = row.get("ratio")
        if r and r["reference"] == other.ident[0]:
            lead = {"median": 1 / r["median"], "low": 1 / r["high"], "high": 1 / r["low"]} if inverse else r
            return side_by_side(lead, second.ident[0])
    return None


def accuracy(records: list[Record]) -> list[Finding]:
    recs = [r for r in records if r.section == "accuracy" and r.get("test_top1") is not None]
    out = []
    for label in labels_of(recs):
        for arch in dict.fromkeys(r.ident[1] for r in recs if r.label == label):
            mine = [r for r in recs if r.label == label and r.ident[1] == arch]
            if len(mine) < 2:
                continue
            # over seeds where every row has two or more: their means, not the first seed's model
            seeded = all(len((accuracy_seeds.spread_of(r) or {}).get("values") or ()) >= 2 for r in mine)
            top1 = (lambda r: accuracy_seeds.spread_of(r)["mean"]) if seeded else (lambda r: r.get("test_top1"))
            what = "test top-1 (mean over seeds)" if seeded else "test top-1"
            lo, hi = min(mine, key=top1), max(mine, key=top1)
            spread = (top1(hi) - top1(lo)) * 100
            where = _where({"label": label, "arch": arch}, _varying(recs))
            if spread == 0:
                text = f"Accuracy{where}: all {len(mine)} backends score {what} {top1(lo):.4f}."
            else:
                text = (f"Accuracy{where}: {what} runs from {top1(lo):.4f} ({lo.ident[0]}) to "
                        f"{top1(hi):.4f} ({hi.ident[0]}), {spread:.2f} points apart across {len(mine)} backends.")
            sources = sorted({r.get("weights_from") for r in mine if r.get("weights_from")})
            if sources:
                shared = sum(1 for r in mine if r.get("weights_from"))
                verb = "runs" if shared == 1 else "run"
                text = text[:-1] + f"; {shared} of them {verb} weights trained by {', '.join(sources)}."
            out.append(Finding("accuracy", text, {"label": label, "arch": arch, "low": top1(lo), "high": top1(hi),
                                                  "points": spread, "n": len(mine), "over_seeds": seeded}))
            out += _equivalence(mine, where)
    return out


def _equivalence(rows: list[Record], where: str) -> list[Finding]:
    """Whether the backends that trained their own models reach the reference's accuracy within the seeds'
    spread (TOST), one sentence per machine and arch; none where the reference or every other backend has one
    seed (a TOST over one seed can only read "undecided", which says nothing)."""
    judged = accuracy_seeds.verdicts(rows)
    seeds = {id(r): (accuracy_seeds.spread_of(r) or {}).get("n", 1) for r in rows}
    own = {r.ident[0]: judged[id(r)] for r in rows
           if id(r) in judged and "difference" in judged[id(r)] and seeds[id(r)] >= 2}
    ref = next((r for r in rows if r.ident[0] == accuracy_seeds.REFERENCE), None)
    if not own or ref is None or seeds[id(ref)] < 2:
        return []
    by_verdict: dict[str, list[str]] = {}
    for backend, v in own.items():
        by_verdict.setdefault(v["verdict"], []).append(f"{backend} ({v['difference'] * 100:+.2f} pts)")
    s = accuracy_seeds.spread_of(ref)
    margin = next(iter(own.values()))["margin"] * 100
    text = (f"Accuracy over seeds{where}: {accuracy_seeds.REFERENCE} scores test top-1 {s['mean']:.4f}"
            + (f" ± {s['sd']:.4f}" if s.get("sd") is not None else "") + f" over {s['n']} seed(s); against it "
            f"(TOST, margin ±{margin:g} points): "
            + "; ".join(f"{verdict}: {', '.join(names)}" for verdict, names in by_verdict.items()) + ".")
    return [Finding("accuracy-equivalence", text, {"verdicts": {b: v["verdict"] for b, v in own.items()},
                                                   "reference_mean": s["mean"]})]


def roofline(records: list[Record]) -> list[Finding]:
    recs = [r for r in roofline_records(records) if r.get("pct_of_peak") is not None]
    out = []
    for label in labels_of(recs):
        mine = [r for r in recs if r.label == label]
        best = max(mine, key=lambda r: r.get("achieved_gflops"))
        top = max(r.get("pct_of_peak") for r in mine)
        where = f" on {label}" if len(labels_of(recs)) > 1 else ""
        text = (f"Against the ceiling{where}: the best figure is {sig(best.get('achieved_gflops'), 3)} GFLOP/s "
                f"({best.ident[0]}, {phase_of(best)}, batch {best.batch_size}), "
                f"{sig(best.get('pct_of_peak'), 3)}% of the measured GEMM peak of "
                f"{sig(best.get('peak_gflops'), 3)} GFLOP/s"
                + ("; no row reaches half the peak, so overheads and memory traffic, not arithmetic, bound it."
                   if top < 50 else "."))
        out.append(Finding("roofline", text, {"label": label, "backend": best.ident[0], "phase": phase_of(best),
                                              "batch": best.batch_size, "gflops": best.get("achieved_gflops"),
                                              "pct_of_peak": best.get("pct_of_peak"),
                                              "peak_gflops": best.get("peak_gflops"), "max_pct": top}))
    return out


def graph(records: list[Record]) -> list[Finding]:
    """Per backend, phase and batch: each graph mode's speed over eager's side by side (rows that carry a ratio),
    and after how many calls it repays its first call."""
    recs = [r for r in records if r.section == "graph" and "break_even_calls" in r.extra
            and r.get("mode") != "eager" and r.get("first_call_s") is not None]
    groups: dict[tuple, list[Record]] = {}
    for r in recs:
        groups.setdefault((r.label, r.ident[0], r.get("phase"), r.batch_size), []).append(r)
    out = []
    for (label, backend, phase, batch), mine in groups.items():
        parts, modes = [], []
        for r in sorted(mine, key=_repaid_order):
            n, paired = break_even(r), r.get("ratio")
            lead = f"{r.get('mode')} runs {side_by_side(paired, paired['reference'])} and " if paired else ""
            if n == "never":
                parts.append(f"{lead}never repays its first call (its steady state, timed apart, is not faster "
                             f"than eager's)" if paired else
                             f"{r.get('mode')} never does (not faster than eager at steady state)")
            else:
                parts.append(f"{lead or r.get('mode') + ' '}repays its {duration(r.get('first_call_s'))} first call "
                             f"after {integer(n)} call{'s' if n != 1 else ''}")
            modes.append({"mode": r.get("mode"), "first_call_s": r.get("first_call_s"), "break_even_calls": n,
                          "ratio": paired})
        where = f" on {label}" if len(labels_of(records)) > 1 else ""
        text = f"Graph mode, {backend} {phase} at batch {batch}{where}: " + "; ".join(parts) + "."
        out.append(Finding("graph", text, {"label": label, "backend": backend, "phase": phase, "batch": batch,
                                           "modes": modes}))
    return out


def _repaid_order(r: Record) -> tuple:
    """Soonest repaid first, "never" last."""
    n = break_even(r)
    return (1, 0) if n == "never" else (0, n)


def compression(records: list[Record], ctx: Context) -> list[Finding]:
    rows = [r for r in compression_rows(records) if r.record is not None]
    out, keeps = [], {}
    techniques: dict[tuple, list[PartRow]] = {}
    for r in rows:
        techniques.setdefault((r.label, r.arch, r.get("technique"), r.get("level")), []).append(r)
    for (label, arch, technique, level), mine in techniques.items():
        macs = {relative(r, "executed_macs") for r in mine} - {None}
        points = sorted(p for r in mine if (p := top1_change_points(r)) is not None)
        name = f"{technique} {level}" if level is not None else str(technique)
        if len(macs) != 1:
            continue
        (ratio,) = macs
        if ratio >= 1:
            keeps.setdefault(label, []).append(name)
            continue
        cost = ("no top-1 change recorded" if not points else
                f"{signed_points(points[0])} top-1 points" if points[0] == points[-1] else
                f"{signed_points(points[0])} to {signed_points(points[-1])} top-1 points across backends")
        r = mine[0]
        paired = [m for m in mine if m.get("ratio")]
        speed = ("; at batch 1 it runs " + ", ".join(
            f"{side_by_side(m.get('ratio'), 'the base')} on {m.backend}" for m in paired) if paired else "")
        text = (f"**{name}** removes work: it executes {times(ratio)} the base MACs "
                f"({integer(r.get('executed_macs'))} of {integer(r.get('base_executed_macs'))} per sample), at "
                f"{cost}{speed}.")
        out.append(Finding("compression-removes", text, {"label": label, "arch": arch, "technique": technique,
                                                         "level": level, "macs_ratio": ratio,
                                                         "points": points,
                                                         "speed": {m.backend: m.get("ratio") for m in paired}}))
    for label, names in keeps.items():
        out.append(Finding("compression-keeps", f"{', '.join(names)} execute every base MAC (1×): they save "
                           f"bytes, not arithmetic.", {"label": label, "techniques": names}))
    slower = [r for r in rows if slower_side_by_side(r, ctx.threshold_time)]
    if slower:
        parts = [f"{r.get('technique')} {r.get('level')} on {r.backend} ("
                 + (f"runs {side_by_side(r.get('ratio'), 'the base')}" if r.get("ratio")
                    else times(relative(r, "latency_b1_ms"))) + ")" for r in slower]
        out.append(Finding("compression-slower", f"Slower than the uncompressed model at batch 1 (latency more "
                           f"than {ctx.threshold_time:g}% above the base's; where timed side by side, beyond "
                           f"the interval too): " + "; ".join(parts) + "; batch 256 is judged in the Compression "
                           "section.",
                           {"slower": [{"technique": r.get("technique"), "level": r.get("level"),
                                        "backend": r.backend, "ratio": relative(r, "latency_b1_ms"),
                                        "speed": r.get("ratio")} for r in slower]}))
    return out


def slower_side_by_side(r: Record, threshold_time: float) -> bool:
    """A compressed model slower than its base at batch 1: by its ratio timed side by side where it has one (its
    median more than ``threshold_time`` % slower and its whole interval below 1), else by the two latencies
    timed apart (histories before ratios)."""
    paired = r.get("ratio")
    if paired:
        return paired["high"] < 1 and paired["median"] < 1 / (1 + threshold_time / 100)
    return 1 in slower_at(r, threshold_time)


def scenarios(records: list[Record]) -> list[Finding]:
    out = []
    for label in labels_of(records):
        single = [r for r in records if r.label == label and r.group.startswith("scenario single-stream")
                  and r.get("latency_p90_ms") is not None]
        if single:
            best = min(single, key=lambda r: r.get("latency_p90_ms"))
            text = (f"Single stream: **{best.ident[0]}** answers a query fastest at the tail, p90 "
                    f"{duration(best.get('latency_p90_ms') / 1e3)} (p50 {duration(best.get('latency_p50_ms') / 1e3)}"
                    f", over {integer(best.get('queries'))} queries){_unstable_mark(best)}.")
            out.append(Finding("scenario-single-stream", text, {
                "label": label, "backend": best.ident[0], "p90_s": best.get("latency_p90_ms") / 1e3,
                "p50_s": best.get("latency_p50_ms") / 1e3, "queries": best.get("queries")}))
        server = [r for r in records if r.label == label and r.group == "scenario server" and r.get("peak_qps")]
        if server:
            best = max(server, key=lambda r: r.get("peak_qps"))
            text = (f"Server: **{best.ident[0]}** sustains the highest rate of Poisson arrivals with p99 under "
                    f"{duration(best.get('latency_bound_ms') / 1e3)}: {sig(best.get('peak_qps'))} queries/s "
                    f"(LoadGen: {(best.get('loadgen') or {}).get('verdict', 'no verdict')}){_unstable_mark(best)}.")
            out.append(Finding("scenario-server", text, {"label": label, "backend": best.ident[0],
                                                         "peak_qps": best.get("peak_qps"),
                                                         "bound_s": best.get("latency_bound_ms") / 1e3}))
        offline = [r for r in records if r.label == label and r.group.startswith("scenario offline")
                   and r.get("throughput_img_s") is not None]
        if offline:
            best = max(offline, key=lambda r: r.get("throughput_img_s"))
            text = (f"Offline: **{best.ident[0]}** has the highest throughput, {sig(best.get('throughput_img_s'))} "
                    f"img/s at batch {best.batch_size}{_unstable_mark(best)}.")
            out.append(Finding("scenario-offline", text, {"label": label, "backend": best.ident[0],
                                                          "img_s": best.get("throughput_img_s"),
                                                          "batch": best.batch_size}))
    return out


UNSTABLE_NAMED = 5  # more flagged benchmarks than this are counted per section, not named


def unstable(records: list[Record]) -> list[Finding]:
    known = [r for r in records if r.section is not None]
    if not any("unstable" in r.extra for r in known):
        return [Finding("unstable", "These histories carry no stability flags (recorded before the bench watched "
                        "the machine), so no figure here was checked for a disturbed machine.", {"flagged": None})]
    flagged = [r for r in known if r.get("unstable")]
    if not flagged:
        return [Finding("unstable", f"None of the {len(known)} benchmarks was flagged unstable.",
                        {"flagged": [], "total": len(known)})]
    if len(flagged) <= UNSTABLE_NAMED:
        where = ": " + "; ".join(f"`{r.name}` ({', '.join(r.get('unstable_reasons') or ['flagged'])})"
                                  for r in flagged)
    else:
        counts: dict[str, int] = {}
        for r in flagged:
            counts[r.section] = counts.get(r.section, 0) + 1
        where = " (" + ", ".join(f"{n} {section}" for section, n in counts.items()) + "; each marked in its section)"
    return [Finding("unstable", f"{FLAG}: {len(flagged)} of {len(known)} benchmarks were measured on a disturbed "
                    f"machine or too spread to trust, so do not quote them{where}.",
                    {"flagged": [r.name for r in flagged], "total": len(known)})]


def paired(records: list[Record]) -> list[Finding]:
    """The interleaved ratios, per machine, arch, phase and thread count: handcrafted against each rival at each
    batch, with the interval (what a shared machine cannot move: both sides of a round share its state)."""
    rows = speed_ratio_rows([r for r in records if r.section == "speed-ratios"])
    groups: dict[tuple, list[RatioRow]] = {}
    for row in rows:
        r = row.record
        key = (r.label, r.get("arch"), r.get("phase"), (r.get("threads") or {}).get("requested"))
        groups.setdefault(key, []).append(row)
    out = []
    varying_label = len({k[0] for k in groups}) > 1
    for (label, arch, phase, threads), mine in groups.items():
        per_rival: dict[str, list[str]] = {}
        for row in mine:
            per_rival.setdefault(row.rival, []).append(
                f"{row.median:.2f}× [{row.low:.2f}, {row.high:.2f}] at batch {row.record.get('batch_size')}")
        what = "throughput" if phase == "infer" else "training-step speed"
        where = f"{arch}, {threads} thread(s)" + (f", {label}" if varying_label else "")
        text = (f"Side by side ({where}): handcrafted's {what} over "
                + "; over ".join(f"{rival}'s: {', '.join(parts)}" for rival, parts in per_rival.items())
                + " (median of the interleaved rounds' ratios, 95% interval).")
        out.append(Finding("speed-ratio", text, {"label": label, "arch": arch, "phase": phase, "threads": threads,
                                                 "ratios": {row.rival: row.median for row in mine}}))
    return out


MAX_FINDINGS = 10  # sentences in "What this run shows", the withheld count included
PER_KIND = 3  # sentences of one kind at most (the rest are in their sections)
# What a reader needs first: the ratios measured side by side, whether the backends reach the same accuracy,
# who is fastest, where graph mode pays, what compression removes and costs, then the rest.
ORDER = ("speed-ratio", "accuracy-equivalence", "accuracy", "fastest-inference", "fastest-training", "graph",
         "compression-removes", "compression-slower", "compression-keeps", "scenario-server",
         "scenario-single-stream", "scenario-offline", "roofline")


def findings(records: list[Record], ctx: Context) -> list[Finding]:
    """At most :data:`MAX_FINDINGS` sentences, the most important first (:data:`ORDER`).  A sentence that would
    quote a flagged figure is withheld, and the last sentence says how many were and where the flags are."""
    candidates = (paired(records)
                  + fastest(records, "inference", "Inference", "fastest-inference")
                  + fastest(records, "training", "Training", "fastest-training")
                  + accuracy(records) + roofline(records) + graph(records)
                  + compression([r for r in records if r.section == "compression"], ctx)
                  + scenarios([r for r in records if r.section == "scenarios"]))
    quotable = [f for f in candidates if FLAG not in f.text]
    withheld = len(candidates) - len(quotable)
    quotable.sort(key=lambda f: ORDER.index(f.kind) if f.kind in ORDER else len(ORDER))
    seen: dict[str, int] = {}  # at most PER_KIND of one kind, so that one section cannot fill the list
    kept = []
    for f in quotable:
        seen[f.kind] = seen.get(f.kind, 0) + 1
        if seen[f.kind] <= PER_KIND:
            kept.append(f)
    closing = unstable(records)
    if withheld:
        closing = [Finding("withheld", f"{withheld} more sentence(s) would quote a flagged figure and are withheld; "
                           + closing[0].text, {"withheld": withheld, **closing[0].facts})]
    return kept[:MAX_FINDINGS - len(closing)] + closing
