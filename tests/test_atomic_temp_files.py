"""Writers killed with ``kill -9`` leave temporary files; the next write of the same target sweeps them."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from lenet.data.imagelist import _write_cache
from lenet.init import init_weights
from lenet.io import atomic
from lenet.io import weights as wio
from lenet.spec import build_arch

ROOT = Path(__file__).resolve().parents[1]
# A writer that stops inside atomic_path, its temporary file written and locked, until it is killed.
STALLED = """
import sys, time
from lenet.io.atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half")
    print("ready", flush=True)
    time.sleep(600)
"""


def stalled_writer(target: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", STALLED, str(target)], stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout.readline() == b"ready\n"
    return proc


def kill_writers(target: Path, times: int) -> None:
    for _ in range(times):
        proc = stalled_writer(target)
        proc.kill()  # SIGKILL: no cleanup runs
        proc.wait()
        proc.stdout.close()


def temps(target: Path) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}.*.part"))


ARCH = build_arch("lenet5", 10, (1, 32, 32))
WRITERS = {
    "weights": lambda p: wio.save(p, ARCH, init_weights(ARCH, 0)),
    "history or --json": lambda p: atomic.write_text(p, "{}"),
    "model cache": lambda p: wio.save(p, ARCH, init_weights(ARCH, 0), {"key": "k"}),
    "image cache": lambda p: _write_cache(p, "k", {"train": np.zeros((1, 1, 4, 4), np.uint8)}),
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_no_stale_temporary_file_survives_the_next_write(tmp_path, writer):
    target = tmp_path / "out.npz"
    kill_writers(target, 3)
    assert len(temps(target)) == 1 and not target.exists()  # each killed writer swept its predecessor's
    WRITERS[writer](target)
    assert target.exists() and temps(target) == []


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    target = tmp_path / "h.json"
    live = stalled_writer(target)
    try:
        atomic.write_text(target, "{}")
        assert len(temps(target)) == 1  # the live writer's, still locked
    finally:
        live.kill()
        live.wait()
        live.stdout.close()
    atomic.write_text(target, "{}")
    assert temps(target) == []


def test_other_targets_temporary_files_are_not_touched(tmp_path):
    kill_writers(tmp_path / "a.json", 1)
    atomic.write_text(tmp_path / "b.json", "{}")
    assert len(temps(tmp_path / "a.json")) == 1


def test_concurrent_threads_never_remove_each_others_files(tmp_path):
    target, errors = tmp_path / "t.json", []

    def write(i):
        try:
            for j in range(20):
                atomic.write_text(target, f"{i} {j}")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and temps(target) == [] and target.read_text().split()[1] == "19"
