"""Re-timing what a disturbed machine flagged, instead of giving up on it.

On a shared host a slow spell lasts minutes (the reference probe reads +60% to +90% with no other process
running), so a figure flagged while it lasted is usually clean when timed again later.  The bench
(``bench/conftest.py``) therefore times every flagged timing again **at the end of the session**, not at once:
right after the flag the spell is most likely still on, while the end of the session is minutes later.  The
re-timing may add at most :data:`BUDGET_FRACTION` of the session's wall time so far; figures are taken in the
order they were flagged, and those that would not fit are left as they are (said at the end of the session).

Each test is run again whole (fixtures, warm-up, the timed call), so every attempt is a complete pytest-benchmark
figure.  The row kept is the first clean attempt (the last one when every attempt was disturbed, and its flag
stays), and it carries every attempt in ``extra_info["attempts"]`` (:func:`attempt_record`): a history records
what was tried, not only what was kept.  A history without ``attempts`` had one attempt.

(pytest-rerunfailures reruns *failed* tests at once; a flagged figure is a passed test, and a rerun at once would
meet the same spell, hence this.)
"""
from __future__ import annotations

from dataclasses import dataclass, field

BUDGET_FRACTION = 0.15  # of the session's wall time so far: what re-timing may add
MAX_ATTEMPTS = 2  # a figure is timed at most this many times in all


def attempt_record(extra: dict, median_s: float) -> dict:
    """What ``extra_info["attempts"]`` keeps of one attempt: its median, its flag and why, the probe's drift."""
    return {"median_s": median_s, "unstable": bool(extra.get("unstable")),
            "unstable_reasons": list(extra.get("unstable_reasons") or []),
            "probe_drift": (extra.get("noise") or {}).get("probe_drift")}


def kept(flags: list[bool]) -> int:
    """The index of the attempt kept among attempts flagged ``flags``: the first clean one, else the last."""
    return next((i for i, flagged in enumerate(flags) if not flagged), len(flags) - 1)


@dataclass
class Plan:
    """Which flagged tests to time again, within the budget, from each one's duration in this session."""

    budget_s: float
    chosen: list = field(default_factory=list)  # node ids, in the order flagged
    left: list = field(default_factory=list)  # node ids that did not fit

    @classmethod
    def make(cls, flagged: list[tuple[str, float]], session_s: float,
             fraction: float = BUDGET_FRACTION) -> Plan:
        """``flagged``: ``(node id, seconds its test took)`` in the order flagged."""
        plan, spent = cls(fraction * session_s), 0.0
        for nodeid, seconds in flagged:
            if spent + seconds <= plan.budget_s:
                plan.chosen.append(nodeid)
                spent += seconds
            else:
                plan.left.append(nodeid)
        return plan
