"""Study D's 64-bin colour histogram: known colours, bin edges, the Dataset transform, and the perceptron on it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lenet.data import DatasetError, features, load_dataset
from lenet.data.features import HIST_BINS, colour_histogram, colour_histogram_dataset
from lenet.data.imagelist import RawImages, read_imagelist


@pytest.fixture(autouse=True)
def isolated_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("LENET_CACHE", str(tmp_path / "cache"))


def solid(rgb, h: int = 8, w: int = 8) -> np.ndarray:
    """One uint8 image (3, h, w) of colour ``rgb``."""
    return np.broadcast_to(np.array(rgb, np.uint8)[:, None, None], (3, h, w)).copy()


def bin_of(r: int, g: int, b: int) -> int:
    return 16 * r + 4 * g + b


def naive_histogram(image: np.ndarray) -> np.ndarray:
    """Reference: one pixel at a time."""
    counts = np.zeros(64)
    for r, g, b in image.reshape(3, -1).T:
        counts[bin_of(r // 64, g // 64, b // 64)] += 1
    return counts / counts.sum()


# --- the histogram --------------------------------------------------------------------------------

def test_pure_red_is_all_in_bin_3_0_0():
    hist = colour_histogram(solid((255, 0, 0))[None])
    assert hist.shape == (1, HIST_BINS) == (1, 64) and hist.dtype == np.float32
    assert hist[0, bin_of(3, 0, 0)] == 1 and hist.sum() == 1


def test_half_black_half_white_splits_between_the_corners():
    image = solid((0, 0, 0), 8, 8)
    image[:, 4:] = 255
    hist = colour_histogram(image[None])[0]
    assert hist[bin_of(0, 0, 0)] == 0.5 and hist[bin_of(3, 3, 3)] == 0.5 and hist.sum() == 1


@pytest.mark.parametrize("rgb, bins", [
    ((63, 64, 0), (0, 1, 0)),  # the first edge: 63 is bin 0, 64 bin 1
    ((127, 128, 191), (1, 2, 2)),
    ((192, 255, 0), (3, 3, 0)),
])
def test_bin_edges_split_0_255_into_four_equal_ranges(rgb, bins):
    assert colour_histogram(solid(rgb, 2, 3)[None])[0, bin_of(*bins)] == 1


def test_vectorised_histogram_matches_the_pixel_loop_across_chunks(monkeypatch):
    images = np.random.default_rng(0).integers(0, 256, (7, 3, 5, 6), dtype=np.uint8)
    expected = np.stack([naive_histogram(im) for im in images])
    np.testing.assert_allclose(colour_histogram(images), expected, rtol=1e-6)
    monkeypatch.setattr(features, "_CHUNK", 3)
    np.testing.assert_allclose(colour_histogram(images), expected, rtol=1e-6)
    np.testing.assert_allclose(colour_histogram(images).sum(axis=1), 1, rtol=1e-6)


def test_other_bin_counts_and_bad_input():
    assert colour_histogram(solid((255, 255, 255))[None], bins_per_channel=8)[0, 511] == 1
    for bad in (np.zeros((2, 1, 4, 4), np.uint8), np.zeros((2, 3, 4, 4), np.float32)):
        with pytest.raises(DatasetError, match="needs uint8 RGB images .* before normalisation"):
            colour_histogram(bad)


# --- the Dataset transform ------------------------------------------------------------------------

def raw_of(colours: dict[str, list], labels: dict[str, list], channels: int = 3) -> RawImages:
    x = {s: np.stack([solid(c) for c in colours[s]]) for s in colours}
    if channels == 1:
        x = {s: v[:, :1] for s, v in x.items()}
    y = {s: np.array(labels[s], np.int64) for s in labels}
    return RawImages("toy", x["train"], y["train"], x["val"], y["val"], x["test"], y["test"],
                     num_classes=max(labels["train"]) + 1, info={"root": "/somewhere/toy"})


TOY_COLOURS = {"train": [(255, 0, 0), (250, 10, 10), (0, 0, 255), (0, 0, 0)], "val": [(255, 0, 0)],
               "test": [(0, 0, 0)]}
TOY_LABELS = {"train": [0, 0, 1, 2], "val": [0], "test": [2]}


def test_transform_gives_features_shaped_for_an_mlp():
    data = colour_histogram_dataset(raw_of(TOY_COLOURS, TOY_LABELS))
    assert data.name == "imagelist-hist:toy" and data.info["root"] == "/somewhere/toy"
    assert data.input_shape == (64, 1, 1) and data.x_val.dtype == np.float32 and data.y_test.dtype == np.int64
    assert data.num_classes == 3 and len(data.mean) == 64
    # Standardised per bin with training statistics: used bins have mean 0 and std 1 on the training split.
    used = [bin_of(3, 0, 0), bin_of(0, 0, 3), bin_of(0, 0, 0)]
    train = data.x_train[:, :, 0, 0].astype(np.float64)
    np.testing.assert_allclose(train[:, used].mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(train[:, used].std(axis=0), 1, atol=1e-5)
    assert data.mean[bin_of(3, 0, 0)] == pytest.approx(0.5) and data.std[5] == 1.0  # an empty bin keeps its scale
    # The validation image is pure red: the same feature vector as the first training image.
    np.testing.assert_allclose(data.x_val[0], data.x_train[0], atol=1e-6)


def test_transform_can_keep_the_shares_and_needs_rgb():
    shares = colour_histogram_dataset(raw_of(TOY_COLOURS, TOY_LABELS), standardise=False)
    np.testing.assert_allclose(shares.x_train.sum(axis=(1, 2, 3)), 1, rtol=1e-6)
    assert shares.x_test[0, bin_of(0, 0, 0), 0, 0] == 1
    with pytest.raises(DatasetError, match="colour histogram needs RGB images; these have 1 channel"):
        colour_histogram_dataset(raw_of(TOY_COLOURS, TOY_LABELS, channels=1))


# --- from an image list on disk, and the study D perceptron ----------------------------------------

# Red, green, blue, yellow at bin centres: the +-15 noise stays inside each channel's bin.
PALETTE = [(224, 32, 32), (32, 224, 32), (32, 32, 224), (224, 224, 32)]


def write_colour_list(root: Path, per_class: dict[str, int], seed: int = 0) -> Path:
    """One class per palette colour: noisy images of mixed sizes and formats."""
    rng = np.random.default_rng(seed)
    for split, count in per_class.items():
        lines = []
        for i in range(count * len(PALETTE)):
            label = i % len(PALETTE)
            h, w = rng.integers(10, 30, 2)
            pixels = np.clip(np.array(PALETTE[label]) + rng.integers(-15, 16, (h, w, 3)), 0, 255).astype(np.uint8)
            rel = f"{split}/{i}.{('png', 'bmp')[i % 2]}"
            (root / split).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / rel)
            lines.append(f"{rel} {label}\n")
        (root / f"{split}.txt").write_text("".join(lines))
    return root


def test_histograms_of_an_image_list(tmp_path):
    root = write_colour_list(tmp_path / "colours", {"train": 3, "val": 1, "test": 1})
    raw = read_imagelist(root, channels=3, progress=False)
    hist = colour_histogram(raw.x_train)
    expected = [bin_of(*(c // 64 for c in colour)) for colour in PALETTE]
    assert hist.argmax(axis=1).tolist() == [expected[label] for label in raw.y_train]
    assert (hist.max(axis=1) == 1).all()
    data = load_dataset(f"imagelist-hist:{root}", progress=False)
    assert data.name == "imagelist-hist:colours" and data.input_shape == (64, 1, 1) and data.num_classes == 4
    assert data.info["features"] == "colour-histogram" and data.info["cached"]  # shares the RGB decode


def test_two_layer_perceptron_learns_colour_histograms(tmp_path):
    from lenet.backends import get_backend
    from lenet.spec import Act, Dense, mlp
    from lenet.training import TrainConfig

    root = write_colour_list(tmp_path / "colours", {"train": 10, "val": 2, "test": 3}, seed=1)
    data = load_dataset(f"imagelist-hist:{root}", progress=False)
    arch = mlp(hidden=(50,), input_shape=data.input_shape, num_classes=data.num_classes)
    assert [type(layer) for layer in arch.layers[1:]] == [Dense, Act, Dense]  # study D: 64 -> 50, ReLU, -> C
    assert arch.layers[1].units == 50 and arch.layers[2].fn == "relu"

    backend = get_backend("handcrafted")
    model = backend.build(arch, seed=0)
    history = backend.train(model, data, TrainConfig(epochs=2, batch_size=8, optimizer="adam", lr=1e-2),
                            progress=False)
    assert len(history.epochs) == 2 and np.isfinite(history.last()["train_loss"])
    logits = backend.predict(model, data.x_test)
    assert logits.shape == (12, 4)
    assert (logits.argmax(1) == data.y_test).mean() >= 0.75
