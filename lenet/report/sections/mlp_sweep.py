"""The MLP-sweep section: one- and two-hidden-layer MLPs against LeNet-5 by size (Study E), their accuracy and
bytes, and their speed and memory where the run timed them.
"""
from __future__ import annotations

from ...io.records import Record, labels_of
from ..markdown import Table, field_column
from .core import Context, Section, backend_order, extra_fields, id_columns

MLP_FIELDS = ("hidden", "params", "param_bytes", "test_top1", "test_top5")


def mlp_section(records: list[Record], ctx: Context) -> Section:
    recs = sorted(records, key=lambda r: (labels_of(records).index(r.label), backend_order(r.ident[0]),
                                          r.ident[2], r.get("params") or 0, r.ident[1]))
    hidden = field_column("hidden")
    size = Table(id_columns(ctx) + [field_column(k) for k in MLP_FIELDS], recs, note=_sweep_protocol(recs))
    others = extra_fields(recs, set(MLP_FIELDS))
    tables = [size]
    if others:
        tables.append(Table(id_columns(ctx) + [hidden] + [field_column(k) for k in others], recs,
                            caption="Speed and memory"))
    return Section("mlp-sweep", "MLP sweep", "One- and two-hidden-layer MLPs against LeNet-5 (Study E), by size.",
                   tables)


def _sweep_protocol(records: list[Record]) -> str:
    """For rows of config ``study-e``: what Study E's protocol is, and the dataset it ran on when not MNIST."""
    datasets = sorted({r.get("dataset") for r in records if r.get("config") == "study-e"})
    if not datasets:
        return ""
    note = "Config `study-e` is Study E's own protocol: plain SGD, batch 4, 20 epochs, its step schedule."
    if datasets != ["mnist"]:
        note += f" Study E trained on MNIST; these rows trained on {', '.join(datasets)}."
    return note
