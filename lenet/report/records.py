"""Flattening pytest-benchmark runs into report records, one per benchmark, labelled by machine.

A *record* is one benchmark entry with the run it came from and the machine
label it is reported under.  Runs that share a label (the same machine, or the
same ``--label``) are merged: where a benchmark appears in several of them
(matched by fullname and params), the newest run's entry wins, so a storage
folder reads as "the latest figure of every benchmark ever run there".
"""
from __future__ import annotations

from dataclasses import dataclass

from ..io.history import HistoryError, Run, benchmark_key


class ReportError(HistoryError):
    """Histories that cannot make the report asked for (labels not matching, not two runs to compare).

    A HistoryError, so that the CLI reports it like an unreadable history: one line, exit status 2.
    """


# The study's groups, by section: a group belongs to a section when it starts
# with one of its prefixes ("inference batch=64", "graph train", "mlp-sweep 2-hidden").
SECTION_GROUPS = {
    "accuracy": ("accuracy",),
    "inference": ("inference",),
    "training": ("train-epoch",),
    "memory": ("memory",),
    "flops": ("flops",),
    "graph": ("graph",),
    "compression": ("compression",),
    "mlp-sweep": ("mlp-sweep",),
    "scenarios": ("scenario",),
    "speed-ratios": ("speed-ratio",),
    "tuned-modes": ("tuned-vs-default",),
}


def section_of(group: str | None) -> str | None:
    """The report section a benchmark group belongs to ("inference batch=64" -> inference), or None."""
    group = group or ""
    return next((section for section, prefixes in SECTION_GROUPS.items()
                 if any(group.startswith(p) for p in prefixes)), None)


@dataclass(frozen=True)
class Record:
    """One benchmark as the report sees it."""

    label: str  # machine label (``--label`` or derived from machine_info)
    run: Run
    group: str
    section: str | None
    name: str
    fullname: str
    params: dict
    stats: dict  # pytest-benchmark stats, seconds
    extra: dict  # extra_info

    @property
    def key(self) -> tuple:
        """What identifies a benchmark across runs: its fullname and params."""
        return benchmark_key(self.fullname, self.params)

    def get(self, field: str, default=None):
        value = self.extra.get(field, default)
        return default if value is None else value

    @property
    def median(self) -> float:
        return self.stats["median"]

    @property
    def batch_size(self):
        return self.extra.get("batch_size", self.params.get("infer_batch", self.params.get("train_batch")))

    @property
    def ident(self) -> tuple:
        """(backend, arch, device): the headline table's row key within a machine."""
        e = self.extra
        return (e.get("backend") or self.params.get("backend_name") or "?",
                e.get("arch") or self.params.get("arch_name") or "?",
                e.get("device") or self.params.get("device") or "?")


def gpu_names(run: Run) -> list[str]:
    """GPU names from ``machine_info['lenet']`` ("gpu"/"gpus"), else ["GPU"] when a backend saw a non-CPU device."""
    info = run.machine.get("lenet") or {}
    gpu = info.get("gpu") or info.get("gpus")
    if gpu:
        return [gpu] if isinstance(gpu, str) else list(dict.fromkeys(str(g) for g in gpu))
    seen = any(str(d).lower() != "cpu" for key, value in info.items() if key.endswith("_devices")
               and isinstance(value, list) for d in value)
    return ["GPU"] if seen else []


def machine_label(run: Run) -> str:
    """``node (cpu brand, GPU names)``: what tells a CPU box from a GPU box."""
    node = run.machine.get("node") or "?"
    brand = (run.machine.get("cpu") or {}).get("brand_raw")
    parts = [p for p in [brand, *gpu_names(run)] if p]
    return f"{node} ({', '.join(parts)})" if parts else node


def flatten(labelled_runs: list[tuple[str | None, Run]]) -> tuple[list[Record], dict]:
    """Records from ``[(label or None, run), ...]``, newest run winning per label and benchmark.

    Returns the records (in label order of first appearance, then run order)
    and ``{id(run): number of its benchmarks used}``.
    """
    by_label: dict[str, list[Run]] = {}
    for label, run in labelled_runs:
        by_label.setdefault(label or machine_label(run), []).append(run)
    records, used = [], {id(run): 0 for _, run in labelled_runs}
    for label, runs in by_label.items():
        chosen: dict[tuple, Record] = {}
        for run in sorted(runs, key=lambda r: r.datetime):  # stable: equal datetimes keep load order
            for b in run.benchmarks:
                group = b.get("group") or ""
                rec = Record(label=label, run=run, group=group, section=section_of(group), name=b["name"],
                             fullname=b.get("fullname") or b["name"], params=b.get("params") or {},
                             stats=b["stats"], extra=b.get("extra_info") or {})
                chosen[rec.key] = rec
        for rec in chosen.values():
            used[id(rec.run)] += 1
        records += chosen.values()
    return records, used


def labels_of(records: list[Record]) -> list[str]:
    return list(dict.fromkeys(r.label for r in records))


def in_section(records: list[Record], section: str) -> list[Record]:
    return [r for r in records if r.section == section]
