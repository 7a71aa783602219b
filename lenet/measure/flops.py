"""A framework's FLOP counters reconciled with the analytic count, each under its stated convention.

A counter reports ``{"value", "convention", "per", "batch_size"}``: ``convention`` is a key of
:meth:`lenet.counting.ArchCount.as_dict` (``macs`` for thop/fvcore, ``flops`` = 2 x MACs for
``torch.utils.flop_counter``, ``flops_tf`` = 2 x MACs plus bias adds and pooling reads for TF's profiler),
``per`` is ``"sample"`` or ``"batch"`` (TF's profiler counts a fixed batch).
"""
from __future__ import annotations

from ..counting import count
from ..spec import Arch


def reconcile(arch: Arch, counters: dict) -> dict:
    """``{name: counter + {"expected", "analytic_per_sample"}}``: what each counter should read by its convention."""
    analytic = count(arch).as_dict()
    checked = {}
    for name, c in counters.items():
        per_sample = analytic[c["convention"]]
        checked[name] = {**c, "expected": per_sample * (c["batch_size"] if c["per"] == "batch" else 1),
                         "analytic_per_sample": per_sample}
    return checked


def mismatches(checked: dict) -> list[str]:
    """One sentence per reconciled counter whose value its convention does not explain."""
    return [f"{name} counted {c['value']:,} but the analytic {c['convention']} "
            f"({'x batch ' + str(c['batch_size']) if c['per'] == 'batch' else 'per sample'}) is {c['expected']:,}"
            for name, c in checked.items() if c["value"] != c["expected"]]
