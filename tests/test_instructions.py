"""Instruction counts under cachegrind (:mod:`lenet.measure.instructions`), without valgrind itself.

The parsing, the per-call arithmetic, the bad inputs (valgrind absent, failing to start, output that cannot
be parsed), the child natively and the backends' declarations.  Real counts: tests/test_compare_instructions.py.
"""
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lenet.backends import BACKENDS, capabilities, get_backend
from lenet.measure import instructions as cg
from lenet.spec import mlp
from lenet.study.instrument import counted_backends

EVENTS = "Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw"


def cachegrind_file(path: Path, ir: int, misses=(10, 2, 30, 4, 1, 6, 3, 1)) -> Path:
    path.write_text("desc: I1 cache:         32768 B, 64 B, 8-way associative\ncmd: python\n"
                    f"events: {EVENTS}\nfl=x.c\nfn=f\n1 5 0 0\nsummary: {ir} {' '.join(map(str, misses))}\n")
    return path


def test_parse_reads_the_summary_by_event_name(tmp_path):
    counts = cg.parse_cachegrind(cachegrind_file(tmp_path / "cg", 123456))
    assert counts["Ir"] == 123456 and counts["D1mr"] == 4 and counts["DLmw"] == 1 and len(counts) == 9


def test_per_call_is_the_difference_over_k_with_its_cycle_estimate():
    base = dict(zip(EVENTS.split(), (1000, 10, 1, 500, 20, 2, 300, 5, 1)))
    doubled = dict(zip(EVENTS.split(), (1000 + 4 * 250, 10 + 4, 1 + 4, 500, 20 + 8, 2, 300, 5 + 4, 1)))
    c = cg.per_call(base, doubled, 4, "one forward pass at batch 1", "valgrind-3.19.0", "x")
    assert (c.instructions, c.l1_misses, c.ll_misses) == (250, 4, 1)
    assert c.cycles == 250 + 10 * 4 + 100 * 1
    record = c.as_record()
    assert record["cycles_formula"] == cg.CYCLES_FORMULA and record["caches"]["LL"].startswith("8388608 B")
    assert record["calls"] == 4 and record["valgrind"] == "valgrind-3.19.0"


def test_a_miss_count_below_the_start_to_start_residue_reads_zero():
    base = dict.fromkeys(EVENTS.split(), 100) | {"Ir": 1000}
    doubled = base | {"Ir": 2000, "DLmr": 98, "D1mr": 120}
    c = cg.per_call(base, doubled, 10, "call", "valgrind-3.19.0", "x")
    assert (c.instructions, c.l1_misses, c.ll_misses) == (100, 2, 0)


@pytest.mark.parametrize("doubled_ir", [1000, 999])
def test_no_extra_work_between_k_and_2k_is_an_error_never_a_zero_count(doubled_ir):
    base = dict.fromkeys(EVENTS.split(), 0) | {"Ir": 1000}
    with pytest.raises(cg.InstrumentError, match="difference must be positive"):
        cg.per_call(base, base | {"Ir": doubled_ir}, 5, "call", "valgrind-3.19.0", "handcrafted infer")


@pytest.mark.parametrize(("text", "problem"), [
    (None, "cannot read"),
    ("not cachegrind at all\n", "not a cachegrind output file"),
    (f"events: {EVENTS}\nsummary: 1 2 3\n", "does not match its events"),
    (f"events: {EVENTS}\nsummary: 1 2 3 4 5 6 7 8 x\n", "does not match its events"),
    ("events: Ir\nsummary: 100\n", "counted no I1mr"),
])
def test_unparseable_output_is_a_clear_error_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "cachegrind.out"
    if text is not None:
        path.write_text(text)
    with pytest.raises(cg.InstrumentError, match=problem) as e:
        cg.parse_cachegrind(path)
    assert str(path) in str(e.value)


def fake_valgrind(tmp_path: Path, body: str) -> str:
    """An executable standing in for valgrind: ``--version`` answers like 3.19, anything else runs ``body``."""
    path = tmp_path / "valgrind"
    path.write_text(f'#!/bin/sh\nif [ "$1" = --version ]; then echo valgrind-3.19.0; exit 0; fi\n{body}\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


CHILD = ["--backend", "handcrafted", "--weights", "w.npz", "--inputs", "x.npz", "--phase", "infer"]


def test_missing_valgrind_says_how_to_install_it(monkeypatch):
    monkeypatch.setenv("LENET_VALGRIND", "/nonexistent/valgrind")
    with pytest.raises(cg.InstrumentError, match=r"valgrind is not installed \(apt-get install valgrind\)"):
        cg.count_per_call(CHILD, 1, "call")


def test_a_valgrind_that_does_not_start_is_a_one_line_error(tmp_path, monkeypatch):
    broken = tmp_path / "valgrind"
    broken.write_text("#!/bin/sh\necho 'valgrind: failed to start tool' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("LENET_VALGRIND", str(broken))
    with pytest.raises(cg.InstrumentError, match=r"--version failed \(1\): valgrind: failed to start tool"):
        cg.count_per_call(CHILD, 1, "call")


def test_a_failing_counted_run_names_the_child_and_valgrind_s_last_line(tmp_path, monkeypatch):
    monkeypatch.setenv("LENET_VALGRIND", fake_valgrind(tmp_path, "echo '==1== fatal: out of memory' >&2; exit 3"))
    with pytest.raises(cg.InstrumentError, match=r"--calls 2\) failed \(3\): ==1== fatal: out of memory"):
        cg.count_per_call(CHILD, 2, "call")


def test_a_run_that_writes_no_readable_output_is_an_error(tmp_path, monkeypatch):
    # writes garbage to the --cachegrind-out-file it is given (the last valgrind option before python)
    body = 'for a in "$@"; do case "$a" in --cachegrind-out-file=*) echo garbage > "${a#*=}";; esac; done'
    monkeypatch.setenv("LENET_VALGRIND", fake_valgrind(tmp_path, body))
    with pytest.raises(cg.InstrumentError, match="not a cachegrind output file"):
        cg.count_per_call(CHILD, 1, "call")


def test_calls_are_sized_to_the_timed_call():
    assert cg.calls_for(1.0) == 1 and cg.calls_for(0.001) == 30 and cg.calls_for(1e-9) == cg.MAX_CALLS
    with pytest.raises(ValueError, match="positive"):
        cg.calls_for(0.0)


def test_the_child_runs_both_phases_natively(tmp_path):
    backend = get_backend("handcrafted")
    model = backend.build(mlp((8,), input_shape=(1, 4, 4)), seed=0)
    backend.save(model, tmp_path / "w.npz")
    x = np.random.default_rng(0).standard_normal((3, 1, 4, 4), dtype=np.float32)
    cg.write_inputs(tmp_path / "x.npz", x, np.array([0, 1, 2]))
    for phase in ("infer", "train"):
        cg.main(["--backend", "handcrafted", "--weights", str(tmp_path / "w.npz"), "--inputs",
                 str(tmp_path / "x.npz"), "--phase", phase, "--calls", "2"])
    with pytest.raises(SystemExit):
        cg.main(["--backend", "handcrafted", "--weights", "w", "--inputs", "x", "--phase", "infer", "--calls", "-1"])


def test_backends_declaring_counting_impractical_are_left_out_only_when_instrumented():
    impractical = [b for b in BACKENDS if not capabilities(b).counts_instructions]
    assert all(capabilities(b).no_instruction_count.strip() for b in impractical)
    assert counted_backends(BACKENDS, None) == BACKENDS
    assert counted_backends(BACKENDS, "instructions") == tuple(b for b in BACKENDS if b not in impractical)


# --- real counts under valgrind --------------------------------------------------------------------------------


def collect(tmp_path, valgrind: str, *args):
    """``pytest bench/ --collect-only`` of the counted benchmarks, with ``valgrind`` as LENET_VALGRIND."""
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "pytest", "bench/test_inference.py", "bench/test_training.py", "--collect-only",
           "-q", "-p", "no:cacheprovider", f"--benchmark-storage=file://{tmp_path / 'storage'}", *args]
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "LENET_VALGRIND": valgrind})


def test_the_bench_leaves_out_impractical_backends_and_stops_in_one_line_without_valgrind(tmp_path):
    counted = collect(tmp_path, fake_valgrind(tmp_path, "exit 1"), "--instrument", "instructions")
    plain = collect(tmp_path, fake_valgrind(tmp_path, "exit 1"))
    assert counted.returncode == 0 and plain.returncode == 0, counted.stderr + plain.stderr
    for name in BACKENDS:
        if not capabilities(name).counts_instructions:
            assert f"[{name}-" in plain.stdout and f"[{name}-" not in counted.stdout
    missing = collect(tmp_path, "/nonexistent/valgrind", "--instrument", "instructions")
    assert missing.returncode == 4 and "Traceback" not in missing.stderr
    assert ("ERROR: --instrument: valgrind is not installed (apt-get install valgrind): instruction counts need its "
            "cachegrind tool") in missing.stderr
