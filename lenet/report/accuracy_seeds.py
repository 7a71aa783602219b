"""Accuracy over seeds in the report: each row's mean ± sd over its seeds, and whether each backend reaches the
reference backend's accuracy within the seeds' spread (:func:`lenet.study.seeds.equivalence`, TOST).

A row is compared with the reference row of the same machine, architecture, device and config, and only when it
trained its own models: a backend running the reference's weights (ONNX Runtime, or any backend for an
architecture the profile has one backend train) scores what the reference scores and says so.
"""
from __future__ import annotations

from ..io.records import Record
from ..study.seeds import MARGIN, equivalence
from .markdown import Column, text

REFERENCE = "handcrafted"


def spread_of(r: Record, metric: str = "test_top1") -> dict | None:
    """The row's spread of ``metric`` over its seeds (``extra_info["seed_spread"]``), or None."""
    return (r.get("seed_spread") or {}).get(metric)


def _reference(r: Record, records: list[Record]) -> Record | None:
    same = lambda o: (o.label, o.ident[1], o.ident[2], o.get("config")) == (r.label, r.ident[1], r.ident[2],  # noqa
                                                                           r.get("config"))
    return next((o for o in records if o.ident[0] == REFERENCE and same(o)), None)


def verdicts(records: list[Record]) -> dict[int, dict]:
    """``id(row) -> equivalence`` for every row with seeds that has a reference row to be judged against; a row
    running the reference's weights gets ``{"verdict": "runs <reference>'s weights"}``."""
    out = {}
    for r in records:
        ref = _reference(r, records)
        if ref is None or r is ref or spread_of(r) is None or spread_of(ref) is None:
            continue
        if r.get("weights_from") == REFERENCE:
            out[id(r)] = {"verdict": f"runs {REFERENCE}'s weights"}
        else:
            out[id(r)] = equivalence(spread_of(r)["values"], spread_of(ref)["values"])
    return out


def _mean_sd(r: Record) -> str | None:
    s = spread_of(r)
    if s is None:
        return None
    return f"{s['mean']:.4f}" + (f" ± {s['sd']:.4f}" if s.get("sd") is not None else "") + f" (n={s['n']})"


def _interval(r: Record) -> str | None:
    s = spread_of(r)
    return f"[{s['low']:.4f}, {s['high']:.4f}]" if s and s.get("low") is not None else None


def columns(records: list[Record]) -> list[Column]:
    """Test top-1 over seeds, its 95% interval, and the verdict against the reference (optional columns: shown
    only where some row has seeds)."""
    judged = verdicts(records)

    def verdict(r: Record) -> str | None:
        v = judged.get(id(r))
        if v is None:
            return None
        if "difference" not in v:
            return v["verdict"]
        diff = f"{v['difference'] * 100:+.2f} pts" if v["difference"] is not None else "-"
        return f"{v['verdict']} ({diff})"

    return [
        Column("test top-1 over seeds (mean ± sd)", _mean_sd, text, optional=True),
        Column("its 95% interval (t)", _interval, text, optional=True),
        Column(f"vs {REFERENCE} (TOST ±{MARGIN * 100:g} pts)", verdict, text, optional=True, left=True),
    ]
