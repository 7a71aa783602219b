"""Dataset loaders: the registry, splits, normalisation, digits, synthetic, and the idx datasets on real files."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lenet.data import DATASETS, Dataset, DatasetError, digits, load_dataset, prepare
from lenet.data.idx_datasets import FILES, SYSTEM_DIRS

DATA = Path(__file__).parent / "data"
FASHION_DIR = Path(SYSTEM_DIRS["fashion-mnist"][0])


def assert_contract(data: Dataset, shape: tuple, num_classes: int = 10) -> None:
    """The Dataset contract: float32 C-contiguous NCHW, int64 labels in range, normalised by training stats."""
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val), (data.x_test, data.y_test)):
        assert x.dtype == np.float32 and x.flags.c_contiguous and x.shape[1:] == shape
        assert y.dtype == np.int64 and y.shape == (len(x),)
        assert 0 <= y.min() and y.max() < num_classes
    assert data.num_classes == num_classes and data.input_shape == shape
    assert len(data.mean) == len(data.std) == shape[0]
    np.testing.assert_allclose(data.x_train.mean(axis=(0, 2, 3), dtype=np.float64), 0, atol=1e-4)
    np.testing.assert_allclose(data.x_train.std(axis=(0, 2, 3), dtype=np.float64), 1, atol=1e-4)


# --- registry -------------------------------------------------------------------------------------

def test_names():
    assert DATASETS == ("digits", "mnist", "fashion-mnist", "kmnist", "synthetic")


@pytest.mark.parametrize("name, problem", [
    ("cifar10", "unknown dataset 'cifar10'; choose from digits, mnist, fashion-mnist, kmnist, synthetic, synthetic:N"),
    ("digits:3", "dataset 'digits' takes no ':' argument"),
    ("synthetic:0", "N in synthetic:N must be a positive integer"),
    ("synthetic:many", "N in synthetic:N must be a positive integer"),
])
def test_bad_names_say_what_is_wrong(name, problem):
    with pytest.raises(DatasetError, match=re.escape(problem)):
        load_dataset(name)


# --- hold-out split and normalisation -------------------------------------------------------------

def test_stratified_holdout_is_exact_stratified_and_seeded():
    y = np.repeat(np.arange(10), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    keep, held = prepare.stratified_holdout(y, 0.1, seed=3)
    assert len(held) == 1000 and len(keep) == len(y) - 1000
    assert np.array_equal(np.sort(np.concatenate([keep, held])), np.arange(len(y)))
    assert np.all(np.diff(keep) > 0) and np.all(np.diff(held) > 0)
    share = np.bincount(y[held]) / np.bincount(y)
    np.testing.assert_allclose(share, 0.1, atol=0.001)
    again, other = prepare.stratified_holdout(y, 0.1, seed=3)[1], prepare.stratified_holdout(y, 0.1, seed=4)[1]
    assert np.array_equal(held, again) and not np.array_equal(held, other)


def test_stratified_holdout_edges():
    keep, held = prepare.stratified_holdout(np.array([0, 1, 1, 2]), 0.0, seed=0)
    assert keep.tolist() == [0, 1, 2, 3] and held.size == 0
    with pytest.raises(DatasetError, match=r"fraction must be in \[0, 1\), got 1.0"):
        prepare.stratified_holdout(np.zeros(4, dtype=np.int64), 1.0, seed=0)


def test_channel_stats_match_numpy_across_chunks(monkeypatch):
    monkeypatch.setattr(prepare, "_STATS_CHUNK", 7)
    x = np.random.default_rng(0).integers(0, 256, (50, 3, 5, 4), dtype=np.uint8)
    mean, std = prepare.channel_stats(x)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(std, x.std(axis=(0, 2, 3)), rtol=1e-12)


def test_normalise_converts_integers_and_works_on_float32_in_place():
    mean, std = np.array([2.0]), np.array([4.0])
    out = prepare.normalise(np.full((2, 1, 3, 3), 10, dtype=np.uint8), mean, std)
    assert out.dtype == np.float32 and np.all(out == 2.0)
    x = np.full((2, 1, 3, 3), 10, dtype=np.float32)
    assert prepare.normalise(x, mean, std) is x and np.all(x == 2.0)


def test_constant_channel_is_not_divided_by_zero():
    x = np.full((6, 1, 2, 2), 7, dtype=np.uint8)
    data = prepare.finish("flat", x, np.zeros(6, dtype=np.int64), x[:2], np.zeros(2, dtype=np.int64),
                          x[:2], np.zeros(2, dtype=np.int64), num_classes=1)
    assert data.std == (1.0,) and np.all(data.x_test == 0)


# --- digits ---------------------------------------------------------------------------------------

def test_digits_contract_and_60_20_20_split():
    data = load_dataset("digits")
    assert_contract(data, (1, 32, 32))
    assert data.name == "digits" and data.sizes() == {"train": 1078, "val": 360, "test": 359}
    for y in (data.y_val, data.y_test):
        assert np.bincount(y, minlength=10).min() >= 35  # every class about a fifth of its ~180 samples


def test_digits_seed_moves_validation_not_test():
    a, b, c = load_dataset("digits", seed=0), load_dataset("digits", seed=0), load_dataset("digits", seed=1)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.y_val, c.y_val)
    # Same test images; only the normalisation (training statistics) differs.
    np.testing.assert_allclose(a.x_test * a.std[0] + a.mean[0], c.x_test * c.std[0] + c.mean[0], atol=1e-5)


def test_digits_sizes():
    assert load_dataset("digits", input_size=28).input_shape == (1, 28, 28)
    assert load_dataset("digits", val_fraction=0.5).sizes() == {"train": 719, "val": 719, "test": 359}
    with pytest.raises(DatasetError, match="input_size 4 is below the images' 8x8"):
        load_dataset("digits", input_size=4)


def test_digits_reader_matches_scikit_learn_and_falls_back_to_it(monkeypatch):
    from sklearn.datasets import load_digits

    reference = load_digits()
    images, labels = digits.read_digits()
    assert images.dtype == np.float32 and images.shape == (1797, 8, 8)
    np.testing.assert_array_equal(images, reference.images)
    np.testing.assert_array_equal(labels, reference.target)
    monkeypatch.setattr(digits, "_bundled_csv", lambda: None)
    fallback_images, fallback_labels = digits.read_digits()
    np.testing.assert_array_equal(fallback_images, images)
    np.testing.assert_array_equal(fallback_labels, labels)


@pytest.mark.parametrize("size", [8, 28, 32, 37])
def test_upsampling_matches_pillow_bilinear(size):
    images, _ = digits.read_digits()
    images = images[:20]
    fast = digits.upsample(images, size)
    reference = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BILINEAR))
                          for im in images])
    assert fast.dtype == np.float32 and fast.shape == (20, size, size)
    np.testing.assert_allclose(fast, reference, atol=1e-4)


def test_digits_load_fast_without_importing_scikit_learn():
    code = ("import sys, time; t = time.perf_counter(); from lenet.data import load_dataset; "
            "load_dataset('digits'); print(time.perf_counter() - t, 'sklearn' in sys.modules)")
    seconds, imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                       cwd=Path(__file__).parents[1]).stdout.split()
    assert imported == "False"
    assert float(seconds) < 1.0


# --- synthetic ------------------------------------------------------------------------------------

def test_synthetic_sizes_name_and_determinism():
    data = load_dataset("synthetic:1000", input_size=28, seed=5)
    assert_contract(data, (1, 28, 28))
    assert data.name == "synthetic:1000" and data.sizes() == {"train": 1000, "val": 100, "test": 166}
    np.testing.assert_array_equal(load_dataset(data.name, input_size=28, seed=5).x_val, data.x_val)
    assert load_dataset("synthetic:1000", val_fraction=0.2).sizes()["val"] == 200
    assert load_dataset("synthetic:10").input_shape == (1, 32, 32)


def test_synthetic_never_holds_a_float64_copy():
    # A float64 draw cast to float32 would peak at ~3x the final arrays; in-place work stays near 1x.
    tracemalloc.start()
    try:
        data = load_dataset("synthetic:20000")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    final = sum(x.nbytes for x in (data.x_train, data.x_val, data.x_test))
    assert peak < 1.2 * final


# --- idx datasets from real files -----------------------------------------------------------------

@pytest.fixture
def mnist_slice_dir(tmp_path) -> Path:
    """A data_dir holding the 500-image MNIST slice as both the training and the test files."""
    for filename in FILES:
        source = "t10k-500-images-idx3-ubyte.gz" if "images" in filename else "t10k-500-labels-idx1-ubyte.gz"
        shutil.copy(DATA / source, tmp_path / filename)
    return tmp_path


def test_mnist_from_data_dir_is_zero_padded_before_normalisation(mnist_slice_dir):
    data = load_dataset("mnist", data_dir=mnist_slice_dir, val_fraction=0.2)
    assert_contract(data, (1, 32, 32))
    assert data.sizes() == {"train": 400, "val": 100, "test": 500}
    background = -data.mean[0] / data.std[0]
    border = np.ones((32, 32), dtype=bool)
    border[2:30, 2:30] = False
    np.testing.assert_allclose(data.x_test[:, 0, border], background, rtol=1e-5)
    assert 0.09 < data.mean[0] < 0.11  # MNIST's 0.13 at 28x28, diluted by the padding (x 784/1024)
    assert data.info["padding"] == 2 and data.info["files"][FILES[0]] == str(mnist_slice_dir / FILES[0])


def test_mnist_at_28_keeps_the_stored_size(mnist_slice_dir):
    data = load_dataset("mnist", data_dir=mnist_slice_dir, input_size=28)
    assert_contract(data, (1, 28, 28))
    assert 0.11 < data.mean[0] < 0.14 and 0.28 < data.std[0] < 0.32  # MNIST: 0.1307 / 0.3081


def test_idx_input_size_must_be_28_or_32(mnist_slice_dir):
    with pytest.raises(DatasetError, match="mnist: input_size 30 is not supported; use 28 .* or 32"):
        load_dataset("mnist", data_dir=mnist_slice_dir, input_size=30)


def test_idx_images_must_be_28x28(mnist_slice_dir):
    from lenet.data import idx

    path = mnist_slice_dir / FILES[2]
    idx.write(path, np.zeros((500, 20, 20), dtype=np.uint8))
    with pytest.raises(DatasetError, match="images are 20x20; expected 28x28") as err:
        load_dataset("mnist", data_dir=mnist_slice_dir)
    assert str(path) in str(err.value)


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason=f"Debian package dataset-fashion-mnist not installed "
                                                      f"({FASHION_DIR} absent)")
def test_fashion_mnist_from_the_debian_package():
    data = load_dataset("fashion-mnist", data_dir=FASHION_DIR)
    assert_contract(data, (1, 32, 32))
    assert data.sizes() == {"train": 54_000, "val": 6_000, "test": 10_000}
    assert np.bincount(data.y_val).tolist() == [600] * 10  # 6,000 per class in the training files
    assert np.bincount(data.y_test).tolist() == [1000] * 10
