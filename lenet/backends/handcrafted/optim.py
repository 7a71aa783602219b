"""SGD with momentum and Adam with PyTorch's update rules, in place (NumPy).

Both take parallel lists of parameter and gradient arrays and update the
parameters in place; the learning rate is passed to every ``step`` because
the schedule lives in :meth:`lenet.training.TrainConfig.lr_at`.  Weight decay
is L2 added to the gradient (``g + wd * p``), as ``torch.optim.SGD`` and
``torch.optim.Adam`` do (not AdamW).  A network that keeps all its parameters
in one flat vector passes that single pair, so a step costs a handful of calls.
"""
from __future__ import annotations

import math

import numpy as np


class _Optimizer:
    def __init__(self, params, grads, weight_decay: float = 0.0):
        self.params = list(params)
        self.grads = list(grads)
        if len(self.params) != len(self.grads):
            raise ValueError(f"{len(self.params)} parameters but {len(self.grads)} gradients")
        for p, g in zip(self.params, self.grads):
            if p.shape != g.shape or p.dtype != g.dtype:
                raise ValueError(f"parameter {p.dtype} {p.shape} and gradient {g.dtype} {g.shape} differ")
        self.weight_decay = float(weight_decay)
        self.steps = 0
        self._tmp = [np.empty_like(p) for p in self.params]

    def _grad(self, i: int) -> np.ndarray:
        """The gradient with L2 weight decay added (into a scratch buffer; the layer's gradient is left alone)."""
        g = self.grads[i]
        if not self.weight_decay:
            return g
        t = self._tmp[i]
        np.multiply(self.params[i], self.weight_decay, out=t)
        np.add(g, t, out=t)
        return t

    def step(self, lr: float) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class SGD(_Optimizer):
    """``v = momentum * v + g`` (``v = g`` on the first step), ``p -= lr * v``; plain SGD when momentum is 0."""

    def __init__(self, params, grads, momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__(params, grads, weight_decay)
        self.momentum = float(momentum)
        self.velocity = [np.zeros_like(p) for p in self.params] if self.momentum else []

    def step(self, lr: float) -> None:
        for i, p in enumerate(self.params):
            g = self._grad(i)
            if self.momentum:
                v = self.velocity[i]
                if self.steps == 0:
                    np.copyto(v, g)
                else:
                    np.multiply(v, self.momentum, out=v)
                    np.add(v, g, out=v)
                g = v
            t = self._tmp[i]
            np.multiply(g, lr, out=t)
            np.subtract(p, t, out=p)
        self.steps += 1


class Adam(_Optimizer):
    """PyTorch's Adam: ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2``,
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``."""

    def __init__(self, params, grads, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, grads, weight_decay)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.eps = float(eps)
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self._denom = [np.empty_like(p) for p in self.params]

    def step(self, lr: float) -> None:
        self.steps += 1
        b1, b2, t = self.beta1, self.beta2, self.steps
        step_size = lr / (1 - b1 ** t)
        bc2_sqrt = math.sqrt(1 - b2 ** t)
        for i, p in enumerate(self.params):
            g = self._grad(i)  # may live in tmp: it is last read before tmp is reused below
            m, v, d, tmp = self.m[i], self.v[i], self._denom[i], self._tmp[i]
            np.multiply(m, b1, out=m)                  # m = b1 m + (1 - b1) g
            np.multiply(g, 1 - b1, out=d)
            np.add(m, d, out=m)
            np.multiply(g, g, out=d)                   # v = b2 v + (1 - b2) g^2
            np.multiply(d, 1 - b2, out=d)
            np.multiply(v, b2, out=v)
            np.add(v, d, out=v)
            np.sqrt(v, out=d)                          # denom = sqrt(v) / sqrt(1 - b2^t) + eps
            np.divide(d, bc2_sqrt, out=d)
            np.add(d, self.eps, out=d)
            np.divide(m, d, out=tmp)                   # p -= step_size * m / denom
            np.multiply(tmp, step_size, out=tmp)
            np.subtract(p, tmp, out=p)


def make_optimizer(name: str, params, grads, *, momentum: float = 0.9, weight_decay: float = 0.0):
    """The optimizer ``name`` ("sgd" or "adam") with :class:`~lenet.training.TrainConfig` hyperparameters."""
    if name == "sgd":
        return SGD(params, grads, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return Adam(params, grads, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose 'sgd' or 'adam'")
