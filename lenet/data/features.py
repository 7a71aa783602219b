"""Hand-made features computed from raw pixels: study D's 64-bin global colour histogram.

Each channel's 0..255 range is split into 4 equal bins (0-63, 64-127,
128-191, 192-255), so an RGB pixel falls into one of 4x4x4 = 64 colour bins,
numbered ``16 * r + 4 * g + b`` for bin indices ``r, g, b`` in 0..3 (red
major).  An image's feature vector is the share of its pixels in each bin: 64
non-negative numbers summing to 1.  It is computed on the uint8 RGB images as
decoded and resized, before any normalisation (the bins are defined on raw
pixel values), so the image-list loader hands over its unnormalised arrays
(:class:`lenet.data.imagelist.RawImages`).

Shape.  The features are delivered as ``(N, 64, 1, 1)``: 64 channels of a 1x1
image.  :func:`lenet.spec.mlp` flattens any ``(C, H, W)``, so
``mlp(hidden=(50,), input_shape=(64, 1, 1), num_classes=C)`` is study D's
dense 64 -> 50, ReLU, dense 50 -> C.  Channels rather than ``(1, 1, 64)``
because the Dataset's normalisation is per channel: with bins as channels each
bin is standardised on its own, the usual feature scaling (with ``(1, 1, 64)``
all bins would share one mean, exactly 1/64, and one std); and with H = W = 1,
NCHW and NHWC flatten to the same order, so no backend reorders anything.

Normalisation.  Each bin is standardised with the training split's mean and
std (:func:`lenet.data.prepare.finish`; a bin empty in every training image
keeps its scale), as every dataset is: raw shares are tiny and skewed (most
bins near 0, a few near 0.5), which slows SGD and Adam at the studies' learning
rates.  ``Dataset.mean``/``std`` then read as the training shares' per-bin mean
and std; pass ``standardise=False`` for the shares themselves.

Name.  ``load_dataset("imagelist-hist:PATH")``: the image list at ``PATH``
decoded as RGB at ``input_size`` (the resolution the histogram is counted at;
larger sizes come closer to the full-resolution histogram), named
``imagelist-hist:<folder name>``.
"""
from __future__ import annotations

import os

import numpy as np

from .base import Dataset, DatasetError
from .imagelist import RawImages, read_imagelist
from .prepare import finish

BINS_PER_CHANNEL = 4
HIST_BINS = BINS_PER_CHANNEL ** 3
KIND = "imagelist-hist"
# Images per pass: bounds the int64 bin-index temporaries to ~50 MB at 32x32
# instead of 8 bytes per pixel of the whole set (~500 MB for 63k images).
_CHUNK = 2048


def colour_histogram(images: np.ndarray, bins_per_channel: int = BINS_PER_CHANNEL) -> np.ndarray:
    """Global colour histograms of uint8 RGB ``images`` ``(N, 3, H, W)``: float32 ``(N, bins_per_channel**3)``.

    Channel value ``v`` goes to bin ``v * bins_per_channel // 256`` (equal
    ranges; 63 -> 0 and 64 -> 1 for 4 bins); the colour bin is
    ``(r * bins + g) * bins + b``.  Each row sums to 1.  Vectorised: one
    ``bincount`` over all pixels of a chunk of images, offset per image.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise DatasetError(f"colour histogram needs uint8 RGB images (N, 3, H, W) before normalisation; got "
                           f"{images.dtype} {images.shape}")
    if not 1 <= bins_per_channel <= 256:
        raise DatasetError(f"bins_per_channel must be in 1..256, got {bins_per_channel}")
    n, _, h, w = images.shape
    nbins = bins_per_channel ** 3
    out = np.empty((n, nbins), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        chunk = images[start:start + _CHUNK]
        q = (chunk.astype(np.int64) * bins_per_channel) >> 8  # (m, 3, H, W) bin index per channel
        colour = (q[:, 0] * bins_per_channel + q[:, 1]) * bins_per_channel + q[:, 2]  # (m, H, W)
        m = len(chunk)
        colour = colour.reshape(m, -1) + (np.arange(m, dtype=np.int64) * nbins)[:, None]
        counts = np.bincount(colour.ravel(), minlength=m * nbins).reshape(m, nbins)
        out[start:start + m] = counts / (h * w)
    return out


def colour_histogram_dataset(raw: RawImages, *, bins_per_channel: int = BINS_PER_CHANNEL, standardise: bool = True,
                             name: str | None = None) -> Dataset:
    """The colour histograms of ``raw``'s RGB splits as a Dataset of ``(N, bins**3, 1, 1)`` float32 features.

    Standardised per bin with training statistics (see the module docstring)
    unless ``standardise`` is False.  Named ``imagelist-hist:<raw.name>`` unless
    ``name`` is given.
    """
    if raw.channels != 3:
        raise DatasetError(f"{raw.name}: colour histogram needs RGB images; these have {raw.channels} channel(s) "
                           f"(read them with channels=3)")
    hist = {split: colour_histogram(x, bins_per_channel)[:, :, None, None]
            for split, x in (("train", raw.x_train), ("val", raw.x_val), ("test", raw.x_test))}
    name = name or f"{KIND}:{raw.name}"
    info = {**raw.info, "features": "colour-histogram", "bins_per_channel": bins_per_channel,
            "bin_order": "16*r + 4*g + b" if bins_per_channel == 4 else "(r*bins + g)*bins + b",
            "standardised": standardise}
    if standardise:
        return finish(name, hist["train"], raw.y_train, hist["val"], raw.y_val, hist["test"], raw.y_test,
                      num_classes=raw.num_classes, max_value=1.0, info=info)
    nbins = hist["train"].shape[1]
    return Dataset(name, hist["train"], raw.y_train, hist["val"], raw.y_val, hist["test"], raw.y_test,
                   raw.num_classes, mean=(0.0,) * nbins, std=(1.0,) * nbins, info=info)


def load_imagelist_histogram(root: str | os.PathLike, *, input_size: int = 32, cache: bool = True,
                             progress: bool = True, workers: int | None = None,
                             allow_outside_root: bool = False) -> Dataset:
    """``imagelist-hist:ROOT``: the image list at ``root`` read as RGB at ``input_size``, as colour histograms."""
    raw = read_imagelist(root, input_size=input_size, channels=3, cache=cache, progress=progress, workers=workers,
                         allow_outside_root=allow_outside_root)
    return colour_histogram_dataset(raw)
