"""Storage that fails under lenet: read-only outputs refused before any work, full disks, concurrent sessions."""
from __future__ import annotations

import contextlib
import errno
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lenet.backends import get_backend
from lenet.cli import main
from lenet.data import load_dataset
from lenet.data.imagelist import _write_cache
from lenet.init import init_weights
from lenet.io import atomic, model_cache
from lenet.io import weights as wio
from lenet.io.paths import CacheWarning
from lenet.io.writable import require_bench_outputs_writable, require_writable, storage_lock
from lenet.spec import build_arch
from lenet.training import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def tmpfs(folder: Path, options: str):
    """A tmpfs mounted at ``folder`` with ``options`` (``ro``, ``size=64k``), unmounted after; the test is skipped,
    with the reason, where this process may not mount one (not root, or a container without the capability)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip() or proc.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


# --- read-only outputs: refused before any work ---------------------------------------------------

class Refused(Exception):
    pass


def test_a_read_only_mount_is_refused_naming_the_option(tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        with pytest.raises(Refused, match=rf"^--model-cache {ro / 'models'}: cannot write in {ro} \(Read-only file "
                                          r"system\)$"):
            require_writable(ro / "models", "--model-cache", Refused, folder=True)


@pytest.mark.parametrize("case", ["under /proc", "a file, not a folder", "under a file", "a folder, not a file"])
def test_outputs_that_cannot_be_written_name_the_option(tmp_path, case):
    (tmp_path / "afile").write_text("x")
    path, folder, expected = {
        "under /proc": ("/proc/lenet-x", True, "--out /proc/lenet-x: cannot write in /proc"),
        "a file, not a folder": (tmp_path / "afile", True, f"--out {tmp_path / 'afile'}: is not a folder"),
        "under a file": (tmp_path / "afile" / "x", True, f"--out {tmp_path / 'afile' / 'x'}: {tmp_path / 'afile'} "
                                                         f"is not a folder"),
        "a folder, not a file": (tmp_path, False, f"--out {tmp_path}: is a folder; give a file name"),
    }[case]
    with pytest.raises(Refused, match="^" + expected.replace("(", r"\(")):
        require_writable(path, "--out", Refused, folder=folder)


def test_bench_outputs_are_each_checked(tmp_path):
    fine = tmp_path / "fine"
    require_bench_outputs_writable(fine / "models", f"file://{fine / 'storage'}", fine / "h.json", Refused)
    require_bench_outputs_writable(fine / "models", "elasticsearch+http://host/index", None, Refused)
    with pytest.raises(Refused, match=r"^--model-cache /proc/m: cannot write in /proc"):
        require_bench_outputs_writable("/proc/m", None, None, Refused)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(Refused, match=rf"^--benchmark-storage {tmp_path / 'afile'}/.+: {tmp_path / 'afile'} is not "
                                      r"a folder"):
        require_bench_outputs_writable(fine / "models", str(tmp_path / "afile"), None, Refused)
    with pytest.raises(Refused, match=r"^--benchmark-json /proc/h.json: cannot write in /proc"):
        require_bench_outputs_writable(fine / "models", None, "/proc/h.json", Refused)


def test_the_bench_refuses_a_read_only_model_cache_before_collecting(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pytest", "bench/", "-p", "no:cacheprovider", "-q",
                           "--model-cache", "/proc/lenet-models"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "ERROR: --model-cache /proc/lenet-models: cannot write in /proc" in proc.stderr
    assert "collected" not in proc.stdout


def test_report_refuses_an_unwritable_out_before_reading(capsys, tmp_path):
    assert main(["report", str(tmp_path / "none.json"), "--out", "/proc/lenet-report"]) == 2
    assert capsys.readouterr().err.strip() == ("lenet: error: --out /proc/lenet-report: cannot write in /proc (No "
                                               "such file or directory)")


# --- a full disk ----------------------------------------------------------------------------------

ARCH = build_arch("lenet5", 10, (1, 32, 32))
OLD = b"the previous file"


def _fills_after(limit: int):
    """A stand-in for a write call that writes ``limit`` bytes, then fails as a full disk does."""
    def write(f, data: bytes):
        f.write(data[:limit])
        f.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return write


def _full_text_write(monkeypatch):
    def write_bytes(self, data):
        with open(self, "wb") as f:
            _fills_after(100)(f, data)
    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def _full_savez(monkeypatch):
    monkeypatch.setattr(np, "savez", lambda f, **arrays: _fills_after(1000)(f, b"x" * 5000))


WRITES = {  # what lenet writes: (how the write call is made to fail, the write, what it needs if known)
    "history or --json": (_full_text_write, lambda p: atomic.write_text(p, "{}" * 500), "1,000 bytes"),
    "report (png, csv, html)": (_full_text_write, lambda p: atomic.write_bytes(p, b"\x89PNG" * 300), "1.2 KiB"),
    "weights": (_full_savez, lambda p: wio.save(p, ARCH, init_weights(ARCH, 0)), None),
    "model cache entry": (_full_savez, lambda p: wio.save(p, ARCH, init_weights(ARCH, 0), {"key": "k"}), None),
}


@pytest.mark.parametrize("what", sorted(WRITES))
def test_a_full_disk_keeps_the_previous_file_and_names_the_space_needed(tmp_path, monkeypatch, what):
    fail, write, needs = WRITES[what]
    target = tmp_path / "out"
    target.write_bytes(OLD)
    fail(monkeypatch)
    with pytest.raises(atomic.DiskFull) as err:
        write(target)
    monkeypatch.undo()
    assert target.read_bytes() == OLD and sorted(tmp_path.iterdir()) == [target]  # no temporary file left
    assert err.value.filename == str(target) and err.value.errno == errno.ENOSPC
    needs = re.escape(needs) if needs else r"more than the [0-9,.]+ \w+ written before the disk filled"
    assert re.fullmatch(rf"no space left on the device to write it: it needs {needs}, with [0-9,.]+ \w+ free in "
                        rf"{re.escape(str(tmp_path))}; the previous out is left as it was", err.value.strerror)


def test_a_full_disk_under_the_image_cache_is_a_warning_and_no_file(tmp_path, monkeypatch):
    target = tmp_path / "cache.npz"
    _full_savez(monkeypatch)
    with pytest.warns(CacheWarning, match=rf"cannot write image-list cache {target} \(no space left on the device "
                                          r"to write it: .*\); continuing without it"):
        _write_cache(target, "k", {"train": np.zeros((1, 1, 4, 4), np.uint8)})
    assert list(tmp_path.iterdir()) == []


def test_a_full_tmpfs(tmp_path, capsys):
    with tmpfs(tmp_path / "small", "size=64k") as small:
        target = small / "out.bin"
        target.write_bytes(OLD)
        with pytest.raises(atomic.DiskFull, match=r"it needs 195.3 KiB, with [0-9.]+ KiB free in .*; the previous "
                                                  r"out.bin is left as it was"):
            atomic.write_bytes(target, b"x" * 200_000)
        with pytest.raises(atomic.DiskFull, match=r"it needs more than the [0-9.]+ KiB written before the disk "
                                                  r"filled"):
            wio.save(small / "model.npz", ARCH, init_weights(ARCH, 0))  # 241 KiB of weights
        assert target.read_bytes() == OLD and sorted(small.iterdir()) == [target]
        assert main(["train", "--dry-run", "--save", str(small / "m.npz")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"lenet: error: {small / 'm.npz'}: no space left on the device "
                                                   f"to write it: it needs more than the ")
        assert sorted(small.iterdir()) == [target]


# --- two sessions on one model cache --------------------------------------------------------------

# The first session: trains the model through the cache, holding the entry's lock until its stdin closes.
FIRST_SESSION = """
import sys
from lenet.backends import get_backend
from lenet.data import load_dataset
from lenet.io import model_cache
from lenet.spec import build_arch
from lenet.training import TrainConfig

backend = get_backend("handcrafted")
real_train = backend.train

def train(*args, **kwargs):
    print("training", flush=True)
    sys.stdin.read()
    return real_train(*args, **kwargs)

backend.train = train
model_cache.train_or_load(backend, build_arch("lenet5", 10, (1, 32, 32)),
                          load_dataset("digits").subset(train=64, val=32, test=32),
                          TrainConfig(epochs=1, batch_size=32), cache_dir=sys.argv[1], progress=False)
"""


def test_a_second_session_waits_for_the_first_and_loads_what_it_trained(tmp_path, monkeypatch):
    backend = get_backend("handcrafted")
    data = load_dataset("digits").subset(train=64, val=32, test=32)
    config = TrainConfig(epochs=1, batch_size=32)
    first = subprocess.Popen([sys.executable, "-c", FIRST_SESSION, str(tmp_path)], cwd=ROOT, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert first.stdout.readline() == "training\n"  # it holds the entry's lock now
        monkeypatch.setattr(backend, "train", lambda *a, **k: pytest.fail("trained a second time"))
        notes, result = [], []
        second = threading.Thread(target=lambda: result.append(model_cache.train_or_load(
            backend, ARCH, data, config, cache_dir=tmp_path, progress=False, on_wait=notes.append)))
        second.start()
        deadline = time.monotonic() + 60
        while not notes and time.monotonic() < deadline:
            time.sleep(0.05)
        entry = next(tmp_path.glob(".*.npz.lock")).name.removeprefix(".").removesuffix(".lock")
        assert notes == [f"waiting for another session to train {entry}"] and second.is_alive()
        first.stdin.close()  # the first session trains and stores its model, then releases the lock
        assert first.wait(timeout=120) == 0
        second.join(timeout=120)
    finally:
        first.kill()
        first.wait()
        first.stdout.close()
    assert notes[1:] == [None] and result and result[0].cached
    assert [p.name for p in tmp_path.glob("*.npz")] == [entry] and not list(tmp_path.glob(".*.part"))


# Two sessions of one commit started in the same second would pick the same history name if they saved together.
SAVER_CONFTEST = """
from bench.conftest import SaveOneAtATime
from lenet.io.writable import storage_lock

def pytest_configure(config):
    config.pluginmanager.register(SaveOneAtATime(storage_lock(config.getoption("benchmark_storage"))))
"""
TIMED = """
def test_timed(benchmark):
    benchmark(lambda: None)
    print("timed", flush=True)
"""


def test_a_session_saves_its_history_only_under_the_storage_lock(tmp_path):
    (tmp_path / "conftest.py").write_text(SAVER_CONFTEST)
    (tmp_path / "test_timed.py").write_text(TIMED)
    storage = tmp_path / "storage"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with storage_lock(str(storage)):  # another session, saving now
        session = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                                    "--benchmark-autosave", f"--benchmark-storage={storage}", "test_timed.py"],
                                   cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert any("timed" in line for line in session.stdout)
            time.sleep(1)  # ample for a save that did not wait: it follows the test within milliseconds
            assert session.poll() is None and not list(storage.rglob("*.json"))
        except BaseException:
            session.kill()
            raise
    output = session.communicate(timeout=120)[0]
    assert session.returncode == 0, output
    assert len(list(storage.rglob("*.json"))) == 1
