"""Named training configs and the profiles that use them."""
from pathlib import Path

import pytest

from lenet.compress.runner import PLANS
from lenet.study.configs import CONFIG_NAMES, REFERENCE, UnknownConfig, train_config
from lenet.study.gates import threshold
from lenet.study.profiles import PROFILES
from lenet.study.session import StudyOptions
from lenet.study.sweep import SWEEPS


def test_study_e_protocol_is_its_own_schedule():
    cfg = train_config("fashion-mnist", "study-e")
    assert (cfg.optimizer, cfg.batch_size, cfg.epochs, cfg.momentum) == ("sgd", 4, 20, 0.0)
    # epochs 1-2 at 5e-4, 3-5 at 2e-4, 6-8 at 1e-4, 9-12 at 5e-5, then 1e-5 (1-based, as the study writes them)
    expected = [5e-4] * 2 + [2e-4] * 3 + [1e-4] * 3 + [5e-5] * 4 + [1e-5] * 8
    assert [cfg.lr_at(e) for e in range(20)] == expected


def test_configs_by_dataset_and_overrides():
    assert train_config("digits[:300]").batch_size == 32  # a --limit name maps to its dataset
    default = train_config("fashion-mnist")
    assert default != train_config("fashion-mnist", "reference") and default.schedule
    assert train_config("fashion-mnist", "reference").to_dict() == {**REFERENCE.to_dict(), "seed": 0}
    assert train_config("synthetic:60000") == REFERENCE  # a dataset without a chosen default
    assert train_config("fashion-mnist", "default", epochs=3, seed=2).epochs == 3
    assert train_config("fashion-mnist", "default", epochs=3, seed=2).seed == 2


def test_an_unknown_config_names_the_choices():
    with pytest.raises(UnknownConfig, match="default, reference, study-e, got 'best'"):
        train_config("digits", "best")
    with pytest.raises(ValueError, match="--config: unknown 'best'"):
        StudyOptions(config="best")


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_names_what_exists(name):
    profile = PROFILES[name]
    assert profile.config in CONFIG_NAMES
    assert profile.sweep in SWEEPS and profile.compression_plan in PLANS
    groups = {p.stem.removeprefix("test_") for p in (Path(__file__).resolve().parents[1] / "bench").glob("test_*.py")}
    assert {"accuracy", "inference", "training", "speed_ratios", "mlp_sweep"} <= groups
    assert profile.groups is None or set(profile.groups) <= groups
    assert set(profile.compression_archs or ()) <= set(profile.archs)


def test_gates_follow_the_config():
    default, source = threshold("fashion-mnist", "lenet5", 10)
    reference, _ = threshold("fashion-mnist", "lenet5", 10, "reference")
    assert default["top1"] > reference["top1"] and "default config" in source
    assert threshold("fashion-mnist", "lenet5", 10, "study-e")[1] == "2x chance (no table entry)"


def test_lenet_train_config_is_the_bench_config_with_the_options_given(tmp_path, capsys):
    import json

    from lenet.cli import main
    from lenet.study.configs import train_config

    out = tmp_path / "run.json"
    assert main(["train", "--config", "default", "--dataset", "digits", "--dry-run", "--json", str(out)]) == 0
    bench_config = json.loads(json.dumps(train_config("digits", "default").to_dict()))
    assert json.loads(out.read_text())["config"] == {**bench_config, "epochs": 1}  # --dry-run: one epoch
    assert main(["train", "--config", "default", "--dataset", "digits", "--dry-run", "--lr", "0.01",
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["config"] == {**bench_config, "epochs": 1, "lr": 0.01}
