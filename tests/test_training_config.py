import numpy as np
import pytest

from lenet.training import (
    STUDY_E_SCHEDULE,
    ConfigError,
    TrainConfig,
    batch_indices,
    run_epoch,
    timer_overhead_s,
    training_arrays,
)


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


def test_hflip_keeps_the_order_and_mirrors_a_seeded_half():
    plain = np.concatenate(batch_indices(1000, 64, seed=3, epoch=2))
    flipped = np.concatenate(batch_indices(1000, 64, seed=3, epoch=2, hflip=True))
    assert (flipped % 1000 == plain).all()  # the same samples in the same order
    mirrored = flipped >= 1000
    assert 400 < mirrored.sum() < 600  # a fair coin per sample (binomial sd about 16)
    again = np.concatenate(batch_indices(1000, 64, seed=3, epoch=2, hflip=True))
    other = np.concatenate(batch_indices(1000, 64, seed=3, epoch=3, hflip=True))
    assert (again == flipped).all() and ((other >= 1000) != mirrored[np.argsort(plain)][other % 1000]).any()


def test_training_arrays_append_the_mirror_images_only_with_hflip():
    x = np.arange(2 * 1 * 3 * 4, dtype=np.float32).reshape(2, 1, 3, 4)
    y = np.array([3, 7])
    same_x, same_y = training_arrays(x, y, TrainConfig())
    assert same_x is x and same_y is y
    x2, y2 = training_arrays(x, y, TrainConfig(hflip=True))
    assert x2.shape == (4, 1, 3, 4) and y2.tolist() == [3, 7, 3, 7]
    np.testing.assert_array_equal(x2[:2], x)
    np.testing.assert_array_equal(x2[2:, 0, :, 0], x[:, 0, :, 3])  # column 0 of the mirror is the last column


@pytest.mark.parametrize("kwargs, match", [
    ({"hflip": "yes"}, "hflip"),
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


def test_run_epoch_with_hflip_scores_the_mirror_images_by_their_own_labels():
    class Oracle:  # predicts the label of whatever sample it is given, from the laid-out arrays
        def __init__(self, y):
            self.y = y

        def step(self, idx, lr):
            return 0.1, np.eye(10, dtype=np.float32)[self.y[idx]]

    y = np.arange(100) % 10
    config = TrainConfig(epochs=1, batch_size=32, hflip=True)
    stats = run_epoch(Oracle(training_arrays(np.zeros((100, 1, 2, 2)), y, config)[1]), y, config, 0)
    assert stats.seen == 100 and stats.top1 == 100
