"""Datasets by name, all delivered as the same :class:`Dataset`: float32 NCHW splits, int64 labels.

``digits``
    scikit-learn's 1,797 bundled 8x8 digits, upsampled; the embedded default.
``mnist``, ``fashion-mnist``, ``kmnist``
    idx files, read locally or downloaded and sha256-checked (see :mod:`.idx_datasets`).
``synthetic`` or ``synthetic:N``
    random images for speed benchmarks, ``N`` training samples (default 60,000).

A name may carry one argument after a colon; ``synthetic:N`` is the first such
kind, and an image-list loader (``imagelist:PATH``) would be another.
"""
from __future__ import annotations

import os

from .base import Dataset, DatasetError
from .digits import load_digits
from .idx_datasets import IDX_DATASETS, load_idx_dataset
from .synthetic import DEFAULT_TRAIN, load_synthetic

__all__ = ["DATASETS", "Dataset", "DatasetError", "load_dataset"]

DATASETS = ("digits", *IDX_DATASETS, "synthetic")
_CHOICES = "digits, " + ", ".join(IDX_DATASETS) + ", synthetic, synthetic:N"


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
                 progress: bool = True) -> Dataset:
    """Load dataset ``name`` (see the module docstring) at ``input_size`` x ``input_size`` pixels.

    ``val_fraction`` is the share of the training data held out for
    validation (stratified, drawn with ``seed``); None takes the dataset's
    default (digits 0.25 of the non-test 80%, i.e. 60/20/20; others 0.1).
    ``data_dir``, ``download`` and ``progress`` concern the idx datasets only.
    """
    kind, colon, argument = name.partition(":")
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
