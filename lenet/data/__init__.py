"""Datasets by name, all delivered as the same :class:`Dataset`: float32 NCHW splits, int64 labels.

``digits``
    scikit-learn's 1,797 bundled 8x8 digits, upsampled; the embedded default.
``mnist``, ``fashion-mnist``, ``kmnist``
    idx files, read locally or downloaded and sha256-checked (see :mod:`.idx_datasets`).
``synthetic`` or ``synthetic:N``
    random images for speed benchmarks, ``N`` training samples (default 60,000).
``imagelist:PATH``, ``imagelist-rgb:PATH``
    a folder of images listed in ``train.txt``, ``val.txt``, ``test.txt``
    (``relative/path label`` per line), grayscale or RGB, resized to
    ``input_size``, decoded once and cached (see :mod:`.imagelist`).  A relative
    ``PATH`` is taken from ``data_dir`` when given.  Listed paths that leave
    ``PATH`` through ``..`` are refused unless ``allow_outside_root``.
``imagelist-hist:PATH``
    the same images as 64-bin global colour histograms, ``(N, 64, 1, 1)``
    (see :mod:`.features`).

A name may carry one argument after its first colon: ``synthetic:N``, or the
image-list folder (which may itself contain colons).
"""
from __future__ import annotations

import os
from pathlib import Path

from .base import Dataset, DatasetError
from .digits import load_digits
from .idx_datasets import IDX_DATASETS, load_idx_dataset
from .synthetic import DEFAULT_TRAIN, load_synthetic

__all__ = ["DATASETS", "PATH_DATASETS", "Dataset", "DatasetError", "load_dataset"]

DATASETS = ("digits", *IDX_DATASETS, "synthetic")
# Kinds that name a folder: "imagelist:PATH" (imported on use: they need Pillow).
PATH_DATASETS = ("imagelist", "imagelist-rgb", "imagelist-hist")
_CHOICES = ("digits, " + ", ".join(IDX_DATASETS) + ", synthetic, synthetic:N, "
            + ", ".join(f"{kind}:PATH" for kind in PATH_DATASETS))


def _train_count(name: str, text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise DatasetError(f"dataset {name!r}: N in synthetic:N must be a positive integer")
    return count


def load_dataset(name: str, *, input_size: int = 32, data_dir: str | os.PathLike | None = None,
                 download: bool = True, val_fraction: float | None = None, seed: int = 0,
                 progress: bool = True, allow_outside_root: bool = False) -> Dataset:
    """Load dataset ``name`` (see the module docstring) at ``input_size`` x ``input_size`` pixels.

    ``val_fraction`` is the share of the training data held out for
    validation (stratified, drawn with ``seed``); None takes the dataset's
    default (digits 0.25 of the non-test 80%, i.e. 60/20/20; others 0.1).
    ``data_dir``, ``download`` and ``progress`` concern the idx datasets, and
    ``data_dir`` and ``progress`` the image lists, whose validation split is
    their ``val.txt`` (so ``val_fraction`` must be None) and which use no seed.
    ``input_size`` must be a positive integer, and the arrays must fit in memory.
    """
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
        raise DatasetError(f"dataset {name!r}: input_size must be a positive integer, got {input_size!r}")
    kind, colon, argument = name.partition(":")
    if kind in PATH_DATASETS:
        return _load_path_dataset(name, kind, argument, input_size=input_size, data_dir=data_dir,
                                  val_fraction=val_fraction, progress=progress,
                                  allow_outside_root=allow_outside_root)
    split = {} if val_fraction is None else {"val_fraction": val_fraction}
    if kind == "synthetic":
        count = _train_count(name, argument) if colon else DEFAULT_TRAIN
        return load_synthetic(count, input_size=input_size, seed=seed, **split)
    if colon:
        raise DatasetError(f"dataset {kind!r} takes no ':' argument (got {name!r}); choose from {_CHOICES}")
    if kind == "digits":
        return load_digits(input_size=input_size, seed=seed, **split)
    if kind in IDX_DATASETS:
        return load_idx_dataset(kind, input_size=input_size, data_dir=data_dir, download=download, seed=seed,
                                progress=progress, **split)
    raise DatasetError(f"unknown dataset {name!r}; choose from {_CHOICES}")


def _load_path_dataset(name: str, kind: str, argument: str, *, input_size: int,
                       data_dir: str | os.PathLike | None, val_fraction: float | None, progress: bool,
                       allow_outside_root: bool) -> Dataset:
    if not argument:
        raise DatasetError(f"dataset {kind!r} needs a folder: {kind}:PATH, PATH holding train.txt, val.txt, "
                           f"test.txt (got {name!r})")
    if val_fraction is not None:
        raise DatasetError(f"dataset {name!r}: the validation split is the list's val.txt; val_fraction "
                           f"does not apply (got {val_fraction})")
    root = Path(argument).expanduser()
    if data_dir is not None:
        root = Path(data_dir) / root  # an absolute PATH stays as it is
    if kind == "imagelist-hist":
        from .features import load_imagelist_histogram

        return load_imagelist_histogram(root, input_size=input_size, progress=progress,
                                        allow_outside_root=allow_outside_root)
    from .imagelist import KINDS, load_imagelist

    return load_imagelist(root, input_size=input_size, channels=KINDS[kind], progress=progress,
                          allow_outside_root=allow_outside_root)
