"""The users' own commands: ``pytest bench/`` run again and again with ``--benchmark-compare``, and mistakes.

Each run is a real ``pytest bench/`` subprocess (:func:`tests.conftest.run_bench`: its storage lies under
``tmp_path``, outside the project folder, which pytest-benchmark's own machine check could not handle), with
nothing but the options a user types: plain pytest must autosave a history with its raw samples, as
``tox -e bench`` does.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lenet.io.history import load_run

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

ONE = ("-k", "test_accuracy and handcrafted")  # one benchmark: the comparison is what is tested here


def histories(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "storage").glob("*/[0-9][0-9][0-9][0-9]_*.json"))


def output(proc) -> str:
    return proc.stdout + proc.stderr


def test_the_bench_compares_with_its_last_run_and_fails_by_the_rule(bench, tmp_path):
    # a first run asked to compare: nothing saved yet is a notice, not a crash
    first = bench(tmp_path, *ONE, "--benchmark-compare")
    assert first.returncode == 0, output(first)[-3000:]
    assert "no earlier run in" in first.stdout and "this run is the first" in first.stdout
    (saved,) = histories(tmp_path)
    assert f"history saved with its raw samples: {saved}" in first.stdout
    run = load_run(saved)  # its content digest matches what pytest-benchmark wrote
    assert run.benchmarks[0]["stats"]["data"]  # raw samples kept without --benchmark-save-data
    assert len(run.session["content_sha256"]) == 64

    # the same machine again: compared, no machine note, the generous rule passes
    second = bench(tmp_path, *ONE, "--benchmark-compare", "--benchmark-compare-fail=min:100000%")
    assert second.returncode == 0, output(second)[-3000:]
    assert "(NOW)" in second.stdout and f"({saved.name[:4]}_" in second.stdout
    assert "machine_info is different" not in output(second) and "different machine or software" not in output(second)
    assert len(histories(tmp_path)) == 2

    # the last run made 100x faster on paper, from another torch: the rule fails the run with exit status 1,
    # and the machine difference is one line naming the field
    last = histories(tmp_path)[-1]
    doc = json.loads(last.read_text())
    for b in doc["benchmarks"]:
        for key in ("min", "max", "mean", "median"):
            b["stats"][key] /= 100
    doc["machine_info"]["lenet"]["torch_versions"] = {"torch": "0.0.1"}
    last.write_text(json.dumps(doc))
    third = bench(tmp_path, *ONE, "--benchmark-compare", "--benchmark-compare-fail=min:5%")
    text = output(third)
    assert third.returncode == 1, text[-3000:]
    assert "Performance has regressed" in text and "exit status 1" in text and "Traceback" not in text
    (note,) = [line for line in text.splitlines() if "different machine or software" in line]
    assert 'lenet.torch_versions: {"torch": "0.0.1"} ->' in note and len(note) < 1000


@pytest.mark.parametrize("args, expected", [
    (("--threads", "0"), "ERROR: --threads: expected an integer >= 1, got 0"),
    (("--epochs", "-1"), "ERROR: --epochs: expected an integer >= 1, got -1"),
    (("--limit", "0"), "ERROR: --limit: expected an integer >= 1, got 0"),
    (("--dataset", "mnist"), "ERROR: --dataset mnist: cannot download http://127.0.0.1:9/"),
])
def test_a_mistake_through_pytest_is_one_line_before_any_benchmark(tmp_path, args, expected):
    env = {**os.environ, "LENET_CACHE": str(tmp_path / "cache"), "LENET_DATA": str(tmp_path / "no-data"),
           "LENET_MIRROR": "http://127.0.0.1:9/"}  # port 9: refused at once, nothing is downloaded
    proc = subprocess.run([sys.executable, "-m", "pytest", "bench/", "-p", "no:cacheprovider", "-q", *args,
                           f"--benchmark-storage=file://{tmp_path / 'storage'}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=env)
    errors = [line for line in output(proc).splitlines() if line.startswith("ERROR")]
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR and len(errors) == 1, output(proc)[-3000:]
    assert errors[0].startswith(expected) and "Traceback" not in output(proc)
    if args[1] == "mnist":
        assert "--data-dir" in errors[0]  # the advice names an option that pytest bench/ has
    assert not (tmp_path / "storage").exists() or not histories(tmp_path)
