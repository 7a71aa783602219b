"""Round 3 of docs/config-selection.md, rows K and L: random shifts, which the harness does not offer.

A record of the experiment, not part of the package.  Each epoch, every training image is moved by a
random offset in -S..S pixels in each direction (the gap filled with the background value), and with
FLIP mirrored by a fair coin; then the handcrafted trainer runs the epoch in the shared batch order.
It swaps the trainer's private copy of the samples, so it only runs against the handcrafted backend.
It prints validation top-1 and loss only.

    python docs/experiments/random_shifts.py NAME EPOCHS S FLIP(0/1) COSINE(0/1)
    python docs/experiments/random_shifts.py K 20 2 1 1
    python docs/experiments/random_shifts.py L 16 2 0 0
"""
import math
import sys

import numpy as np

from lenet import training
from lenet.backends import get_backend
from lenet.data import load_dataset
from lenet.measure import threads
from lenet.metrics import evaluate
from lenet.spec import build_arch

LR, BATCH, SIDE = 2e-3, 128, 32


def shifted(x: np.ndarray, padded: np.ndarray, s: int, rng) -> np.ndarray:
    """Each image of ``x`` moved by its own random offset in ``-s..s`` (``padded``: ``x`` padded by ``s``)."""
    n = len(x)
    dy, dx = rng.integers(-s, s + 1, n), rng.integers(-s, s + 1, n)
    out = np.empty_like(x)
    for a in range(-s, s + 1):
        for b in range(-s, s + 1):
            m = (dy == a) & (dx == b)
            out[m] = padded[m, :, s + a:s + a + SIDE, s + b:s + b + SIDE]
    return out


def main(name: str, epochs: int, s: int, flip: bool, cosine: bool) -> None:
    threads.set_threads(1)
    data = load_dataset("fashion-mnist")
    x0, n = data.x_train, len(data.y_train)
    background = float(x0[:, :, 0, 0].min())  # the normalised value of a black pixel
    schedule = (tuple((e, LR * 0.5 * (1 + math.cos(math.pi * e / epochs))) for e in range(1, epochs))
                if cosine else ((10, LR / 10),))
    config = training.TrainConfig(epochs=epochs, batch_size=BATCH, optimizer="adam", lr=LR, schedule=schedule)
    backend = get_backend("handcrafted")
    model = backend.build(build_arch("lenet5-relu", data.num_classes, data.input_shape), seed=0)
    trainer = backend.trainer(model, x0, data.y_train, config)
    rng = np.random.default_rng(123)
    padded = np.pad(x0, ((0, 0), (0, 0), (s, s), (s, s)), constant_values=background)
    vals = []
    for epoch in range(epochs):
        xe = shifted(x0, padded, s, rng) if s else x0.copy()
        if flip:
            mirror = rng.integers(0, 2, n).astype(bool)
            xe[mirror] = xe[mirror][..., ::-1]
        trainer._x_flat = xe.reshape(n, -1)
        for idx in training.batch_indices(n, BATCH, config.seed, epoch):
            trainer.step(idx, config.lr_at(epoch))
        val = evaluate(backend.predict(model, data.x_val), data.y_val)
        vals.append(val["top1"])
        print(epoch + 1, f"{config.lr_at(epoch):.2e}", f"{val['top1']:.4f}", f"{val['loss']:.4f}", flush=True)
    print(name, "val", " ".join(f"{v:.4f}" for v in vals), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5] == "1")
