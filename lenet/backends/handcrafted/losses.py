"""Softmax cross-entropy, forward and backward side by side (NumPy)."""
from __future__ import annotations

import numpy as np


class SoftmaxCrossEntropy:
    """Mean softmax cross-entropy of logits ``(K, N)`` (classes first, batch innermost) against labels ``(N,)``.

    ``forward`` returns ``mean_i(logsumexp(z_i) - z_i[y_i])``, computed stably
    by subtracting each column's maximum first; ``backward`` returns
    ``(softmax(z) - onehot(y)) / N`` of shape ``(K, N)``.  As in the layers,
    the returned gradient is a reused buffer.
    """

    def __init__(self):
        self._probs = None
        self._labels = None
        self._cols = None
        self._ws: dict[tuple, tuple] = {}

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        k, n = logits.shape
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},) to match logits {logits.shape}, got {labels.shape}")
        key = (logits.shape, logits.dtype)
        ws = self._ws.get(key)
        if ws is None:
            if len(self._ws) >= 8:
                self._ws.clear()
            ws = self._ws[key] = (np.empty((k, n), logits.dtype), np.empty((1, n), logits.dtype),
                                  np.empty((k, n), logits.dtype), np.arange(n))
        z, colsum, grad, cols = ws
        np.subtract(logits, logits.max(axis=0, keepdims=True), out=z)  # z <= 0: exp cannot overflow
        picked = z[labels, cols]  # z_i[y_i] - max_i
        np.exp(z, out=z)
        np.sum(z, axis=0, keepdims=True, out=colsum)
        loss = float(np.log(colsum[0]).sum() - picked.sum()) / n
        np.divide(z, colsum, out=z)  # softmax
        self._probs, self._labels, self._cols, self._grad = z, labels, cols, grad
        return loss

    def backward(self, scale: float | None = None) -> np.ndarray:
        """``(softmax - onehot) * scale``, shape ``(K, N)``; ``scale`` defaults to ``1 / N`` (the mean).

        A micro-batch of a larger batch passes ``1 / batch`` so that the
        summed micro-batch gradients are those of the batch's mean loss.
        """
        grad = self._grad
        np.copyto(grad, self._probs)
        grad[self._labels, self._cols] -= 1
        grad *= 1.0 / self._probs.shape[1] if scale is None else scale
        return grad
