"""Training: a hand-written ``tf.GradientTape`` step in three modes, and Keras' own ``fit``.

Training is a hand-written step (``tf.GradientTape``), run in one of four
modes (``trainer(..., mode=...)``, declared ``train_modes``), all the same algorithm
from the same weights:

- ``"graph"`` (the default): the step inside one ``tf.function`` with a fixed
  input signature (indices of any length), so it traces once and never again;
- ``"eager"``: the same Python step called directly, op by op;
- ``"xla"``: the same ``tf.function`` with ``jit_compile=True``.  It still
  traces once, but XLA compiles one executable per distinct batch shape (the
  last partial batch of an epoch costs one more compilation);
- ``"fit"``: Keras' own loop.  The model is ``compile()``-d with the same
  torch-form optimizer and ``SparseCategoricalCrossentropy(from_logits=True)``
  (a mean over the batch, as in the other modes); ``jit_compile`` keeps
  Keras' default ``"auto"`` (False for these models on the CPU).
  :meth:`KerasFitTrainer.fit` trains whole epochs with one ``model.fit`` call
  fed the shared seeded order (see there); :meth:`KerasFitTrainer.step` runs
  ``train_on_batch``, the same compiled train step with Keras' per-call
  bookkeeping.  Its figures include Keras' own overheads (callbacks, metric
  trackers, data adapters).
"""
from __future__ import annotations

import numpy as np

from ... import training
from .. import Model
from ..common import check_mode, training_set
from . import CAPABILITIES, NAME
from .model import predict, to_nhwc
from .optim import make_optimizer
from .runtime import keras, tf, tf_device


class _TrainerBase:
    """The training set as TF tensors (converted once, NHWC), the optimizer, and the learning rate."""

    mode = ""

    def __init__(self, model: Model, x_train, y_train, config: training.TrainConfig):
        x_train, y_train = training_set(model.arch, x_train, y_train, config)
        self.samples = len(y_train) // (2 if config.hflip else 1)  # an epoch's: without the mirror images
        self.model = model
        self.config = config
        self.device = tf_device(model)
        self.gpu = model.device == "gpu"
        with tf.device(self.device):
            self.x = tf.constant(to_nhwc(x_train))
            self.y = tf.constant(y_train.astype(np.int32))
            self.optimizer = make_optimizer(config)
            self.variables = list(model.net.trainable_variables)
            self.optimizer.build(self.variables)  # create slots now, not inside the trace
        self.lr = float(config.lr)

    def _set_lr(self, lr: float) -> None:
        lr = float(lr)
        if lr == self.lr:
            return
        if isinstance(self.optimizer, keras.optimizers.SGD) and self.optimizer.momentum:
            # keep Keras' velocity equal to -lr * torch's (see lenet.backends.keras.optim)
            for v in self.optimizer.momentums:
                v.assign(v * (lr / self.lr))
        self.optimizer.learning_rate = lr  # assigns the optimizer's lr variable: no retrace
        self.lr = lr

    def _index(self, idx) -> tf.Tensor:
        with tf.device(self.device):
            return tf.constant(np.asarray(idx, dtype=np.int32))

    def _wait(self, loss) -> float:
        """The loss as a float: reading it back waits for it; on a GPU, wait for the update as well."""
        if self.gpu:
            tf.test.experimental.sync_devices()
        return float(loss)


class KerasTrainer(_TrainerBase):
    """The hand-written step in mode ``"eager"``, ``"graph"`` (one ``tf.function``) or ``"xla"``."""

    def __init__(self, model: Model, x_train, y_train, config: training.TrainConfig, mode: str = "graph"):
        if mode not in ("eager", "graph", "xla"):
            raise ValueError(f"KerasTrainer runs modes eager, graph and xla, got {mode!r}; use trainer() for 'fit'")
        self.mode = mode
        super().__init__(model, x_train, y_train, config)
        net = model.net
        x_all, y_all, variables, optimizer = self.x, self.y, self.variables, self.optimizer

        def train_step(idx):
            xb = tf.gather(x_all, idx)
            yb = tf.gather(y_all, idx)
            with tf.GradientTape() as tape:
                logits = net(xb, training=True)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yb, logits=logits))
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables))  # adds torch's weight decay
            return loss, logits

        if mode == "eager":
            self.train_step = train_step
        else:
            self.train_step = tf.function(train_step, input_signature=[tf.TensorSpec([None], tf.int32)],
                                          autograph=False, jit_compile=True if mode == "xla" else None)

    def tracing_count(self) -> int:
        """Traces of the step so far: 0 in eager mode (nothing is traced; Python runs every step)."""
        return 0 if self.mode == "eager" else self.train_step.experimental_get_tracing_count()

    def step(self, idx: np.ndarray, lr: float) -> tuple[float, np.ndarray]:
        """Train on samples ``idx`` with learning rate ``lr``; return (mean loss, logits)."""
        self._set_lr(lr)
        index = self._index(idx)
        with tf.device(self.device):
            loss, logits = self.train_step(index)
        return float(loss.numpy()), logits.numpy()

    def make_step(self, idx, lr: float):
        """For timing: a zero-argument callable making one step on the fixed samples ``idx`` at ``lr``.

        The indices are converted once; each call gathers the batch, trains on it and returns the loss as a
        float (on a GPU after synchronising the devices), without copying the logits out.
        """
        self._set_lr(lr)
        index, step, device = self._index(idx), self.train_step, self.device

        def run() -> float:
            with tf.device(device):
                loss, _ = step(index)
            return self._wait(loss)

        return run


class KerasFitTrainer(_TrainerBase):
    """Keras' own loop: ``model.compile`` with the same loss and torch-form optimizer, then ``fit``.

    :meth:`fit` trains whole epochs in one ``model.fit`` call.  The shared
    seeded order (:func:`lenet.training.batch_indices`) is fed as a
    ``tf.data`` pipeline of the pre-permuted indices: one row of ``n`` indices
    per epoch, each row cut into batches (the last one partial, never mixed
    with the next epoch), each batch gathered from the training tensors, and
    ``steps_per_epoch`` set so that Keras keeps one iterator across epochs.
    A callback sets each epoch's learning rate (with the SGD momentum kept in
    torch's form) and records the same history as :func:`lenet.training.fit`.

    :meth:`step` serves the shared :class:`lenet.training.Trainer` protocol
    and the per-step timings: it runs ``train_on_batch`` (Keras' compiled train
    step, plus its per-call bookkeeping) after one traced forward pass for the
    logits that the protocol returns (``train_on_batch`` does not return
    them); :meth:`make_step` times ``train_on_batch`` alone.
    """

    mode = "fit"

    def __init__(self, model: Model, x_train, y_train, config: training.TrainConfig):
        super().__init__(model, x_train, y_train, config)
        k = min(5, model.arch.num_classes)
        model.net.compile(optimizer=self.optimizer,
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=[keras.metrics.SparseCategoricalAccuracy(name="top1"),
                                   keras.metrics.SparseTopKCategoricalAccuracy(k=k, name="top5")])
        self.net = model.net

    @property
    def jit_compile(self) -> bool:
        """What Keras' ``jit_compile="auto"`` resolved to for this model."""
        return bool(self.net.jit_compile)

    def tracing_count(self) -> int:
        """Traces of Keras' train step so far (counted on the Python side, in the optimizer)."""
        return self.optimizer.python_calls

    def _batch(self, index):
        with tf.device(self.device):
            return tf.gather(self.x, index), tf.gather(self.y, index)

    def step(self, idx: np.ndarray, lr: float) -> tuple[float, np.ndarray]:
        """``train_on_batch`` on samples ``idx`` at ``lr``; return (mean loss, logits before the update)."""
        self._set_lr(lr)
        xb, yb = self._batch(self._index(idx))
        with tf.device(self.device):
            logits = self.net._lenet_forward(xb)
            logs = self.net.train_on_batch(xb, yb, return_dict=True)
        return float(logs["loss"]), logits.numpy()

    def make_step(self, idx, lr: float):
        """For timing: a zero-argument callable gathering the fixed samples ``idx`` and running ``train_on_batch``."""
        self._set_lr(lr)
        index, net, device = self._index(idx), self.net, self.device

        def run() -> float:
            xb, yb = self._batch(index)
            with tf.device(device):
                logs = net.train_on_batch(xb, yb, return_dict=True)  # returns NumPy: the step has run
            return self._wait(logs["loss"])

        return run

    def dataset(self, epochs: int) -> tuple:
        """``(tf.data.Dataset, steps_per_epoch)``: ``epochs`` epochs of batches in the shared seeded order."""
        cfg, n = self.config, self.samples
        orders = np.stack([np.concatenate(training.epoch_batches(n, cfg, e))
                           for e in range(epochs)]).astype(np.int32)
        x, y, b = self.x, self.y, cfg.batch_size
        ds = (tf.data.Dataset.from_tensor_slices(orders)
              .flat_map(lambda order: tf.data.Dataset.from_tensor_slices(order).batch(b))
              .map(lambda idx: (tf.gather(x, idx), tf.gather(y, idx)))
              .prefetch(tf.data.AUTOTUNE))
        return ds, -(-n // b)

    def fit(self, data, progress: bool = True, desc: str = "keras fit") -> training.History:
        """Train ``config.epochs`` epochs with one ``model.fit`` call; the same History as :func:`training.fit`.

        ``seconds`` of an epoch runs from Keras' ``on_epoch_begin`` to its
        ``on_epoch_end``, before the validation pass, so it includes whatever
        Keras does at the epoch boundary; the whole call is timed as well, in
        ``fit_seconds`` of the last row.
        """
        import time

        from tqdm.auto import tqdm

        from ...metrics import evaluate

        cfg, model, trainer = self.config, self.model, self
        history = training.History()
        ds, steps = self.dataset(cfg.epochs)
        bar = tqdm(total=cfg.epochs, desc=desc, unit="epoch", disable=not progress, dynamic_ncols=True, leave=False)

        class Epochs(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                trainer._set_lr(cfg.lr_at(epoch))
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                seconds = time.perf_counter() - self.start
                val = evaluate(predict(model, data.x_val), data.y_val)
                history.add_epoch(epoch, cfg.lr_at(epoch), seconds, logs, val)
                bar.update(1)

        start = time.perf_counter()
        with bar, tf.device(self.device):
            self.net.fit(ds, epochs=cfg.epochs, steps_per_epoch=steps, shuffle=False, verbose=0,
                         callbacks=[Epochs()])  # the order is the dataset's
        history.epochs[-1]["fit_seconds"] = time.perf_counter() - start
        return history


def trainer(model: Model, x_train, y_train, config: training.TrainConfig,
            mode: str | None = None) -> KerasTrainer | KerasFitTrainer:
    """A trainer in ``mode`` (declared ``train_modes``; ``"graph"`` by default): see the module docstring."""
    mode = check_mode(NAME, CAPABILITIES, "train", mode)
    if mode == "fit":
        return KerasFitTrainer(model, x_train, y_train, config)
    return KerasTrainer(model, x_train, y_train, config, mode)


def train(model: Model, data, config: training.TrainConfig, progress: bool = True,
          mode: str | None = None) -> training.History:
    """Train on ``data`` (a :class:`lenet.data.Dataset`); returns the History.

    Modes ``"eager"``, ``"graph"`` and ``"xla"`` run the shared loop
    (:func:`lenet.training.fit`); ``"fit"`` runs one ``model.fit`` call
    (:meth:`KerasFitTrainer.fit`) in the same data order and schedule.
    """
    t = trainer(model, data.x_train, data.y_train, config, mode)
    desc = f"keras {model.arch.name}" + ("" if mode in (None, "graph") else f" ({mode})")
    if isinstance(t, KerasFitTrainer):
        return t.fit(data, progress=progress, desc=desc)
    return training.fit(t, lambda x: predict(model, x), data, config, progress=progress, desc=desc)
