"""One pytest-benchmark row, typed: what every reader of a history (the report, the comparison, the speed targets,
the bench's own summary) reads instead of the JSON's dicts.

A history stores each benchmark as a dict (``name``, ``fullname``, ``group``, ``params``, ``stats``,
``extra_info``).  :meth:`Entry.parse` turns one into an :class:`Entry` once, when the history is read
(:attr:`lenet.io.history.Run.entries`), and migrates it there: a row written before today's trust rules gets
its flag judged again by :func:`lenet.schema.flag_of`, so that no reader has to remember to.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from .schema import Group, flag_of, group_of, section_of


def benchmark_key(fullname: str, params: dict | None) -> tuple:
    """What identifies one benchmark across runs: its fullname and its params."""
    return fullname, json.dumps(params or {}, sort_keys=True, default=str)


@dataclass(frozen=True)
class Entry:
    """One benchmark of one run: pytest-benchmark's stats (seconds) and lenet's ``extra_info`` fields."""

    name: str
    fullname: str
    group: str
    params: dict
    stats: dict  # pytest-benchmark stats, seconds (``data``: the raw samples, when saved)
    extra: dict  # extra_info, its flag under today's rules

    @classmethod
    def parse(cls, row: dict) -> Entry:
        """A history's row (checked by :mod:`lenet.io.history_checks`), its flag judged by today's rules."""
        group = row.get("group") or ""
        extra = row.get("extra_info") or {}
        unstable, reasons = flag_of(group, extra)
        if (unstable, reasons) != (bool(extra.get("unstable")), list(extra.get("unstable_reasons") or [])):
            extra = {**extra, "unstable": unstable, "unstable_reasons": reasons}
        return cls(row["name"], row.get("fullname") or row["name"], group, row.get("params") or {}, row["stats"],
                   extra)

    @property
    def key(self) -> tuple:
        """What identifies a benchmark across runs: its fullname and params."""
        return benchmark_key(self.fullname, self.params)

    @property
    def declared(self) -> Group | None:
        """The schema's group this row belongs to (:func:`lenet.schema.group_of`), or None."""
        return group_of(self.group)

    @property
    def section(self) -> str | None:
        """The report section the row feeds ("inference batch=64" -> inference), or None."""
        return section_of(self.group)

    def get(self, field: str, default=None):
        """An ``extra_info`` field; ``default`` when it is absent or null."""
        value = self.extra.get(field, default)
        return default if value is None else value

    @property
    def median(self) -> float:
        return self.stats["median"]

    @property
    def unstable(self) -> bool:
        return bool(self.extra.get("unstable"))

    @property
    def reasons(self) -> list[str]:
        """Why the row is flagged (empty when it is not)."""
        return list(self.extra.get("unstable_reasons") or [])

    @property
    def batch_size(self):
        return self.extra.get("batch_size", self.params.get("infer_batch", self.params.get("train_batch")))

    @property
    def backend(self) -> str:
        return self.extra.get("backend") or self.params.get("backend_name") or "?"

    @property
    def arch(self) -> str:
        return self.extra.get("arch") or self.params.get("arch_name") or "?"

    @property
    def device(self) -> str:
        return self.extra.get("device") or self.params.get("device") or "?"

    @property
    def ident(self) -> tuple:
        """(backend, arch, device): the headline table's row key within a machine."""
        return self.backend, self.arch, self.device
