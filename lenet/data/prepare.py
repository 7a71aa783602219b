"""From raw arrays to a :class:`Dataset`: a seeded stratified hold-out, then normalisation.

Every loader ends here, so all datasets share one split rule and one
normalisation rule: per-channel mean/std measured on the training split only
and applied to every split.
"""
from __future__ import annotations

import numpy as np

from ..io.memory_budget import require_fits
from .base import Dataset, DatasetError

# Samples per chunk when measuring statistics: bounds the float64 temporaries
# to ~8 MB at 32x32 instead of a float64 copy of the whole training set.
_STATS_CHUNK = 1024


def require_images_fit(what: str, count: int, pixels: int, bytes_per_pixel: int) -> None:
    """Refuse, before allocating, ``count`` images of ``pixels`` each at ``bytes_per_pixel`` at the loader's peak."""
    require_fits(count * pixels * bytes_per_pixel, f"{what} ({count:,} images of {pixels:,} pixels)", DatasetError,
                 "choose a smaller input_size")


def stratified_holdout(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into ``(keep, held_out)``, each sorted, with ``round(fraction * n)`` held out.

    ``y`` is ``(n,)`` integer labels.  Each class gives up the same share of
    its samples (largest remainders settle the rounding), chosen at random with
    ``seed``, so the split is deterministic and the class balance is kept.
    """
    if not 0.0 <= fraction < 1.0:
        raise DatasetError(f"validation/test fraction must be in [0, 1), got {fraction}")
    n = len(y)
    classes, counts = np.unique(y, return_counts=True)
    share = fraction * counts
    quota = np.floor(share).astype(np.int64)
    missing = int(round(fraction * n)) - int(quota.sum())
    quota[np.argsort(quota - share, kind="stable")[:missing]] += 1  # largest fractional parts first

    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    order = order[np.argsort(y[order], kind="stable")]  # grouped by class, shuffled within each class
    labels = y[order]
    rank = np.arange(n) - np.searchsorted(labels, labels)  # position within its class
    held = rank < quota[np.searchsorted(classes, labels)]
    return np.sort(order[~held]), np.sort(order[held])


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of ``x`` ``(N, C, H, W)``, as float64 ``(C,)`` arrays.

    Two passes over chunks of samples: exact, and without a float64 copy of ``x``.
    """
    n, c = x.shape[:2]
    if n == 0:
        raise DatasetError("cannot normalise: the training split is empty")
    count = n * x[0, 0].size
    total = np.zeros(c)
    for start in range(0, n, _STATS_CHUNK):
        total += x[start:start + _STATS_CHUNK].sum(axis=(0, 2, 3), dtype=np.float64)
    mean = total / count
    squares = np.zeros(c)
    for start in range(0, n, _STATS_CHUNK):
        centred = x[start:start + _STATS_CHUNK] - mean[:, None, None]
        squares += np.einsum("nchw,nchw->c", centred, centred)
    return mean, np.sqrt(squares / count)


def normalise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(x - mean) / std`` per channel as C-contiguous float32 ``(N, C, H, W)``.

    A float32 ``x`` is normalised in place; any other dtype is converted once.
    """
    out = x if x.dtype == np.float32 and x.flags.c_contiguous else np.ascontiguousarray(x, dtype=np.float32)
    out -= mean.astype(np.float32)[:, None, None]
    out /= std.astype(np.float32)[:, None, None]
    return out


def assemble(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *,
             num_classes: int, val_fraction: float, seed: int, max_value: float = 1.0,
             info: dict | None = None, sources: tuple[str, str] | None = None) -> Dataset:
    """Hold out ``val_fraction`` of the training data for validation (stratified, seeded), then :func:`finish`.

    ``x_*`` are raw images ``(N, C, H, W)`` (uint8 or float), ``y_*`` integer labels ``(N,)``.
    ``sources`` names where the training and the test images came from (files), for the error on an empty split.
    """
    keep, held = stratified_holdout(y_train, val_fraction, seed)
    train_from, test_from = sources or ("the training images", "the test images")
    origin = (f"training and validation come from {train_from} ({len(y_train):,} images, val_fraction "
              f"{val_fraction} of them held out for validation), test from {test_from} ({len(y_test):,} images)")
    return finish(name, x_train[keep], y_train[keep], x_train[held], y_train[held], x_test, y_test,
                  num_classes=num_classes, max_value=max_value,
                  info={"val_fraction": val_fraction, "seed": seed, **(info or {})}, allow_empty_val=val_fraction == 0,
                  origin=origin)


def finish(name: str, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
           x_test: np.ndarray, y_test: np.ndarray, *, num_classes: int, max_value: float = 1.0,
           info: dict | None = None, allow_empty_val: bool = False, origin: str = "") -> Dataset:
    """Normalise the three splits with the training split's per-channel statistics and build the Dataset.

    ``x_*`` are raw images ``(N, C, H, W)``; float32 ones are normalised in
    place.  ``max_value`` is the raw value of a white pixel (255 for idx
    files): ``Dataset.mean``/``std`` are recorded in units of it, so they read
    like the usual [0, 1] figures (MNIST ~0.13 / 0.31); the arrays are the
    same either way.  An empty split is refused (its metrics would be NaN),
    except validation when ``allow_empty_val`` (a requested fraction of 0);
    the error quotes ``origin``, which says what (files, options) made the splits.
    """
    sizes = {"training": len(y_train), "validation": len(y_val), "test": len(y_test)}
    empty = [split for split, n in sizes.items() if n == 0 and not (split == "validation" and allow_empty_val)]
    if empty:
        raise DatasetError(f"dataset {name!r}: the {' and '.join(empty)} split{'s' if len(empty) > 1 else ''} "
                           f"would be empty ({', '.join(f'{n:,} {split}' for split, n in sizes.items())} images)"
                           f"{': ' + origin if origin else ''}; use more data")
    mean, std = channel_stats(x_train)
    # A constant channel has std 0; leave its scale alone rather than divide by zero.
    std = np.where(std > 0, std, 1.0)
    return Dataset(
        name,
        normalise(x_train, mean, std), y_train.astype(np.int64, copy=False),
        normalise(x_val, mean, std), y_val.astype(np.int64, copy=False),
        normalise(x_test, mean, std), y_test.astype(np.int64, copy=False),
        num_classes,
        mean=tuple(float(m) for m in mean / max_value),
        std=tuple(float(s) for s in std / max_value),
        info=dict(info or {}),
    )
