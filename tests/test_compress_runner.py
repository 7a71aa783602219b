"""The compression record: exactly the report's fields, honest executed MACs, and the fresh-process probe."""
from __future__ import annotations

import numpy as np
import pytest

from lenet.backends import get_backend
from lenet.compress import runner as R
from lenet.measure.memory import peak_rss_artifact
from lenet.measure.sizes import int8_dense_bytes
from lenet.spec import lenet5
from lenet.training import TrainConfig


@pytest.fixture(scope="module")
def digits():
    from lenet.data import load_dataset

    return load_dataset("digits").subset(train=256, val=64, test=128)


def test_plans_cover_every_technique_and_respect_backends():
    quick = R.cases("quick")
    assert {c.technique for _, c in quick} == {"prune-masked", "prune-sparse", "prune-structured", "lowrank",
                                               "int8-static", "int8-dynamic"}
    assert [b for b, c in quick if c.technique == "int8-dynamic"] == ["torch"]
    assert all(b == "keras" for b, _ in R.cases("full", ["keras"]))
    assert {c.technique for b, c in quick if b == "onnxruntime"} == {"prune-masked", "prune-sparse",
                                                                     "prune-structured", "lowrank", "int8-static"}
    assert len(R.cases("full")) > len(quick)
    # the full profile's plan: every technique of the compression profile's, at fewer levels
    study, full = R.PLANS["study"], R.PLANS["full"]
    assert set(study) < set(full) and {c.technique for c in study} == {c.technique for c in full}
    with pytest.raises(ValueError, match="unknown compression plan"):
        R.cases("huge")


def test_handcrafted_records_every_quick_case(digits, tmp_path):
    hb = get_backend("handcrafted")
    model = hb.build(lenet5(), seed=0)
    hb.train(model, digits, TrainConfig(epochs=2, batch_size=32, lr=2e-3), progress=False)
    run = R.Runner("handcrafted", hb, model, digits, TrainConfig(epochs=2, batch_size=32, lr=2e-3), tmp_path,
                   finetune_epochs=1, calib_images=64, latency_budget_s=0.01, probe_memory=False)
    base = run.base_record()
    assert base["executed_macs"] == 416_520 and base["dense_bytes"] == 61_706 * 4
    for _, case in R.cases("quick", ["handcrafted"]):
        comp = run.compress(case)
        rec = run.record(comp)
        assert set(rec) == set(R.FIELDS) | {f"base_{k}" for k in R.MEASURED}
        assert rec["technique"] == case.technique and rec["level"] == case.level
        if case.technique in ("prune-masked", "prune-sparse"):
            assert rec["executed_macs"] == 416_520  # masks and sparse storage execute every multiply
            assert rec["dense_bytes"] == rec["base_dense_bytes"]
            assert abs(rec["nonzero_params"] - 0.25 * 61_470 - 236) <= 1  # 75% of the weights, biases kept
        if case.technique == "prune-sparse":
            assert rec["file_bytes"] < 0.4 * rec["base_file_bytes"]
        if case.technique == "prune-structured":
            assert rec["executed_macs"] == 133_740
        if case.technique == "int8-static":
            assert rec["dense_bytes"] == int8_dense_bytes(model.arch) < rec["base_dense_bytes"] / 3
        assert 0 <= rec["top1"] <= rec["top5"] <= 1
        assert rec["latency_b1_ms"] > 0 and rec["latency_b256_ms"] > 0 and rec["peak_rss_mib"] is None


def test_fine_tuning_sees_only_finetune_samples(digits, tmp_path, monkeypatch):
    hb = get_backend("handcrafted")
    model = hb.build(lenet5(), seed=0)
    seen = []
    monkeypatch.setattr(R, "fine_tune", lambda backend, m, data, config, masks=None: seen.append(len(data.y_train)))
    run = R.Runner("handcrafted", hb, model, digits, TrainConfig(epochs=1), tmp_path, finetune_epochs=1,
                   probe_memory=False, finetune_samples=100)
    comp = run.compress(R.Case("prune-structured", "50"))
    assert seen == [100] and comp.extra["finetune_samples"] == 100 and comp.extra["finetune_epochs"] == 1
    whole = R.Runner("handcrafted", hb, model, digits, TrainConfig(epochs=1), tmp_path, probe_memory=False)
    assert whole.tuning["finetune_samples"] == len(digits.y_train)


def test_probe_measures_handcrafted_int8_in_a_fresh_process(digits, tmp_path):
    from lenet.backends.handcrafted import int8

    arch = lenet5()
    w = get_backend("handcrafted").get_weights(get_backend("handcrafted").build(arch, seed=0))
    path = int8.quantize(arch, w, digits.x_train[:32]).save(tmp_path / "q.npz")
    out = peak_rss_artifact("handcrafted", "handcrafted-int8", path, batch_size=16, threads=1)
    assert out["peak_mib"] >= out["baseline_mib"] > 10
    assert np.isfinite(out["delta_mib"])
