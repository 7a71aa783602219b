"""Accuracy and loss computed from logits, identically for every backend (NumPy)."""
from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of ``(n, classes)`` logits, stable for large values."""
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean softmax cross-entropy (nats) of ``(n, classes)`` logits against int labels."""
    lp = log_softmax(np.asarray(logits, dtype=np.float64))
    return float(-lp[np.arange(len(labels)), labels].mean())


def topk_correct(logits: np.ndarray, labels: np.ndarray, k: int) -> int:
    """How many labels are among the ``k`` largest logits of their row."""
    k = min(k, logits.shape[1])
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return int((top == labels[:, None]).any(axis=1).sum())


def evaluate(logits: np.ndarray, labels: np.ndarray) -> dict:
    """``{"loss", "top1", "top5"}`` of a batch of logits; accuracies are fractions."""
    if logits.ndim != 2 or len(logits) != len(labels):
        raise ValueError(f"logits {logits.shape} do not match {len(labels)} labels")
    n = max(len(labels), 1)
    return {
        "loss": cross_entropy(logits, labels),
        "top1": topk_correct(logits, labels, 1) / n,
        "top5": topk_correct(logits, labels, 5) / n,
    }
