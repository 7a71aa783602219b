"""One bench session as a shard of a run: its run id, its position, and where pytest-split keeps durations.

pytest-benchmark cannot run under pytest-xdist, so a long profile is spread over machines the way CI does it:
each machine runs ``pytest bench/ --splits N --group I --run-id ID`` (pytest-split picks the I-th of N groups,
balanced by the durations of the last run) and saves its own history.  The session writes beside its benchmarks,
in the history's top-level ``lenet_session``, the run id that the shards of one run share and its position
``{"group": I, "splits": N}``; :mod:`lenet.io.shards` merges the shards back into one run when histories are read.

The durations file lives beside the histories (``<benchmark storage>/.test_durations``, refreshed by pytest-split's
``--store-durations``), so that a storage folder carries what balances its next run.
"""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

RUN_ID_ENV = "LENET_RUN_ID"
DURATIONS_FILE = ".test_durations"


class ShardError(ValueError):
    """A sharded session that could not be merged afterwards (no run id shared by its shards)."""


def session_identity(run_id: str | None, splits: int | None, group: int | None) -> dict:
    """What a session saves in ``lenet_session``: its run id and, when it is a shard, its position.

    ``run_id`` is ``--run-id``, else :data:`RUN_ID_ENV`.  A shard needs one given (its sibling shards, on other
    machines, must carry the same); an unsharded session gets a fresh one (UTC time and random hex).
    """
    run_id = run_id or os.environ.get(RUN_ID_ENV) or None
    if run_id is not None and (not run_id.strip() or "\n" in run_id):
        raise ShardError(f"run id {run_id!r}: expected a non-empty one-line name (e.g. the CI run number)")
    if splits is None:
        return {"run_id": run_id or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(4)}
    if run_id is None:
        raise ShardError(f"shard {group} of {splits} needs a run id that all {splits} shards share, or their "
                         f"histories cannot be merged: pass --run-id ID (or set {RUN_ID_ENV}), e.g. the CI run number")
    return {"run_id": run_id, "shard": {"group": group, "splits": splits}}


def durations_path(storage: str) -> Path | None:
    """pytest-split's durations file beside the histories of a ``--benchmark-storage`` (None: not a folder)."""
    if "://" in storage and not storage.startswith("file://"):
        return None  # elasticsearch storage: no folder to keep it in
    return Path(storage.removeprefix("file://")) / DURATIONS_FILE
