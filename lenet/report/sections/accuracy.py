"""The accuracy section: top-1 and top-5 on validation and test per backend (over several seeds, their mean,
interval and equivalence with the reference backend), the training setup, and what training and evaluation cost.
Accuracy is the one figure the speed figures are worth nothing without, so it comes first.
"""
from __future__ import annotations

from ...io.records import Record
from .. import accuracy_seeds
from ..markdown import UNIT, Column, Table, fraction, general, integer, sig, text
from .core import Context, Section, id_columns, in_order, stat


def accuracy_section(records: list[Record], ctx: Context) -> Section:
    cfg = lambda r, k: (r.get("train_config") or {}).get(k)  # noqa: E731
    recs = in_order(records)
    trained_by = _trained_by(recs)
    scores = Table(id_columns(ctx) + [
        Column("val top-1", lambda r: r.get("val_top1"), fraction),
        Column("val top-5", lambda r: r.get("val_top5"), fraction),
        Column("test top-1", lambda r: r.get("test_top1"), fraction),
        Column("test top-5", lambda r: r.get("test_top5"), fraction),
        Column("test loss (cross-entropy)", lambda r: r.get("test_loss"), sig, optional=True),
        Column("test images", lambda r: r.get("test_samples"), integer, optional=True),
        *accuracy_seeds.columns(recs),
        trained_by,
    ], recs, note="Over several seeds the top-1 and top-5 columns are the first seed's model, the one every other "
                  "group times; the seed columns hold the mean over the seeds, its 95% Student-t interval, and "
                  "whether the backend reaches handcrafted's mean within ±0.5 points (TOST: 'equivalent' when the "
                  "90% interval of the difference lies within the margin, 'different' when the 95% interval "
                  "excludes 0, 'undecided' otherwise or with fewer than two seeds a side).")
    setup = Table(id_columns(ctx) + [
        Column("architecture", lambda r: r.get("arch_name"), text, optional=True, left=True),
        Column("dataset", lambda r: r.get("dataset"), text, left=True),
        Column("epochs", lambda r: r.get("epochs"), integer),
        Column("optimizer", lambda r: cfg(r, "optimizer"), text, optional=True),
        Column("lr", lambda r: cfg(r, "lr"), general, optional=True),
        Column("train batch", lambda r: cfg(r, "batch_size"), integer, optional=True),
        Column("seed", lambda r: r.get("seed"), integer),
    ], trained_here(recs), caption="Training setup", note="Rows that run another backend's weights trained nothing "
                                                          "and are not listed.")
    cost = Table(id_columns(ctx) + [
        Column(f"training {UNIT}", lambda r: r.get("train_seconds")),
        trained_by,
        Column("from cache", lambda r: None if r.get("model_cached") is None else
               ("yes" if r.get("model_cached") else "no"), text, optional=True),
        Column(f"test-set predict {UNIT} (median)", stat("median")),
    ], recs, caption="Training and evaluation time",
        note="Training time of a model loaded from the cache is that of the run that trained it, and of a "
             "model running another backend's weights that backend's. Test-set predict: `backend.predict` "
             "over the whole test split, conversion included.")
    return Section("accuracy", "Accuracy", "Top-1 and top-5 on validation and test, from the accuracy benchmarks.",
                   [scores, setup, cost])


def trained_here(records: list[Record]) -> list[Record]:
    """The rows whose backend trained its own model (not ONNX Runtime's, nor any that runs another's weights)."""
    return [r for r in records if not r.get("weights_from")]


def _trained_by(records: list[Record]) -> Column:
    """The backend that trained a row's weights (ONNX Runtime's, or every backend's for an arch the profile has
    one backend train); shown only when some row runs another backend's weights."""
    borrowed = any(r.get("weights_from") for r in records)
    return Column("weights trained by",
                  lambda r: (r.get("weights_from") or r.ident[0]) if borrowed else None, text, optional=True,
                  left=True)
