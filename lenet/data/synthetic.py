"""Random images with random labels, for speed benchmarks: no files, any size, reproducible."""
from __future__ import annotations

import numpy as np

from .base import Dataset, DatasetError
from .prepare import finish, require_images_fit

NUM_CLASSES = 10
DEFAULT_TRAIN = 60_000
VAL_FRACTION = 0.1
TEST_RATIO = 6  # one test image per six training images, as in MNIST's 60,000 / 10,000


def load_synthetic(n_train: int = DEFAULT_TRAIN, *, input_size: int = 32, val_fraction: float = VAL_FRACTION,
                   seed: int = 0) -> Dataset:
    """``n_train`` training, ``round(n_train * val_fraction)`` validation and ``n_train // 6`` test samples.

    Images are float32 ``(N, 1, input_size, input_size)`` standard normal
    noise, drawn as float32 (a float64 draw cast down would double the peak
    memory), then normalised in place like any dataset; labels are uniform
    int64 in ``0..9``.  The name, ``synthetic:<n_train>``, loads it again.
    """
    if n_train < 1 or input_size < 1 or not 0.0 <= val_fraction < 1.0:
        raise DatasetError(f"synthetic: need n_train >= 1, input_size >= 1 and 0 <= val_fraction < 1; got "
                           f"{n_train}, {input_size}, {val_fraction}")
    counts = (n_train, round(n_train * val_fraction), n_train // TEST_RATIO)
    require_images_fit(f"synthetic at {input_size}x{input_size}", sum(counts), input_size ** 2, 4)
    rng = np.random.default_rng(seed)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        return (rng.standard_normal((n, 1, input_size, input_size), dtype=np.float32),
                rng.integers(0, NUM_CLASSES, size=n, dtype=np.int64))

    return finish(f"synthetic:{n_train}", *draw(counts[0]), *draw(counts[1]), *draw(counts[2]),
                  num_classes=NUM_CLASSES, info={"val_fraction": val_fraction, "seed": seed},
                  allow_empty_val=val_fraction == 0,
                  origin=f"N in synthetic:N (--dataset) gives N training, round(N x {val_fraction}) validation and "
                         f"N // {TEST_RATIO} test images, here N = {n_train}")
