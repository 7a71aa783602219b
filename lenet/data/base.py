"""The dataset contract: float32 NCHW arrays, int64 labels, three splits."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class DatasetError(ValueError):
    """A dataset that cannot be loaded; the message names the file and the problem."""


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test splits, normalised with training-set statistics only.

    ``x_*`` are float32 ``(N, C, H, W)``; ``y_*`` int64 in ``0..num_classes-1``.
    ``mean`` and ``std`` are the training-set statistics the images were
    normalised with (one value per channel).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    mean: tuple = ()
    std: tuple = ()
    info: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])

    def sizes(self) -> dict:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

    def subset(self, train: int | None = None, val: int | None = None, test: int | None = None,
               name: str | None = None) -> Dataset:
        """The first ``train``/``val``/``test`` samples of each split (for quick runs), optionally renamed."""
        t, v, s = slice(None, train), slice(None, val), slice(None, test)
        return Dataset(name or self.name, self.x_train[t], self.y_train[t], self.x_val[v], self.y_val[v],
                       self.x_test[s], self.y_test[s], self.num_classes, self.mean, self.std, dict(self.info))
