"""Unit-test fixtures, and the one quick bench run that the end-to-end tests share."""
import subprocess
import sys
from pathlib import Path

import pytest

from lenet.backends import BACKENDS
from lenet.testing import require_backend


@pytest.fixture(params=BACKENDS)
def backend_name(request) -> str:
    """Each backend in turn, skipped with the extra to install when its framework is missing."""
    require_backend(request.param)
    return request.param


ROOT = Path(__file__).resolve().parents[1]


def run_bench(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    """``pytest bench/`` in a subprocess, as a user runs it: digits[:300], 4 epochs, storage under ``tmp_path``."""
    cmd = [sys.executable, "-m", "pytest", "bench/", "-p", "no:cacheprovider", "--dataset", "digits",
           "--limit", "300", "--epochs", "4", "--model-cache", str(tmp_path / "models"),
           f"--benchmark-storage=file://{tmp_path / 'storage'}", "--benchmark-save-data", "-q", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def bench():
    """:func:`run_bench`, for tests that run the bench again on the shared run's folder."""
    return run_bench


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    """The quick profile run once per session (it takes minutes): ``(folder, CompletedProcess)``.

    The history lies under ``folder / "storage"``; tests that alter files copy them first, except the model
    cache, which tests/test_bench_study.py corrupts on purpose after the run.
    """
    tmp = tmp_path_factory.mktemp("bench")
    # Every group, trimmed for CI time: memory probes for one backend, two models of the MLP sweep, no
    # compression (tests/test_compress_runner.py runs that pipeline), and no jax eager training step in the graph
    # group (op by op, its first call compiles every primitive: tests/test_graph_modes.py runs it).
    selection = ("(not memory or handcrafted) and not compression and (not mlp_sweep or mlp-30-torch or lenet5-torch)"
                 " and not jax-train-b64-eager")
    proc = run_bench(tmp, "--benchmark-autosave", "-k", selection)
    return tmp, proc
