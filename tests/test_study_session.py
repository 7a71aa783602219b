"""The bench session without pytest's config: options, the --limit subset at every image size, records,
the overall table."""
from types import SimpleNamespace

import pytest

from lenet.backends import BACKENDS
from lenet.measure.monitor import SessionMonitor
from lenet.report.summary import headline
from lenet.study.session import Study, StudyOptions, split_csv


class _Bench:
    """What the session reads of a pytest-benchmark fixture."""

    def __init__(self, group="accuracy", median=None, **params):
        self.name = self.fullname = f"test_{group}[{'-'.join(map(str, params.values()))}]"
        self.group, self.params, self.extra_info = group, params, {}
        self.stats = SimpleNamespace(stats=SimpleNamespace(median=median)) if median is not None else None


def test_split_csv():
    assert split_csv(" a, b,,") == ("a", "b")
    assert split_csv(None) is None and split_csv(" , ") is None


def test_options_are_checked():
    with pytest.raises(ValueError, match=r"--backends: unknown \['nope'\]"):
        StudyOptions(backends=("handcrafted", "nope"))
    with pytest.raises(ValueError, match="--profile: unknown 'slow'"):
        StudyOptions(profile="slow")
    assert StudyOptions().backend_names == BACKENDS == ("handcrafted", "torch", "keras", "onnxruntime", "jax")


def test_limit_applies_at_every_input_size():
    study = Study(StudyOptions(limit=100), SessionMonitor(1))
    for size in (32, 28):
        data = study.dataset_at(size)
        assert data.name == "digits[:100]" and data.input_shape[-1] == size
        assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (100, 32, 32)
    assert study.dataset is study.dataset_at(32) and study.speed_dataset is study.dataset
    assert study.arch_names == ("lenet5",)


def test_record_fills_extra_info_and_the_overall_table():
    study = Study(StudyOptions(limit=100, epochs=2), SessionMonitor(1))
    assert headline(study) is None
    acc, infer = _Bench("accuracy", 0.5), _Bench("inference batch=1", 2e-4, infer_batch=1)
    study.record(acc, "handcrafted", "lenet5", "cpu")
    study.record(infer, "handcrafted", "lenet5", "cpu", batch_size=1)
    study.record(_Bench("inference batch=1024"), "torch", "lenet5", "cpu", batch_size=1024)  # not timed: left out
    study.record(_Bench("graph handcrafted infer batch=64", 1e-3), "handcrafted", "lenet5", "cpu", mode="eager")
    assert acc.extra_info["params"] == 61706 and acc.extra_info["epochs"] == 2
    assert infer.extra_info["batch_size"] == 1 and infer.extra_info["profile"] == "quick"
    infer.extra_info["unstable"] = True  # as the monitor flags it after the body
    title, tables = headline(study)
    assert title == "lenet-bench overall performance (digits, profile quick)"
    header, rule, row = tables.splitlines()[:3]
    assert header.split()[:3] == ["backend", "test", "top-1"] and set(rule) <= {"-", " "}
    assert row.startswith("handcrafted") and "200.0" in row and row.endswith("1")  # 200 µs at batch 1; 1 flagged
    assert "inference µs, batch 1 (median)" in header
    assert "  -  " in row  # figures not run in the session are dashes, not zeros
    assert "torch" not in tables and "61,706" in tables and "416,520" in tables


def test_a_profile_can_have_one_backend_train_an_arch_for_all(monkeypatch, tmp_path):
    from dataclasses import replace

    import numpy as np

    from lenet.backends import get_backend
    from lenet.study import session

    shared = replace(session.PROFILES["quick"], weights_from=(("lenet5", "handcrafted"),))
    monkeypatch.setitem(session.PROFILES, "shared", shared)
    assert shared.weights_source("lenet5") == "handcrafted" and shared.weights_source("lenet5-relu") is None
    study = Study(StudyOptions(profile="shared", limit=100, epochs=1, model_cache=str(tmp_path)), SessionMonitor(1))
    source = study.trained("handcrafted", "lenet5", "cpu")
    borrowed = study.trained("torch", "lenet5", "cpu")
    assert borrowed.weights_from == "handcrafted" and borrowed.train_seconds == source.train_seconds
    theirs, mine = (get_backend(n).get_weights(tm.model) for n, tm in (("handcrafted", source), ("torch", borrowed)))
    assert all(np.array_equal(theirs[k], mine[k]) for k in theirs)
    assert [p.name for p in tmp_path.iterdir()] == [p.name for p in tmp_path.iterdir() if "handcrafted" in p.name]
    assert study.trained("torch", "lenet5-relu", "cpu").weights_from == "torch"  # archs not named train in each
    bench = _Bench("accuracy", 0.5)
    study.record(bench, "torch", "lenet5", "cpu")
    assert bench.extra_info["weights_from"] == "handcrafted"


def test_every_backend_running_one_backends_weights_is_stated_over_its_seeds(monkeypatch):
    from dataclasses import replace

    from lenet.study import session

    profile = replace(session.PROFILES["quick"], seeds=3, seeds_by_backend=(("handcrafted", 5),),
                      weights_from=(("lenet5", "handcrafted"),))
    monkeypatch.setitem(session.PROFILES, "seeded", profile)
    study = Study(StudyOptions(profile="seeded", seed=2), SessionMonitor(1))
    assert study.seeds_for("handcrafted") == (2, 3, 4, 5, 6)
    assert study.seeds_for("torch", "lenet5") == (2, 3, 4, 5, 6)  # runs handcrafted's weights: its seeds
    assert study.seeds_for("torch", "lenet5-relu") == (2, 3, 4)  # trains its own
    assert study.seeds_for("onnxruntime", "lenet5-relu") == (2, 3, 4, 5, 6)  # inference only: handcrafted's
    assert Study(StudyOptions(profile="seeded", seeds=2), SessionMonitor(1)).seeds_for("torch", "lenet5") == (0, 1)
