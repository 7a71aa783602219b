"""torch's SGD and Adam as optax transformations, without the learning rate (see :func:`.network.train_step`).

- SGD: ``g += wd * p`` (``optax.add_decayed_weights``: L2 on the gradient, biases included, as
  ``torch.optim.SGD``), then ``v = m * v + g`` (``optax.trace``: torch's momentum form, ``v = g`` on the first
  step since ``v`` starts at zero; not the ``(1 - m)`` dampened form), and the step is ``p -= lr * v``.
- Adam: the same L2 (torch's Adam, not AdamW), then ``optax.scale_by_adam(0.9, 0.999, eps=1e-8)``:
  ``m_hat / (sqrt(v_hat) + eps)`` with ``eps`` outside the square root and after the bias correction, where
  torch puts it (``eps_root=0``).  ``sqrt(v / (1 - b2^t))`` against torch's ``sqrt(v) / sqrt(1 - b2^t)``
  differs by float rounding only.
"""
from __future__ import annotations

import optax

from ... import training


def torch_form(config: training.TrainConfig) -> optax.GradientTransformation:
    """The update direction (lr 1) of ``config``'s optimizer, as torch computes it."""
    decay = optax.add_decayed_weights(config.weight_decay)
    if config.optimizer == "sgd":
        return optax.chain(decay, optax.trace(decay=config.momentum, nesterov=False))
    return optax.chain(decay, optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0))
