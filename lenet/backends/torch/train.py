"""Training: the training set on the device, torch's optimizers, one step eager or compiled.

Training follows :class:`lenet.training.TrainConfig`: SGD uses torch's own
momentum form (``v = m*v + g; p -= lr*v``), Adam ``betas=(0.9, 0.999)``,
``eps=1e-8``; ``weight_decay`` is torch's L2-on-the-gradient for every
parameter (biases included).  Nothing in the forward or backward pass is
random, so a run is determined by the initial weights and the data order.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ... import training
from .. import Model
from ..common import check_mode, training_set
from . import CAPABILITIES, NAME
from .model import predict, torch_device
from .modes import import_inductor, sync, to_channels_last


class TorchTrainer:
    """The training set on the device (converted once), the optimizer, and one step (eager or compiled).

    Mode ``"channels_last"`` is eager with the model's conv weights and the training set laid out
    channels-last (:func:`.modes.to_channels_last`), so that oneDNN's convolutions and their backward run
    NHWC; the model stays so after training (its values and every result are the same).
    """

    def __init__(self, model: Model, x_train, y_train, config: training.TrainConfig, mode: str | None = None):
        self.mode = mode = check_mode(NAME, CAPABILITIES, "train", mode)
        x_train, y_train = training_set(model.arch, x_train, y_train, config)
        self.model = model
        self.config = config
        dev = torch_device(model)
        self.x = torch.from_numpy(x_train).to(dev)
        if mode == "channels_last":  # the weights in place (values unchanged), the training set once
            to_channels_last(model.net, dev)
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.y = torch.from_numpy(y_train.astype(np.int64)).to(dev)  # CrossEntropyLoss wants int64
        self.device = dev
        params = model.net.parameters()
        if config.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                             weight_decay=config.weight_decay)
        else:
            self.optimizer = torch.optim.Adam(params, lr=config.lr, betas=(0.9, 0.999), eps=1e-8,
                                              weight_decay=config.weight_decay)
        self.loss_fn = loss_fn = nn.CrossEntropyLoss()
        net = model.net

        def forward_loss(xb, yb):
            logits = net(xb)
            return loss_fn(logits, yb), logits

        if mode == "compile":
            import_inductor()
            forward_loss = torch.compile(forward_loss)
        self.forward_loss = forward_loss

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _index(self, idx) -> torch.Tensor:
        return torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self.device)

    def _step(self, index: torch.Tensor):
        xb = self.x.index_select(0, index)
        yb = self.y.index_select(0, index)
        self.model.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss, logits = self.forward_loss(xb, yb)
        loss.backward()
        self.optimizer.step()
        return loss, logits

    def step(self, idx: np.ndarray, lr: float) -> tuple[float, np.ndarray]:
        """Train on samples ``idx`` with learning rate ``lr``; return (mean loss, logits)."""
        self._set_lr(lr)
        loss, logits = self._step(self._index(idx))
        return loss.item(), logits.detach().cpu().numpy()

    def make_step(self, idx, lr: float):
        """For timing: a zero-argument callable making one step on the fixed samples ``idx`` at ``lr``.

        The indices are converted once; each call gathers the batch, trains on
        it and returns the loss as a float (CUDA synchronised), without copying
        the logits out.
        """
        self._set_lr(lr)
        index, dev = self._index(idx), self.device

        def run() -> float:
            loss, _ = self._step(index)
            sync(dev)
            return loss.item()

        return run


def trainer(model: Model, x_train, y_train, config: training.TrainConfig, mode: str | None = None) -> TorchTrainer:
    """A trainer in ``mode`` (declared ``train_modes``; ``"eager"`` by default)."""
    return TorchTrainer(model, x_train, y_train, config, mode)


def train(model: Model, data, config: training.TrainConfig, progress: bool = True,
          mode: str | None = None) -> training.History:
    """Train on ``data`` (a :class:`lenet.data.Dataset`) with the shared loop; returns the History."""
    torch.manual_seed(config.seed)
    t = trainer(model, data.x_train, data.y_train, config, mode)
    desc = f"torch {model.arch.name}" + ("" if t.mode == "eager" else f" ({t.mode})")
    return training.fit(t, lambda x: predict(model, x), data, config, progress=progress, desc=desc)
