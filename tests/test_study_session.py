"""The bench session without pytest's config: options, the --limit subset at every image size, records."""
import pytest

from lenet.measure.monitor import SessionMonitor
from lenet.study.session import Study, StudyOptions, split_csv


class _Bench:
    def __init__(self):
        self.extra_info = {}


def test_split_csv():
    assert split_csv(" a, b,,") == ("a", "b")
    assert split_csv(None) is None and split_csv(" , ") is None


def test_options_are_checked():
    with pytest.raises(ValueError, match=r"--backends: unknown \['nope'\]"):
        StudyOptions(backends=("handcrafted", "nope"))
    with pytest.raises(ValueError, match="--profile: unknown 'slow'"):
        StudyOptions(profile="slow")
    assert StudyOptions().backend_names == ("handcrafted", "torch", "keras", "onnxruntime")


def test_limit_applies_at_every_input_size():
    study = Study(StudyOptions(limit=100), SessionMonitor(1))
    for size in (32, 28):
        data = study.dataset_at(size)
        assert data.name == "digits[:100]" and data.input_shape[-1] == size
        assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (100, 32, 32)
    assert study.dataset is study.dataset_at(32) and study.speed_dataset is study.dataset
    assert study.arch_names == ("lenet5",)


def test_record_fills_extra_info_and_the_summary_row():
    study = Study(StudyOptions(limit=100, epochs=2), SessionMonitor(1))
    bench = _Bench()
    study.record(bench, "handcrafted", "lenet5", "cpu", batch_size=64)
    study.note("handcrafted", "lenet5", "cpu", epoch_s=0.5)
    assert bench.extra_info["params"] == 61706 and bench.extra_info["epochs"] == 2
    assert bench.extra_info["batch_size"] == 64 and bench.extra_info["profile"] == "quick"
    assert study.summary[("handcrafted", "lenet5", "cpu")] == {
        "params": 61706, "param_bytes": 61706 * 4, "macs_per_sample": 416520, "epoch_s": 0.5}
    title, table = study.headline()
    assert title == "lenet-bench overall performance (digits, profile quick)" and "61,706" in table
