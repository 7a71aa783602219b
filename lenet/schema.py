"""The one place that declares each bench group: its name, the report section it feeds, and how its figure is
judged for trust.

A bench file gives its rows a group (``@pytest.mark.benchmark(group=...)``, often with the batch appended:
"inference batch=64"); :func:`group_of` finds the :class:`Group` a row belongs to by the longest declared
prefix.  Everything that reads rows by group reads this table: the bench's flag (``bench/conftest.py``,
:meth:`lenet.measure.monitor.SessionMonitor.judge`) and the report's sections (:mod:`lenet.report`).

**Trust rules.**  A figure is flagged only by what can disturb it:

* :data:`TIME`: a timing, which a loaded or drifting machine slows; judged by the machine's state around it
  and the spread of its own samples (:func:`lenet.measure.noise.judge`), and re-timed when flagged
  (``bench/conftest.py``);
* :data:`QUEUED`: latencies that include queueing behind random arrivals (LoadGen's server scenario): spread by
  the scenario itself, so judged by the machine's state alone, not by their spread;
* :data:`MEMORY`: a peak RSS taken in fresh processes; judged by its spread over the repeats
  (:func:`lenet.measure.noise.judge_memory`), never by CPU load, which does not change how much memory a
  forward pass needs;
* :data:`DETERMINISTIC`: accuracy, FLOPs, parameters, bytes: no state of the machine changes them, so they
  are never flagged (what pytest-benchmark times in such a row, an evaluation or a counter's run, is a
  side figure and is not judged).
"""
from __future__ import annotations

from dataclasses import dataclass

TIME = "time"
QUEUED = "queued"
MEMORY = "memory"
DETERMINISTIC = "deterministic"
TRUST_RULES = (TIME, QUEUED, MEMORY, DETERMINISTIC)
RETIMED = (TIME, QUEUED)  # the rules whose flagged figures are timed again


@dataclass(frozen=True)
class Group:
    """One bench group: the rows whose group starts with ``prefix``."""

    prefix: str  # the group's name, or its start ("inference" for "inference batch=64")
    section: str  # the report section it feeds
    title: str  # that section's title
    trust: str  # one of TRUST_RULES

    def __post_init__(self):
        if self.trust not in TRUST_RULES:
            raise ValueError(f"group {self.prefix!r}: trust must be one of {TRUST_RULES}, got {self.trust!r}")


# In the report's order.
GROUPS = (
    Group("accuracy", "accuracy", "Accuracy", DETERMINISTIC),
    Group("inference", "inference", "Inference", TIME),
    Group("train-epoch", "training", "Training", TIME),
    Group("scenario", "scenarios", "Scenarios", TIME),
    Group("scenario server", "scenarios", "Scenarios", QUEUED),
    Group("memory", "memory", "Memory", MEMORY),
    Group("flops", "flops", "FLOPs", DETERMINISTIC),
    Group("graph", "graph", "Static vs dynamic graph", TIME),
    Group("compression", "compression", "Compression", TIME),
    Group("mlp-sweep", "mlp-sweep", "MLP sweep", TIME),
    Group("speed-ratio", "speed-ratios", "Speed ratios, interleaved", TIME),
)


def group_of(name: str | None) -> Group | None:
    """The declared group a row's group name belongs to (the longest matching prefix), or None."""
    name = name or ""
    matches = [g for g in GROUPS if name == g.prefix or name.startswith(g.prefix + " ")]
    return max(matches, key=lambda g: len(g.prefix), default=None)


def sections() -> dict[str, tuple[str, tuple[str, ...]]]:
    """``section -> (title, group prefixes)`` in the report's order."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for g in GROUPS:
        title, prefixes = out.get(g.section, (g.title, ()))
        out[g.section] = (title, prefixes + (g.prefix,))
    return out
