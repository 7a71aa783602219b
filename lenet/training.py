"""The training configuration and the epoch loop that every backend shares.

A backend supplies a *trainer*: an object built once per training run that
owns the framework-side copy of the training set (converted once, outside any
timed region, as :func:`training_arrays` lays it out), the optimizer state and
one method::

    step(idx: np.ndarray, lr: float) -> (mean_loss: float, logits: np.ndarray)

which trains on the samples ``idx`` of the training set with learning rate
``lr`` and returns the batch's mean loss and its logits (for running
accuracy).  Data order, learning-rate schedule, history and progress are
decided here, once, so that all backends train the same way.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np

from .metrics import evaluate, topk_correct

OPTIMIZERS = ("sgd", "adam")


class ConfigError(ValueError):
    """A training configuration that cannot be honoured."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run, honoured identically by every backend.

    ``schedule`` is a step schedule: pairs ``(epoch, lr)`` meaning "from this
    0-based epoch on, use ``lr``".  SGD uses PyTorch's momentum form
    (``v = m*v + g; p -= lr*v``); Adam uses ``betas=(0.9, 0.999)`` and
    ``eps=1e-8``.  Weight decay is L2 added to the gradient (not AdamW).
    ``hflip`` mirrors a seeded half of each epoch's samples left to right (see :func:`batch_indices`):
    augmentation for datasets whose classes are mirror-symmetric, such as Fashion-MNIST, never digits.
    """

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: tuple = ()
    seed: int = 0
    hflip: bool = False

    def __post_init__(self):
        object.__setattr__(self, "schedule", tuple(tuple(p) for p in self.schedule))
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        for name in ("epochs", "batch_size"):
            _require(_is_int(getattr(self, name)) and getattr(self, name) >= 1, name, "an integer >= 1",
                     getattr(self, name))
        _require(_is_int(self.seed) and self.seed >= 0, "seed", "an integer >= 0", self.seed)
        _require(isinstance(self.hflip, (bool, np.bool_)), "hflip", "true or false", self.hflip)
        _require(_is_number(self.lr) and self.lr > 0, "lr", "a finite number > 0", self.lr)
        _require(_is_number(self.momentum) and 0 <= self.momentum < 1, "momentum", "a number in [0, 1)",
                 self.momentum)
        _require(_is_number(self.weight_decay) and self.weight_decay >= 0, "weight_decay", "a finite number >= 0",
                 self.weight_decay)
        for pair in self.schedule:
            _require(len(pair) == 2 and _is_int(pair[0]) and pair[0] >= 0 and _is_number(pair[1]) and pair[1] > 0,
                     "schedule entry", "(epoch >= 0, lr > 0)", pair)
        epochs = [e for e, _ in self.schedule]
        if epochs != sorted(epochs):
            raise ConfigError(f"schedule epochs must be increasing and >= 0, got {epochs}")

    def lr_at(self, epoch: int) -> float:
        """Learning rate for 0-based ``epoch``."""
        lr = self.lr
        for start, value in self.schedule:
            if epoch >= start:
                lr = value
        return float(lr)

    def to_dict(self) -> dict:
        return asdict(self)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _require(ok: bool, name: str, expected: str, value) -> None:
    if not ok:
        raise ConfigError(f"{name} must be {expected}, got {value!r}")


# Study E (MLPs vs LeNet-5 on MNIST): epochs 1-2 at 5e-4, 3-5 at 2e-4, 6-8 at 1e-4,
# 9-12 at 5e-5, then 1e-5 (1-based in the study, 0-based here).
STUDY_E_SCHEDULE = ((2, 2e-4), (5, 1e-4), (8, 5e-5), (12, 1e-5))


def batch_indices(n: int, batch_size: int, seed: int, epoch: int, hflip: bool = False) -> list[np.ndarray]:
    """The mini-batches of one epoch: a permutation of ``n`` samples seeded by ``(seed, epoch)``, last batch partial.

    With ``hflip`` each sample is drawn mirrored or not by a fair coin from the same generator: index
    ``i + n`` names the mirror image of sample ``i``, as laid out by :func:`training_arrays`.  The
    permutation is drawn first, so the order is the same with and without.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n)
    if hflip:
        order += n * rng.integers(0, 2, n, dtype=order.dtype)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def epoch_batches(n: int, config: TrainConfig, epoch: int) -> list[np.ndarray]:
    """:func:`batch_indices` of epoch ``epoch`` of ``config``, for a training set of ``n`` samples."""
    return batch_indices(n, config.batch_size, config.seed, epoch, config.hflip)


def training_arrays(x: np.ndarray, y: np.ndarray, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """The samples a trainer indexes: ``(x, y)`` itself, or with ``config.hflip`` their mirror images appended.

    Every trainer calls this once, when it converts its training set, so the step stays a gather by index
    in every backend and mirroring costs nothing inside the timed steps.
    """
    if not config.hflip:
        return x, y
    return np.concatenate([x, x[..., ::-1]]), np.concatenate([y, y])


class Trainer(Protocol):
    def step(self, idx: np.ndarray, lr: float) -> tuple[float, np.ndarray]: ...


@dataclass
class EpochStats:
    loss_sum: float = 0.0
    top1: int = 0
    top5: int = 0
    seen: int = 0

    def add(self, loss: float, logits: np.ndarray, labels: np.ndarray) -> None:
        self.loss_sum += loss * len(labels)
        self.top1 += topk_correct(logits, labels, 1)
        self.top5 += topk_correct(logits, labels, 5)
        self.seen += len(labels)

    def as_dict(self) -> dict:
        n = max(self.seen, 1)
        return {"loss": self.loss_sum / n, "top1": self.top1 / n, "top5": self.top5 / n}


def run_epoch(trainer: Trainer, y_train: np.ndarray, config: TrainConfig, epoch: int,
              on_batch: Callable[[int], None] | None = None, step_times: list | None = None) -> EpochStats:
    """One epoch of ``trainer`` in the shared data order; returns running train statistics.

    ``y_train`` holds the labels of the ``n`` training samples, without the mirror images that
    :func:`training_arrays` appends for ``hflip``: an epoch is ``n`` samples either way.

    ``step_times``, when given, receives the seconds of every ``trainer.step`` call (one ``perf_counter``
    pair per step, about 0.1 us against steps of 0.1 ms and more: see ``timer_overhead_s``).
    """
    lr = config.lr_at(epoch)
    stats = EpochStats()
    n = len(y_train)
    for idx in epoch_batches(n, config, epoch):
        start = time.perf_counter()
        loss, logits = trainer.step(idx, lr)
        if step_times is not None:
            step_times.append(time.perf_counter() - start)
        if not math.isfinite(loss):
            raise FloatingPointError(f"loss became {loss} in epoch {epoch + 1}; lower the learning rate")
        stats.add(loss, logits, y_train[idx % n if config.hflip else idx])
        if on_batch:
            on_batch(len(idx))
    return stats


def timer_overhead_s(calls: int = 100_000) -> float:
    """Seconds one ``perf_counter`` pair and list append cost (what per-step timing adds to each step)."""
    times: list = []
    start = time.perf_counter()
    for _ in range(calls):
        t0 = time.perf_counter()
        times.append(time.perf_counter() - t0)
    return (time.perf_counter() - start) / calls


@dataclass
class History:
    """Per-epoch record: train and validation loss, top-1, top-5, learning rate, seconds."""

    epochs: list = field(default_factory=list)

    def add_epoch(self, epoch: int, lr: float, seconds: float, train: dict, val: dict) -> None:
        """Append the row of epoch ``epoch`` (0-based): its lr, seconds, and the ``loss``, ``top1`` and ``top5``
        of ``train`` (as the steps saw them) and ``val`` (after the epoch), as ``train_*`` and ``val_*``."""
        row = {"epoch": epoch + 1, "lr": lr, "seconds": seconds}
        for split, metrics in (("train", train), ("val", val)):
            row.update({f"{split}_{k}": float(metrics[k]) for k in ("loss", "top1", "top5")})
        self.epochs.append(row)

    def last(self) -> dict:
        return self.epochs[-1]

    def column(self, key: str) -> list:
        return [row[key] for row in self.epochs]

    def to_list(self) -> list[dict]:
        return [dict(row) for row in self.epochs]

    def format(self) -> str:
        lines = [f"{'epoch':>5} {'lr':>9} {'train loss':>10} {'top1':>7} {'val loss':>9} "
                 f"{'val top1':>8} {'val top5':>8} {'sec':>7}"]
        for r in self.epochs:
            lines.append(f"{r['epoch']:>5} {r['lr']:>9.2e} {r['train_loss']:>10.4f} {r['train_top1']:>7.4f} "
                         f"{r['val_loss']:>9.4f} {r['val_top1']:>8.4f} {r['val_top5']:>8.4f} {r['seconds']:>7.2f}")
        return "\n".join(lines)


def fit(trainer: Trainer, predict: Callable[[np.ndarray], np.ndarray], data, config: TrainConfig,
        progress: bool = True, desc: str = "train") -> History:
    """Train for ``config.epochs`` and return the :class:`History`.

    ``seconds`` per epoch covers the training steps only; the validation pass
    after each epoch is not counted.
    """
    from tqdm.auto import tqdm

    history = History()
    n = len(data.y_train)
    with tqdm(total=config.epochs * n, desc=desc, unit="img", disable=not progress,
              dynamic_ncols=True, leave=False) as bar:
        for epoch in range(config.epochs):
            start = time.perf_counter()
            stats = run_epoch(trainer, data.y_train, config, epoch, on_batch=bar.update)
            seconds = time.perf_counter() - start
            val = evaluate(predict(data.x_val), data.y_val)
            train = stats.as_dict()
            history.add_epoch(epoch, config.lr_at(epoch), seconds, train, val)
            bar.set_postfix(epoch=epoch + 1, loss=f"{train['loss']:.3f}", val_top1=f"{val['top1']:.3f}")
    return history
