"""Storage that fails under lenet: read-only outputs refused before any work, full disks, concurrent sessions."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lenet.cli import main
from lenet.io.writable import require_bench_outputs_writable, require_writable

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
