"""scikit-learn's bundled handwritten digits: 1,797 real 8x8 images (values 0..16), upsampled for LeNet.

The embedded default: no download, and it loads in tens of milliseconds.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .base import Dataset, DatasetError
from .prepare import assemble, require_images_fit, stratified_holdout

NUM_CLASSES = 10
IMAGE_SIZE = 8
MAX_VALUE = 16
TEST_FRACTION = 0.2
VAL_FRACTION = 0.25  # of the remaining 80%: 60/20/20 overall
# The test split never depends on the caller's seed, so test figures compare across seeds.
TEST_SEED = 0


def _bundled_csv() -> Path | None:
    """scikit-learn's ``datasets/data/digits.csv.gz``, found without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    return path if path.is_file() else None


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits as float32 images ``(N, 8, 8)`` in 0..16 and int64 labels ``(N,)``.

    Reads the CSV that ``sklearn.datasets.load_digits`` reads (64 pixels, then
    the label, per row) directly: importing scikit-learn costs ~0.8 s, forty
    times the read.  Should a scikit-learn release move the file, its public
    loader is used instead.
    """
    path = _bundled_csv()
    if path is None:
        from sklearn.datasets import load_digits as sklearn_load_digits

        bunch = sklearn_load_digits()
        return bunch.images.astype(np.float32), bunch.target.astype(np.int64)
    rows = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    return rows[:, :-1].reshape(-1, IMAGE_SIZE, IMAGE_SIZE).astype(np.float32), rows[:, -1].astype(np.int64)


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """float32 ``(n_out, n_in)`` weights of bilinear upsampling along one axis.

    Pixel centres are aligned (``align_corners=False``) and edges clamped, as
    in Pillow's ``BILINEAR`` resize when enlarging; each row sums to 1.
    """
    centre = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    lo = np.floor(centre).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = centre - lo
    weights = np.zeros((n_out, n_in), dtype=np.float32)
    rows = np.arange(n_out)
    np.add.at(weights, (rows, lo), 1 - frac)
    np.add.at(weights, (rows, hi), frac)
    return weights


def upsample(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of float32 ``(N, H, W)`` to ``(N, size, size)``: two matrix products, no loop."""
    rows = bilinear_matrix(images.shape[1], size)
    cols = bilinear_matrix(images.shape[2], size)
    return rows @ images @ cols.T


def load_digits(*, input_size: int = 32, val_fraction: float = VAL_FRACTION, seed: int = 0) -> Dataset:
    """The digits as ``(N, 1, input_size, input_size)`` float32 splits of about 60/20/20 percent.

    The 20% test split is fixed; ``val_fraction`` of the rest is held out for
    validation with ``seed``.  Both splits are stratified.
    """
    if input_size < IMAGE_SIZE:
        raise DatasetError(f"digits: input_size {input_size} is below the images' {IMAGE_SIZE}x{IMAGE_SIZE}; "
                           f"this loader only upsamples")
    images, labels = read_digits()
    # float32: the upsampled set, then the train/validation/test copies of it.
    require_images_fit(f"digits at {input_size}x{input_size}", len(images), input_size ** 2, 8)
    x = upsample(images, input_size)[:, None]
    rest, test = stratified_holdout(labels, TEST_FRACTION, TEST_SEED)
    return assemble("digits", x[rest], labels[rest], x[test], labels[test], num_classes=NUM_CLASSES,
                    val_fraction=val_fraction, seed=seed, max_value=MAX_VALUE,
                    info={"source": "sklearn.datasets.load_digits", "upsampled_from": IMAGE_SIZE})
