"""``lenet compare`` on instruction counts: a tight threshold (1% unless told), no resampling.

Doctored histories for the verdicts; under valgrind (skipped without it), two MLPs built from the spec with
5% more MACs on one side, whose counted forward passes compare reads as a regression.
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lenet.backends import get_backend
from lenet.cli import main as cli
from lenet.counting import count
from lenet.io.history import load_run
from lenet.measure import instructions as cg
from lenet.spec import mlp
from lenet.study.compare import COUNTS_DIFFER, IMPROVEMENT, REGRESSION, compare_runs, exit_status


def entry(name, instructions, time_scale=1.0, call="one forward pass at batch 64"):
    samples = np.random.default_rng(len(name)).lognormal(np.log(1e-3 * time_scale), 0.02, 200).tolist()
    record = {"instructions": instructions, "l1_misses": 1.0, "ll_misses": 0.0, "calls": 10, "call": call,
              "valgrind": "valgrind-3.19.0", "caches": {"LL": "8388608 B, 16-way, 64 B lines"}}
    return {"name": name, "fullname": f"bench/test_x.py::{name}", "group": "inference batch=64", "params": {},
            "stats": {"median": float(np.median(samples)), "data": samples},
            "extra_info": {"unstable": False, "unstable_reasons": [], "instructions": record}}


def history(path: Path, benchmarks, when) -> Path:
    path.write_text(json.dumps({"machine_info": {"node": "box"}, "commit_info": {}, "datetime": when,
                                "benchmarks": benchmarks}))
    return path


def judged(tmp_path, base, new, **kw):
    a = history(tmp_path / "base.json", base, "2026-12-01T00:00:00")
    b = history(tmp_path / "new.json", new, "2026-12-02T00:00:00")
    c = compare_runs([load_run(a)], [load_run(b)], **kw)
    return c, {v.name: v for v in c.verdicts}, (a, b)


def test_two_percent_more_instructions_is_a_regression_at_one_percent_whatever_the_time(tmp_path, capsys):
    c, v, (a, b) = judged(tmp_path, [entry("t", 1_000_000), entry("u", 1_000_000)],
                          [entry("t", 1_020_000), entry("u", 1_004_000)])
    assert v["t"].instructions == REGRESSION and v["t"].instruction_ratio == pytest.approx(1.02)
    assert v["u"].instructions == "within ±1%" and exit_status(c) == 1
    assert v["t"].disagrees and "time and instructions disagree" in v["t"].flags  # same time, more work
    assert cli(["compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "1,000,000 -> 1,020,000  x1.0200  regression ⚠" in out
    assert cli(["compare", str(a), str(b), "--threshold-instructions", "3"]) == 0


def test_fewer_instructions_is_an_improvement_and_agrees_with_a_faster_time(tmp_path):
    c, v, _ = judged(tmp_path, [entry("t", 1_000_000)], [entry("t", 800_000, time_scale=0.8)])
    assert v["t"].instructions == IMPROVEMENT and v["t"].time == IMPROVEMENT and not v["t"].disagrees


def test_counts_of_different_calls_are_not_compared(tmp_path):
    c, v, _ = judged(tmp_path, [entry("t", 1_000_000)], [entry("t", 2_000_000, call="one training step at batch 64")])
    assert v["t"].instructions == COUNTS_DIFFER and exit_status(c) == 0


def test_histories_without_counts_are_judged_by_time_alone(tmp_path):
    plain = entry("t", 1)
    del plain["extra_info"]["instructions"]
    c, v, _ = judged(tmp_path, [plain], [entry("t", 1_000_000)])
    assert v["t"].instructions is None and v["t"].instruction_ratio is None


needs_valgrind = pytest.mark.skipif(shutil.which("valgrind") is None,
                                    reason="valgrind is not installed (apt-get install valgrind)")


@needs_valgrind
@pytest.mark.slow
def test_five_percent_more_macs_reads_as_a_regression_at_one_percent(tmp_path):
    """Two MLPs from the spec, the second with 5% more MACs, counted at batch 256 and judged by compare."""
    narrow, wide = mlp((400,)), mlp((420,))
    assert count(wide).macs / count(narrow).macs == pytest.approx(1.05)
    backend = get_backend("handcrafted")
    x = np.random.default_rng(0).standard_normal((256, *narrow.input_shape), dtype=np.float32)
    counted = {}
    for arch in (narrow, wide):
        folder = tmp_path / arch.name
        folder.mkdir()
        backend.save(backend.build(arch, seed=0), folder / "w.npz")
        cg.write_inputs(folder / "x.npz", x)
        args = ["--backend", "handcrafted", "--weights", str(folder / "w.npz"), "--inputs", str(folder / "x.npz"),
                "--phase", "infer"]
        counted[arch.name] = cg.count_per_call(args, 10, "one forward pass at batch 256", work_dir=tmp_path)
    base, new = counted[narrow.name], counted[wide.name]
    assert base.instructions > 0 and base.l1_misses > 0
    print(f"instructions per call: {base.instructions:,.0f} -> {new.instructions:,.0f} "
          f"(x{new.instructions / base.instructions:.4f}); cycles {base.cycles:,.0f} -> {new.cycles:,.0f}")
    entries = [[entry("test_inference", c.instructions)] for c in (base, new)]
    for e, c in zip(entries, (base, new)):
        e[0]["extra_info"]["instructions"] = c.as_record()
    c, v, _ = judged(tmp_path, *entries)
    assert v["test_inference"].instructions == REGRESSION and exit_status(c) == 1


def test_the_report_shows_counts_beside_wall_time_and_flags_a_disagreement(tmp_path):
    from lenet.report import build_report

    def counted(instructions):
        e = entry("test_inference[handcrafted-lenet5-cpu-64]", instructions)
        e["group"] = "inference batch=64"
        e["extra_info"].update(backend="handcrafted", arch="lenet5", device="cpu", batch_size=64)
        e["extra_info"]["instructions"] = cg.per_call(
            dict.fromkeys(cg._EVENTS, 0), dict.fromkeys(cg._EVENTS, 20) | {"Ir": 10 * instructions}, 10,
            "one forward pass at batch 64", "valgrind-3.19.0", "x").as_record()
        return e

    a = history(tmp_path / "base.json", [counted(16_000_000)], "2026-12-01T00:00:00")
    b = history(tmp_path / "new.json", [counted(16_800_000)], "2026-12-02T00:00:00")
    report = build_report([str(a), str(b)], tmp_path / "out", compare=True)
    md = report.readme.read_text()
    assert "Instructions per call (cachegrind, 1 thread)" in md
    # 6 L1 and 6 LL misses a call (3 events of 20 in 10 calls each): cycles = 16,800,000 + 10 x 6 + 100 x 6
    assert "| one forward pass at batch 64 | 999.5 | 16,800,000 | 6 | 6 | 16,800,660 |" in md
    assert "instructions + 10 x L1 misses (I1+D1) + 100 x LL misses" in md
    assert "1.0500× | regression | ⚠ instructions x1.050, time and instructions disagree |" in md
    assert exit_status(report.comparison) == 1
