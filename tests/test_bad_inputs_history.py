"""Bad benchmark histories: refused with the file, benchmark and field named; odd files skipped, never waited on."""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from lenet.io.history import HistoryError, HistoryNote, load_run, load_runs
from lenet.study.speed_targets import check

HISTORIES = Path(__file__).resolve().parents[1] / "docs" / "history"


def _bench(backend: str) -> dict:
    return {"name": f"test_infer[{backend}]", "fullname": f"bench/test_inference.py::test_infer[{backend}]",
            "group": "inference batch=1", "params": {"backend_name": backend},
            "stats": {"min": 1e-4, "max": 2e-4, "mean": 1.5e-4, "stddev": 1e-5, "median": 1.5e-4, "iqr": 1e-5,
                      "rounds": 3, "iterations": 1, "data": [1e-4, 1.5e-4, 2e-4]},
            "extra_info": {"backend": backend, "arch": "lenet5", "batch_size": 1, "device": "cpu",
                           "test_top1": 0.98, "history": [{"epoch": 1, "train_loss": 0.5, "val_top1": 0.9}]}}


GOOD = {"machine_info": {"node": "box", "cpu": {"brand_raw": "cpu"}, "lenet": {"gpu": None}}, "commit_info": {},
        "datetime": "2026-11-22T00:00:00", "benchmarks": [_bench("torch"), _bench("handcrafted")]}


# a row's ratio to its reference in interleaved rounds (lenet.study.contenders.pair_ratio)
RATIO = {"reference": "handcrafted", "median": 1.2, "low": 1.1, "high": 1.4, "confidence": 0.95, "rounds": 9}


def write(folder: Path, doc, name: str = "h.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(doc))
    return path


def with_field(dotted: str, value) -> dict:
    """GOOD with one field of the handcrafted benchmark ("b.") or of the document set to ``value``."""
    doc = copy.deepcopy(GOOD)
    target, keys = doc, dotted.split(".")
    if dotted.startswith("b."):
        target, keys = doc["benchmarks"][1], keys[1:]
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value
    return doc


def test_a_good_history_and_the_real_ones_load(tmp_path):
    assert [r["passed"] for r in check(load_run(write(tmp_path, GOOD)))] == [False]  # judged: 1x, not 1.1x
    assert sum(len(run.benchmarks) for run in load_runs([HISTORIES])) > 50  # every field of real runs passes


def test_a_ratio_reads_and_a_history_before_ratios_still_reads(tmp_path):
    paired = load_run(write(tmp_path, with_field("b.extra_info.ratio", RATIO), "paired.json"))
    assert paired.benchmarks[1]["extra_info"]["ratio"] == RATIO
    old = load_run(write(tmp_path, GOOD, "old.json"))  # written before ratios: none on any row
    assert not any("ratio" in b["extra_info"] for b in old.benchmarks)
    assert [r["passed"] for r in check(old)] == [False]


def test_a_history_without_raw_samples_is_valid(tmp_path):
    doc = copy.deepcopy(GOOD)
    for b in doc["benchmarks"]:
        del b["stats"]["data"]
    assert len(load_run(write(tmp_path, doc)).benchmarks) == 2


@pytest.mark.parametrize("dotted, value, expected", [
    ("b.stats.median", float("nan"), "a finite number > 0"),
    ("b.stats.median", float("inf"), "a finite number > 0"),
    ("b.stats.median", -1.0, "a finite number > 0"),
    ("b.stats.median", 0.0, "a finite number > 0"),
    ("b.stats.median", "fast", "a finite number > 0"),
    ("b.stats.median", True, "a finite number > 0"),
    ("b.stats.median", None, "stats has no 'median'"),
    ("b.stats.iqr", -1.0, "a finite number >= 0"),
    ("b.stats.rounds", 2.5, "an integer >= 1"),
    ("b.stats.data", [], "a non-empty list of times"),
    ("b.stats.data", [1e-4, float("nan")], "item 1 is nan"),
    ("b.stats.data", [1e-4, -1e-4], "item 1 is -0.0001"),
    ("b.stats.data", [float("inf")], "item 0 is inf"),
    ("b.stats.data", ["1e-4"], "item 0 is '1e-4'"),
    ("b.stats.data", "1,2", "a non-empty list of times"),
    ("b.stats", [1, 2], "stats is [1, 2]; expected an object"),
    ("b.extra_info", "x", "extra_info is 'x'; expected an object"),
    ("b.extra_info.backend", 3, "extra_info.backend is 3; expected a string"),
    ("b.extra_info.test_top1", 1.7, "a fraction in [0, 1]"),
    ("b.extra_info.test_top1", "high", "a fraction in [0, 1]"),
    ("b.extra_info.batch_size", 0, "an integer >= 1"),
    ("b.extra_info.batch_size", "1", "an integer >= 1"),
    ("b.extra_info.first_call_s", -1.0, "a finite number > 0"),
    ("b.extra_info.params", -5, "an integer >= 0"),
    ("b.extra_info.history", "abc", "a list of per-epoch rows"),
    ("b.extra_info.history", [1, 2], "row 0 is 1"),
    ("b.extra_info.flop_counters", [1], "an object"),
    ("b.name", 7, "name is 7; expected a string"),
    ("b.group", 7, "group is 7; expected a string"),
    ("b.params", [1], "params is [1]; expected an object"),
    ("machine_info.lenet", "x", "machine_info.lenet is 'x'"),
    ("machine_info.cpu", "x", "machine_info.cpu is 'x'"),
    ("machine_info.lenet.gpu", 3, "machine_info.lenet.gpu is 3"),
    ("machine_info.lenet.parts_wall_s", {"accuracy": "slow"}, "an object of part name -> seconds >= 0"),
    ("machine_info.lenet.parts_wall_s", [1], "machine_info.lenet.parts_wall_s is [1]"),
    ("machine_info", [1], "machine_info is [1]"),
    ("b.extra_info.attempts", [], "a non-empty list of attempts"),
    ("b.extra_info.attempts", [{"median_s": 0.1, "unstable": "no"}], "but attempt 0 is"),
    ("b.extra_info.attempts", [{"median_s": -1, "unstable": False}], "{median_s > 0, unstable: true/false"),
    ("b.extra_info.trust_rule", "vibes", "one of time, queued, memory, deterministic"),
    ("b.extra_info.lenet_format", 99, "a lenet format from 1 to 2 (a newer one was written by a newer lenet-bench"),
    ("b.extra_info.seed_spread", {"test_top1": {"values": [0.9, 1.2], "seeds": [0, 1], "mean": 1.05}},
     "per-seed values that are fractions in [0, 1], but test_top1.values is [0.9, 1.2]"),
    ("b.extra_info.seed_spread", {"test_top1": {"values": [0.9, float("nan")], "seeds": [0, 1], "mean": 0.9}},
     "test_top1.values is [0.9, nan]"),
    ("b.extra_info.seed_spread", {"test_top1": {"values": [], "seeds": [], "mean": 0.9}}, "test_top1.values is []"),
    ("b.extra_info.seed_spread", {"test_top1": {"values": [0.9], "seeds": [0, 1], "mean": 0.9}},
     "one integer seed per value"),
    ("b.extra_info.infer_peak_rss_repeats_mib", [1.0, "x"], "a list of finite numbers >= 0"),
    ("b.extra_info.ratio", [1], "extra_info.ratio is [1]; expected an object"),
    ("b.extra_info.ratio", {**RATIO, "reference": ""}, "extra_info.ratio is {'reference': ''"),
    ("b.extra_info.ratio", {**RATIO, "reference": ""}, "a ratio whose 'reference' is a non-empty string"),
    ("b.extra_info.ratio", {**RATIO, "median": float("nan")}, "a ratio whose 'median' is a finite number > 0"),
    ("b.extra_info.ratio", {**RATIO, "low": 0.0}, "a ratio whose 'low' is a finite number > 0, but it is 0.0"),
    ("b.extra_info.ratio", {**RATIO, "high": "2"}, "a ratio whose 'high' is a finite number > 0"),
    ("b.extra_info.ratio", {**RATIO, "low": 1.5}, "low <= median <= high, but they are 1.5, 1.2, 1.4"),
    ("b.extra_info.ratio", {**RATIO, "rounds": 3}, "a ratio whose 'rounds' is an integer >= 6, but it is 3"),
    ("b.extra_info.ratio", {**RATIO, "rounds": 9.0}, "a ratio whose 'rounds' is an integer >= 6"),
    ("b.extra_info.ratio", {**RATIO, "confidence": 95}, "a ratio whose 'confidence' is a fraction in (0, 1)"),
    ("lenet_session", [1], "lenet_session is [1]; expected an object"),
    ("lenet_session.parts_wall_s", {"accuracy": -1}, "an object of part name -> seconds >= 0"),
    ("lenet_session.probe_reference_s", 0, "lenet_session.probe_reference_s is 0; expected a finite number > 0"),
    ("lenet_session.ceiling", 7, "lenet_session.ceiling is 7; expected an object"),
    ("datetime", 5, "datetime is 5; expected a string"),
    ("commit_info", [1], "commit_info is [1]"),
])
def test_every_field_the_readers_use_is_checked(tmp_path, dotted, value, expected):
    path = write(tmp_path, with_field(dotted, value))
    with pytest.raises(HistoryError) as err:
        load_run(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and expected in message
    if dotted.startswith("b.") and dotted != "b.name":
        assert "benchmarks[1] (test_infer[handcrafted])" in message


@pytest.mark.parametrize("data", [b"", b"[1, 2]", b"[" * 100_000 + b"]" * 100_000, "é".encode("latin-1"),
                                  json.dumps(GOOD).replace('"median": 0.00015', '"median": ' + "9" * 5000).encode()])
def test_unreadable_documents_name_the_file(tmp_path, data):
    path = tmp_path / "bad.json"
    path.write_bytes(data)
    with pytest.raises(HistoryError, match=f"^{path}: "):
        load_run(path)


def test_a_zero_torch_time_is_refused_not_judged(tmp_path):
    doc = copy.deepcopy(GOOD)
    doc["benchmarks"][0]["stats"]["median"] = 0.0  # would divide by zero, or pass a ratio of 0
    with pytest.raises(HistoryError, match=r"benchmarks\[0\] \(test_infer\[torch\]\): stats.median is 0.0"):
        check(load_run(write(tmp_path, doc)))


def test_entries_without_backend_are_not_paired(tmp_path):
    doc = with_field("b.extra_info.backend", None)
    assert check(load_run(write(tmp_path, doc))) == []


def _odd_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "storage"
    folder.mkdir()
    write(folder, GOOD, "0001_good.json")
    os.mkfifo(folder / "fifo.json")
    (folder / "dir.json").mkdir()
    os.symlink("loop-b.json", folder / "loop-a.json")
    os.symlink("loop-a.json", folder / "loop-b.json")
    os.symlink("nowhere.json", folder / "dangling.json")
    return folder


def test_a_folder_skips_fifos_folders_and_broken_links_with_a_note(tmp_path):
    folder = _odd_folder(tmp_path)
    with pytest.warns(HistoryNote) as notes:
        runs = load_runs([folder])
    assert [run.path.name for run in runs] == ["0001_good.json"]
    text = " | ".join(str(n.message) for n in notes)
    for name in ("fifo.json", "dir.json", "loop-a.json", "loop-b.json", "dangling.json"):
        assert name in text
    assert "FIFO" in text and "Too many levels of symbolic links" in text


@pytest.mark.parametrize("name, why", [("fifo.json", "not a regular file but a FIFO"),
                                       ("loop-a.json", "Too many levels of symbolic links"),
                                       ("dangling.json", "no such file")])
def test_a_non_file_named_directly_is_refused_at_once(tmp_path, name, why):
    folder = _odd_folder(tmp_path)
    with pytest.raises(HistoryError, match=f"{name}: .*{why}"):
        load_runs([folder / name])


def test_a_history_edited_after_it_was_saved_is_refused_by_its_digest(tmp_path):
    from lenet.io.history import content_digest

    doc = copy.deepcopy(GOOD)
    doc["lenet_session"] = {"content_sha256": content_digest(doc)}
    assert load_run(write(tmp_path, doc)).benchmarks  # as saved: accepted
    doc["benchmarks"][1]["stats"]["median"] *= 0.5  # a figure changed by hand
    path = write(tmp_path, doc)
    with pytest.raises(HistoryError, match="content does not match its lenet_session.content_sha256"):
        load_run(path)
    del doc["lenet_session"]["content_sha256"]  # the way to accept an edit made on purpose
    edited = load_run(write(tmp_path, doc)).benchmarks[1]["stats"]["median"]
    assert edited == GOOD["benchmarks"][1]["stats"]["median"] / 2
