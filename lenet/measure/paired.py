"""Interleaved, paired timings: how many times faster one contender is than another, measured round by round.

The benchmark suite times one backend after another, minutes apart.  On a shared machine a slow spell that
falls between two rows biases their ratio: on the 2-core box the reference probe once read 4.5 times its
session's first value, with no other process using the CPU (a neighbour on the host, presumably). Here
every round times each contender in turn, a block of calls each, in an order that rotates from round to
round, so a slow spell lands on all of them alike; the ratio is taken within each round, and its median over
the rounds is given with the exact order-statistic interval of :func:`lenet.measure.stats.quantile_interval`.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .stats import CONFIDENCE, quantile_interval
from .timing import median_seconds

MIN_ROUNDS = 6  # the fewest rounds whose median has a 95% order-statistic interval
# Idle seconds before a block that follows another contender's, so that the thread pools of the contender before
# have stopped spinning: OpenBLAS's workers spin for about 2**28 cycles (0.1 s) after their last call, and a block
# that began meanwhile would share its cores with them.  A block that follows its own contender's (two
# contenders' rounds run A B, B A, A B, ...) needs none: its calls follow each other so within a block too.
GAP_S = 0.15
WARMUP_CALLS = 3


@dataclass(frozen=True)
class Paired:
    """Per-call seconds of each contender, one figure per round (``per_call_s[name][r]``)."""

    per_call_s: dict
    calls_per_block: dict

    @classmethod
    def from_dict(cls, record: dict | None) -> Paired | None:
        """The :meth:`as_dict` record of a history's ``extra_info["paired"]``, or None where there is none."""
        if not isinstance(record, dict) or not isinstance(record.get("per_call_s"), dict):
            return None
        return cls({k: list(v) for k, v in record["per_call_s"].items()}, dict(record.get("calls_per_block") or {}))

    def median_s(self, name: str) -> float:
        return float(np.median(self.per_call_s[name]))

    def median_interval_s(self, name: str, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """The ``confidence`` order-statistic interval of ``name``'s median per-call time."""
        return quantile_interval(self.per_call_s[name], 0.5, confidence)

    def speedup(self, name: str, over: str, confidence: float = CONFIDENCE) -> dict:
        """How many times faster ``name`` ran than ``over``: the median over rounds of ``t(over) / t(name)``.

        ``low`` and ``high`` bound the median with ``confidence``.
        """
        ratios = np.asarray(self.per_call_s[over]) / np.asarray(self.per_call_s[name])
        low, high = quantile_interval(ratios, 0.5, confidence)
        return {"median": float(np.median(ratios)), "low": float(low), "high": float(high),
                "confidence": confidence, "rounds": len(ratios)}

    def as_dict(self) -> dict:
        return {"per_call_s": {k: [float(t) for t in v] for k, v in self.per_call_s.items()},
                "calls_per_block": dict(self.calls_per_block)}


class Interleaved:
    """Times each of ``calls`` in interleaved rounds, one block of calls each.

    A block is as many calls as last about ``block_s`` (calibrated once per contender, at least one, after
    :data:`WARMUP_CALLS` calls that trace, compile and fill caches), and follows ``gap_s`` of idling unless
    the block before was its own contender's.
    :meth:`round` runs one round, starting with contender ``r mod len(calls)`` in round ``r``;
    :meth:`result` gives what the rounds measured.
    """

    def __init__(self, calls: dict[str, Callable[[], object]], block_s: float, gap_s: float = GAP_S):
        self.calls = dict(calls)
        self.names = list(self.calls)
        self.per_block = {name: max(1, round(block_s / median_seconds(fn, repeats=3, warmup=WARMUP_CALLS)))
                          for name, fn in self.calls.items()}
        self.per_call: dict = {name: [] for name in self.names}
        self.gap_s = gap_s
        self.last: str | None = None  # whose block ran last (calibration ran every contender: None)

    def round(self) -> None:
        r = len(self.per_call[self.names[0]]) % len(self.names)
        for name in self.names[r:] + self.names[:r]:
            fn, n = self.calls[name], self.per_block[name]
            if name != self.last:
                time.sleep(self.gap_s)
            self.last = name
            start = time.perf_counter()
            for _ in range(n):
                fn()
            self.per_call[name].append((time.perf_counter() - start) / n)

    def result(self) -> Paired:
        rounds = len(self.per_call[self.names[0]])
        if rounds < MIN_ROUNDS:
            raise ValueError(f"{rounds} rounds ran; an interval of the median needs at least {MIN_ROUNDS}")
        return Paired({k: list(v) for k, v in self.per_call.items()}, dict(self.per_block))
