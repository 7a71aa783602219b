import numpy as np
import pytest

from lenet.training import STUDY_E_SCHEDULE, ConfigError, TrainConfig, batch_indices, run_epoch, timer_overhead_s


def test_study_e_schedule_by_epoch():
    cfg = TrainConfig(epochs=20, lr=5e-4, schedule=STUDY_E_SCHEDULE)
    # 1-based study epochs 1-2: 5e-4, 3-5: 2e-4, 6-8: 1e-4, 9-12: 5e-5, then 1e-5
    expected = [5e-4] * 2 + [2e-4] * 3 + [1e-4] * 3 + [5e-5] * 4 + [1e-5] * 8
    assert [cfg.lr_at(e) for e in range(20)] == expected


def test_batches_cover_every_sample_once_and_depend_on_seed_and_epoch():
    b = batch_indices(100, 32, seed=1, epoch=0)
    assert [len(x) for x in b] == [32, 32, 32, 4]
    assert sorted(np.concatenate(b).tolist()) == list(range(100))
    again = batch_indices(100, 32, seed=1, epoch=0)
    assert all((x == y).all() for x, y in zip(b, again))
    assert not (np.concatenate(batch_indices(100, 32, 1, 1)) == np.concatenate(b)).all()
    assert not (np.concatenate(batch_indices(100, 32, 2, 0)) == np.concatenate(b)).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"epochs": 0}, "epochs"),
    ({"lr": -1.0}, "lr"),
    ({"schedule": ((5, 1e-3), (2, 1e-4))}, "increasing"),
])
def test_bad_config_is_rejected(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kwargs)


def test_run_epoch_times_every_step():
    class Sleepy:  # a trainer whose steps take a known minimum time
        def step(self, idx, lr):
            import time

            time.sleep(2e-3)
            return 0.5, np.zeros((len(idx), 10), np.float32)

    y = np.arange(100) % 10
    times: list = []
    run_epoch(Sleepy(), y, TrainConfig(epochs=1, batch_size=32), 0, step_times=times)
    assert len(times) == 4 and min(times) >= 2e-3  # ceil(100 / 32) steps, each lasting at least its sleep
    assert timer_overhead_s(1_000) > 0  # what it costs is reported by the bench, never asserted
