"""The shards of one run, merged back into one run.

A long profile is split over machines by pytest-split (``pytest bench/ --splits N --group I --run-id ID``, see
:mod:`lenet.study.shards`); each shard saves its own history, whose top-level ``lenet_session`` holds the run id
that all the shards of one run share and the shard's position ``{"group": I, "splits": N}``.  Every reader sees a
run, not a shard: :func:`merge_shards` (applied by :func:`lenet.io.history.load_runs`) joins the shards of each
run id into one :class:`~lenet.io.history.Run`.

What cannot be one run is refused, naming the files: a shard without a run id (it could belong to any run), the
shards of one id from different commits, a shard position given twice, shards that disagree on the number of
splits, and one benchmark measured by two shards.  A missing shard is only noted (a CI job that failed should not
hide the others' figures); the merged run then lacks that shard's benchmarks.
"""
from __future__ import annotations

import warnings
from dataclasses import replace

from ..entry import benchmark_key
from .history import HistoryError, HistoryNote, Run


def shard_of(run: Run) -> tuple[int, int] | None:
    """``(group, splits)`` of a shard's history, or None for an unsharded run."""
    shard = run.session.get("shard")
    return (shard["group"], shard["splits"]) if shard else None


def run_id_of(run: Run) -> str | None:
    return run.session.get("run_id")


def _commit(run: Run) -> str:
    return str(run.commit.get("id") or "no commit")


def _merge(run_id: str, shards: list[Run]) -> Run:
    """One run from the shards of ``run_id`` (each checked to belong with the others)."""
    shards = sorted(shards, key=lambda r: shard_of(r)[0])
    first = shards[0]
    for other in shards[1:]:
        if _commit(other) != _commit(first):
            raise HistoryError(f"run {run_id}: its shards come from different commits ({_commit(first)[:12]} in "
                               f"{first.path}, {_commit(other)[:12]} in {other.path}); a run measures one commit, "
                               f"so give each commit's shards their own run id")
        if shard_of(other)[1] != shard_of(first)[1]:
            raise HistoryError(f"run {run_id}: {first.path} is one of {shard_of(first)[1]} shards but {other.path} "
                               f"one of {shard_of(other)[1]}: the shards of one run share --splits")
    groups = [shard_of(r)[0] for r in shards]
    for a, b in zip(shards, shards[1:]):
        if shard_of(a) == shard_of(b):
            raise HistoryError(f"run {run_id}: shard {shard_of(a)[0]} of {shard_of(a)[1]} appears twice ({a.path} "
                               f"and {b.path}); keep one of them")
    splits = shard_of(first)[1]
    missing = sorted(set(range(1, splits + 1)) - set(groups))
    if missing:
        warnings.warn(f"run {run_id}: shard(s) {', '.join(map(str, missing))} of {splits} missing; the merged run "
                      f"lacks their benchmarks", HistoryNote, stacklevel=4)
    seen: dict = {}
    for run in shards:
        for b in run.benchmarks:
            key = benchmark_key(b.get("fullname") or b["name"], b.get("params"))
            if key in seen:
                raise HistoryError(f"run {run_id}: benchmark {b['name']} is in two shards ({seen[key]} and "
                                   f"{run.path}); shards of one run must split the benchmarks, not repeat them")
            seen[key] = run.path
    session = {k: v for k, v in first.session.items() if k != "shard"}
    return replace(first, datetime=min(r.datetime for r in shards), session=session,
                   benchmarks=[b for r in shards for b in r.benchmarks], sources=tuple(r.path for r in shards))


def merge_shards(runs: list[Run]) -> list[Run]:
    """``runs`` with the shards of each run id merged into one run, placed where its first shard was."""
    order: list = []  # unsharded Runs, and the run id of each sharded run at its first shard's place
    shards: dict[str, list[Run]] = {}
    for run in runs:
        if shard_of(run) is None:
            order.append(run)
            continue
        run_id = run_id_of(run)
        if run_id is None:
            group, splits = shard_of(run)
            raise HistoryError(f"{run.path}: shard {group} of {splits} has no run id (lenet_session.run_id), so it "
                               f"cannot be joined to the other shards of its run; run every shard with the same "
                               f"--run-id (or LENET_RUN_ID)")
        if run_id not in shards:
            order.append(run_id)
        shards.setdefault(run_id, []).append(run)
    return [item if isinstance(item, Run) else _merge(item, shards[item]) for item in order]
