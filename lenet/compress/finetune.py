"""Fine-tuning after compression, through the shared training loop, in any backend (no framework import).

:class:`MaskedTrainer` wraps a backend's trainer (see :mod:`lenet.training`)
and re-applies the pruning masks after every optimizer step, through the
backend's public ``get_weights`` / ``set_weights``.  That keeps the sparsity
exact whatever the optimizer does (Adam's moments keep nudging a pruned
weight; zeroing it after each step undoes that), costs one copy of the
weights per step (62k floats for LeNet-5: negligible beside the step), and
needs nothing from a backend but its contract.  The shared loop decides data
order, schedule and history exactly as in :func:`lenet.training.fit`.
"""
from __future__ import annotations

from dataclasses import replace

from ..training import History, TrainConfig, fit
from .pruning import apply_masks


class MaskedTrainer:
    """``trainer.step`` followed by zeroing the masked-out weights of ``model`` (``masks``: key -> bool keep)."""

    def __init__(self, trainer, backend, model, masks: dict):
        self.trainer, self.backend, self.model, self.masks = trainer, backend, model, masks
        self.steps = 0

    def reapply(self) -> None:
        self.backend.set_weights(self.model, apply_masks(self.backend.get_weights(self.model), self.masks))

    def step(self, idx, lr):
        loss, logits = self.trainer.step(idx, lr)
        self.reapply()
        self.steps += 1
        return loss, logits


def finetune_config(base: TrainConfig, epochs: int, lr_factor: float = 0.5) -> TrainConfig:
    """``base`` for ``epochs`` epochs at ``lr_factor`` times its learning rate, without its schedule."""
    return replace(base, epochs=int(epochs), lr=base.lr * lr_factor, schedule=())


def fine_tune(backend, model, data, config: TrainConfig, masks: dict | None = None,
              progress: bool = False, desc: str = "fine-tune") -> History:
    """Train ``model`` (a :class:`lenet.backends.Model` of ``backend``) on ``data``; with ``masks``, keep them.

    The masks are applied once before the first step too, so a model whose
    weights were not yet zeroed starts pruned.
    """
    trainer = backend.trainer(model, data.x_train, data.y_train, config)
    if masks:
        trainer = MaskedTrainer(trainer, backend, model, masks)
        trainer.reapply()
    return fit(trainer, lambda x: backend.predict(model, x), data, config, progress=progress, desc=desc)
