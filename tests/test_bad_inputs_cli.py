"""Every error a user can cause at the command line: one line ``... error: ...``, exit status 2, no traceback."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lenet.cli import main
from lenet.data import DatasetError, load_dataset
from lenet.io.history import HistoryNote
from lenet.testing import require_backend


def run(capsys, *argv) -> str:
    """``lenet ARGV`` in-process: asserts exit status 2 and one error line; returns that line."""
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse
        code = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "error: " in err[0], (code, err)
    assert "Traceback" not in err[0]
    return err[0]


DRY = ("train", "--dry-run")


@pytest.mark.parametrize("argv, expected", [
    (("--threads", "0"), "argument --threads: expected a positive integer, got '0'"),
    (("--threads", "-2"), "argument --threads: expected a positive integer"),
    (("--threads", "abc"), "argument --threads: expected a positive integer"),
    (("--threads", "\u0662"), "argument --threads: expected a positive integer"),
    (("--epochs", "0"), "argument --epochs: expected a positive integer, got '0'"),
    (("--batch-size", "0"), "argument --batch-size: expected a positive integer"),
    (("--input-size", "0"), "argument --input-size: expected a positive integer"),
    (("--momentum", "nan"), "argument --momentum: expected a finite number, got 'nan'"),
    (("--momentum", "inf"), "argument --momentum: expected a finite number"),
    (("--lr", "nan"), "argument --lr: expected a finite number"),
    (("--schedule", "0:nan"), "schedule entry '0:nan': expected EPOCH:LR"),
    (("--seed", "-1"), "argument --seed: expected an integer >= 0, got '-1'"),
    (("--optimizer", "sgd", "--momentum", "-0.5"), "momentum must be a number in [0, 1), got -0.5"),
    (("--optimizer", "sgd", "--momentum", "1.5"), "momentum must be a number in [0, 1), got 1.5"),
    (("--weight-decay", "-1"), "weight_decay must be a finite number >= 0, got -1.0"),
    (("--lr", "0"), "lr must be a finite number > 0, got 0.0"),
    (("--schedule", "0:-1"), "schedule entry must be (epoch >= 0, lr > 0), got (0, -1.0)"),
    (("--device", "cuda"), "lenet: error: the handcrafted backend runs NumPy on the CPU only"),
    (("--input-size", "4"), "lenet: error: digits: input_size 4 is below the images' 8x8"),
    (("--input-size", "100000"), "would need 130.7 TiB of memory, but only"),
    (("--dataset", "synthetic:300", "--input-size", "8"), "lenet: error: --input-size 8: lenet5 cannot take input "
     "1x8x8 (layer 3 (Conv(out_channels=16, kernel=5, stride=1, padding=0)): window 5x5 is larger than its padded "
     "input 2x2); the smallest lenet5 takes is 16x16"),
    (("--dataset", "synthetic:1"), "the validation and test splits would be empty (1 training, 0 validation, 0 test "
     "images): N in synthetic:N (--dataset) gives N training, round(N x 0.1) validation and N // 6 test images, "
     "here N = 1; use more data"),
    (("--dataset", "nope"), "unknown dataset 'nope'"),
])
def test_train_arguments(capsys, argv, expected):
    assert expected in run(capsys, *DRY, *argv)


def test_dry_run_with_zero_epochs_is_an_error(capsys):
    assert "argument --epochs: expected a positive integer, got '0'" in run(capsys, "train", "--dry-run",
                                                                            "--epochs", "0")


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5"])
def test_a_bad_lenet_threads_is_one_line(capsys, monkeypatch, value):
    monkeypatch.setattr("lenet.measure.threads._requested", None)  # as in a fresh process: the variable is read
    monkeypatch.setenv("LENET_THREADS", value)
    assert f"lenet: error: LENET_THREADS must be a positive integer, got {value!r}" == run(capsys, *DRY)


def test_outputs_that_cannot_be_written_are_refused_before_training(capsys, tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr("lenet.backends.handcrafted.backend.train", lambda *a, **k: trained.append(1))
    (tmp_path / "afile").write_text("x")
    for flag in ("--save", "--json"):
        assert f"{flag} {tmp_path}: is a folder" in run(capsys, *DRY, flag, str(tmp_path))
        under_file = tmp_path / "afile" / "out"
        assert f"{flag} {under_file}: {tmp_path / 'afile'} is not a folder" in run(capsys, *DRY, flag, str(under_file))
        assert f"{flag} /proc/x/out: cannot write in /proc" in run(capsys, *DRY, flag, "/proc/x/out")
    assert trained == []


@pytest.mark.parametrize("backend, device, expected", [("torch", "tpu", "unknown device 'tpu'"),
                                                       ("torch", "cuda:7", "device 'cuda:7' requested but"),
                                                       ("keras", "tpu", "unknown device 'tpu'")])
def test_a_device_that_is_not_there(capsys, backend, device, expected):
    require_backend(backend)
    assert expected in run(capsys, *DRY, "--backend", backend, "--device", device)


def test_a_diverging_run_is_one_line(capsys, monkeypatch):
    def diverge(*args, **kwargs):
        raise FloatingPointError("loss became nan in epoch 1; lower the learning rate")

    monkeypatch.setattr("lenet.backends.handcrafted.backend.train", diverge)
    assert run(capsys, *DRY) == "lenet: error: loss became nan in epoch 1; lower the learning rate"


def test_eval_and_info_errors(capsys, tmp_path):
    model = tmp_path / "m.npz"
    assert main([*DRY, "--save", str(model)]) == 0
    capsys.readouterr()
    assert "takes input (1, 32, 32) with 10 classes, but digits has (1, 40, 40)" in run(
        capsys, "eval", "--weights", str(model), "--input-size", "40")
    assert f"{tmp_path}: not a regular file" in run(capsys, "eval", "--weights", str(tmp_path))
    assert "--input 'abc': expected CxHxW" in run(capsys, "info", "--input", "abc")
    assert "--input 1x0x32: lenet5 cannot take input 1x0x32 (lenet5 needs square input, got 0x32)" in run(
        capsys, "info", "--input", "1x0x32")
    assert "lenet: error: --classes 1: 1 class(es); a classifier needs at least 2" == run(capsys, "info", "--classes",
                                                                                       "1")


@pytest.mark.parametrize("value", ["32x32", "1x32x32x3", "32"])
def test_info_input_that_is_not_three_values_is_one_line(capsys, value):
    assert run(capsys, "info", "--input", value) == (f"lenet: error: --input {value!r}: expected CxHxW (three "
                                                     f"integers), e.g. 1x32x32")


def test_an_empty_split_names_the_idx_files_that_made_it(capsys, tmp_path):
    from lenet.data import idx

    for name, n in (("train", 1), ("t10k", 3)):
        idx.write(tmp_path / f"{name}-images-idx3-ubyte.gz", np.zeros((n, 28, 28), np.uint8))
        idx.write(tmp_path / f"{name}-labels-idx1-ubyte.gz", np.zeros(n, np.uint8))
    assert run(capsys, *DRY, "--dataset", "mnist", "--data-dir", str(tmp_path)) == (
        f"lenet: error: dataset 'mnist': the validation split would be empty (1 training, 0 validation, 3 test "
        f"images): training and validation come from {tmp_path / 'train-images-idx3-ubyte.gz'} (1 images, "
        f"val_fraction 0.1 of them held out for validation), test from {tmp_path / 't10k-images-idx3-ubyte.gz'} "
        f"(3 images); use more data")


def test_check_speed_names_a_fifo_or_a_symlink_loop(capsys, tmp_path):
    import os

    os.mkfifo(tmp_path / "fifo.json")
    os.symlink("loop.json", tmp_path / "loop.json")
    assert run(capsys, "check-speed", str(tmp_path / "fifo.json")) == (
        f"lenet: error: {tmp_path / 'fifo.json'}: cannot read it: not a regular file but a FIFO (named pipe)")
    assert run(capsys, "check-speed", str(tmp_path / "loop.json")) == (
        f"lenet: error: {tmp_path / 'loop.json'}: cannot read it: Too many levels of symbolic links")
    # In a storage folder they are skipped, each named on stderr, and the regular history is judged.
    (tmp_path / "z.json").write_text(json.dumps({"machine_info": {}, "commit_info": {}, "datetime": "2026-12-06",
                                                 "benchmarks": []}))
    with pytest.warns(HistoryNote) as notes:
        assert main(["check-speed", str(tmp_path)]) == 1
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'z.json'}:")
    assert [str(n.message) for n in notes] == [
        f"skipping {tmp_path / 'fifo.json'}: a FIFO (named pipe), not a history file",
        f"skipping {tmp_path / 'loop.json'}: Too many levels of symbolic links"]


def test_report_and_check_speed_errors(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    assert "no such file" in run(capsys, "report", str(tmp_path / "none.json"), "--out", str(tmp_path / "o"))
    assert "folder holds no pytest-benchmark" in run(capsys, "check-speed", str(tmp_path / "empty"))
    assert "argument --threshold-time: expected a finite number" in run(
        capsys, "report", str(tmp_path), "--out", str(tmp_path / "o"), "--threshold-time", "nan")


def test_data_that_leaves_a_split_empty_is_refused():
    with pytest.raises(DatasetError, match=r"the validation and test splits would be empty \(1 training, "
                                           r"0 validation, 0 test images\)"):
        load_dataset("synthetic:1")


def test_an_explicit_zero_validation_fraction_is_still_allowed():
    assert load_dataset("synthetic:12", val_fraction=0.0).sizes() == {"train": 12, "val": 0, "test": 2}


def test_an_unwritable_model_path_found_late_is_still_one_line(capsys, tmp_path, monkeypatch):
    # A folder that becomes unwritable during training: the OSError of the write is reported, not raised.
    monkeypatch.setattr("lenet.cli._check_writable", lambda path, flag: None)
    target = tmp_path / "afile"
    target.write_text("x")
    assert f"lenet: error: {target}: File exists" == run(capsys, *DRY, "--save", str(target / "m.npz"))


def test_training_an_inference_only_backend_is_refused_with_the_way_to_its_weights(capsys):
    line = run(capsys, "train", "--backend", "onnxruntime", "--dry-run")
    assert "--backend onnxruntime: inference only" in line and "lenet eval --backend onnxruntime" in line


def test_every_subcommand_and_option_explains_itself():
    import argparse

    from lenet.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        assert parser.description, name
        for action in parser._actions:
            assert action.help, (name, action.dest)
            shown = parser.formatter_class("x")._get_help_string(action)
            if action.default not in (None, False, argparse.SUPPRESS):
                assert "%(default)s" in shown or "default" in shown, (name, action.dest)  # its default is shown
