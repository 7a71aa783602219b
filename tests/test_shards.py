"""Sharded runs: the session's run id and position, and the shards of one run read back as one run."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lenet.cli import main
from lenet.io.history import HistoryNote, load_run, load_runs
from lenet.study.shards import DURATIONS_FILE, RUN_ID_ENV, ShardError, durations_path, session_identity

ROOT = Path(__file__).resolve().parents[1]


def bench(name, scale=1.0):
    data = [float(v) for v in np.random.default_rng(len(name)).lognormal(np.log(1e-3 * scale), 0.05, 60)]
    return {"name": name, "fullname": f"bench/test_x.py::{name}", "group": "inference batch=1", "params": {},
            "stats": {"median": float(np.median(data)), "data": data},
            "extra_info": {"unstable": False, "unstable_reasons": []}}


def shard(path: Path, names, group, splits=3, run_id="ci-7", commit="a" * 40, when="2026-12-01T10:00:00",
          scale=1.0) -> Path:
    session = {"shard": {"group": group, "splits": splits}}
    if run_id is not None:
        session["run_id"] = run_id
    path.write_text(json.dumps({"machine_info": {"node": f"runner-{group}"}, "commit_info": {"id": commit},
                                "datetime": when, "lenet_session": session,
                                "benchmarks": [bench(n, scale) for n in names]}))
    return path


def three_shards(folder: Path, **kw) -> Path:
    folder.mkdir(exist_ok=True)
    for group, names in enumerate((["test_a", "test_b"], ["test_c"], ["test_d", "test_e"]), start=1):
        shard(folder / f"000{group}_shard.json", names, group, when=f"2026-12-01T10:0{group}:00", **kw)
    return folder


def test_the_shards_of_a_run_read_as_one_run(tmp_path):
    folder = three_shards(tmp_path / "h")
    (folder / "0000_plain.json").write_text(json.dumps({"machine_info": {}, "datetime": "2026-11-30T00:00:00",
                                                        "benchmarks": [bench("test_a")]}))
    plain, merged = load_runs([folder])
    assert plain.session == {} and plain.files == (folder / "0000_plain.json",)  # a history without a run id
    assert [b["name"] for b in merged.benchmarks] == ["test_a", "test_b", "test_c", "test_d", "test_e"]
    assert merged.session == {"run_id": "ci-7"}
    assert [p.name for p in merged.files] == ["0001_shard.json", "0002_shard.json", "0003_shard.json"]
    assert merged.datetime == "2026-12-01T10:01:00"  # when the run began


def test_compare_sees_one_run_per_side(tmp_path, capsys):
    base = three_shards(tmp_path / "base")
    new = three_shards(tmp_path / "new", run_id="ci-8", scale=1.5)
    assert main(["compare", str(base), str(new)]) == 1
    out = capsys.readouterr().out
    assert "base: 1 run(s) (0001_shard.json+0002_shard.json+0003_shard.json)" in out
    assert "5 compared, 5 regression(s)" in out


def test_a_missing_shard_is_noted_and_the_others_kept(tmp_path):
    folder = three_shards(tmp_path / "h")
    (folder / "0002_shard.json").unlink()
    with pytest.warns(HistoryNote, match=r"run ci-7: shard\(s\) 2 of 3 missing"):
        (run,) = load_runs([folder])
    assert len(run.benchmarks) == 4


@pytest.mark.parametrize(("doctor", "message"), [
    (lambda f: shard(f / "0002_shard.json", ["test_c"], 2, run_id=None),
     r"0002_shard.json: shard 2 of 3 has no run id \(lenet_session.run_id\)"),
    (lambda f: shard(f / "0002_shard.json", ["test_c"], 2, commit="b" * 40),
     r"run ci-7: its shards come from different commits \(aaaaaaaaaaaa in .*0001_shard.json, bbbbbbbbbbbb in "),
    (lambda f: shard(f / "0004_shard.json", ["test_f"], 2),
     r"run ci-7: shard 2 of 3 appears twice"),
    (lambda f: shard(f / "0002_shard.json", ["test_c"], 2, splits=4),
     r"run ci-7: .*0001_shard.json is one of 3 shards but .*0002_shard.json one of 4"),
    (lambda f: shard(f / "0002_shard.json", ["test_c", "test_a"], 2),
     r"run ci-7: benchmark test_a is in two shards"),
])
def test_shards_that_are_not_one_run_are_refused_in_one_line(tmp_path, capsys, doctor, message):
    folder = three_shards(tmp_path / "h")
    doctor(folder)
    assert main(["compare", str(folder), str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lenet: error: ")
    assert re.search(message, err), err


@pytest.mark.parametrize(("session", "field"), [
    ({"run_id": ""}, "lenet_session.run_id is ''"),
    ({"run_id": 7}, "lenet_session.run_id is 7"),
    ({"run_id": "x", "shard": {"group": 4, "splits": 3}}, "lenet_session.shard is"),
    ([], "lenet_session is []"),
])
def test_a_malformed_session_names_its_field(tmp_path, session, field):
    path = tmp_path / "h.json"
    path.write_text(json.dumps({"machine_info": {}, "benchmarks": [], "lenet_session": session}))
    with pytest.raises(ValueError, match=f"h.json: {field}".replace("[", r"\[").replace("]", r"\]")):
        load_run(path)


def test_a_shard_needs_a_run_id_and_an_unsharded_session_gets_one(monkeypatch):
    monkeypatch.delenv(RUN_ID_ENV, raising=False)
    with pytest.raises(ShardError, match="shard 2 of 3 needs a run id that all 3 shards share"):
        session_identity(None, 3, 2)
    assert session_identity("ci-9", 3, 2) == {"run_id": "ci-9", "shard": {"group": 2, "splits": 3}}
    monkeypatch.setenv(RUN_ID_ENV, "from-env")
    assert session_identity(None, 3, 1)["run_id"] == "from-env"
    monkeypatch.delenv(RUN_ID_ENV)
    first, second = session_identity(None, None, None), session_identity(None, None, None)
    assert set(first) == {"run_id"} and first != second


def test_durations_live_beside_the_histories():
    assert durations_path("file://./.benchmarks/cpu") == Path(".benchmarks/cpu") / DURATIONS_FILE
    assert durations_path("/tmp/h") == Path("/tmp/h") / DURATIONS_FILE
    assert durations_path("elasticsearch+https://host/index") is None



def _collect(*args):
    proc = subprocess.run([sys.executable, "-m", "pytest", "bench/", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "--profile", "quick", *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != RUN_ID_ENV})
    return proc.returncode, proc.stdout + proc.stderr, [line for line in proc.stdout.splitlines() if "::" in line]


@pytest.mark.slow
def test_three_shards_split_the_benchmarks_of_one_run_exactly(tmp_path):
    absent = ["--durations-path", str(tmp_path / "none.json")]  # no durations: split by count
    rc, out, _ = _collect("--splits", "3", "--group", "2", *absent)
    assert rc == 4 and "shard 2 of 3 needs a run id that all 3 shards share" in out, out[-2000:]
    rc, out, whole = _collect()
    assert rc == 0, out[-2000:]
    shards = []
    for group in (1, 2, 3):
        rc, out, ids = _collect("--splits", "3", "--group", str(group), "--run-id", "t", *absent)
        assert rc == 0 and ids, out[-2000:]
        shards.append(ids)
    assert sorted(i for ids in shards for i in ids) == sorted(whole)


@pytest.mark.slow
def test_two_real_shards_save_their_run_id_and_read_back_as_one_run(tmp_path):
    """The bench's hooks end to end on its cheapest benchmark (handcrafted FLOP counts, nothing trained)."""
    storage = tmp_path / "storage"
    for group in (1, 2):
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "bench/test_flops.py", "-p", "no:cacheprovider", "-q",
             "--backends", "handcrafted", "--archs", "lenet5,lenet5-relu", "--splits", "2", "--group", str(group),
             "--run-id", "t-2", "--store-durations", f"--benchmark-storage=file://{storage}", "--benchmark-autosave",
             "--benchmark-save-data"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert json.loads((storage / DURATIONS_FILE).read_text())  # pytest-split's durations, beside the histories
    files = sorted(storage.rglob("*.json"))
    sessions = [load_run(f).session for f in files]  # beside whatever else the session records there
    assert [(s["run_id"], s["shard"]) for s in sessions] == [("t-2", {"group": g, "splits": 2}) for g in (1, 2)]
    (run,) = load_runs([storage])
    assert sorted(b["name"] for b in run.benchmarks) == ["test_flops[handcrafted-lenet5-cpu]",
                                                         "test_flops[handcrafted-lenet5-relu-cpu]"]
