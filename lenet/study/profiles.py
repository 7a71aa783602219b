"""What the comparison study runs: profiles, default training configs, batch sizes.

``quick`` is the README's main command (digits, a few minutes on 2 cores);
``full`` is for a real run (Fashion-MNIST, 60k-image speed epochs); ``speed`` runs what
``lenet check-speed`` judges.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..training import TrainConfig


@dataclass(frozen=True)
class Profile:
    archs: tuple  # registry names (lenet.spec.ARCHITECTURES)
    infer_batches: tuple
    train_batches: tuple
    speed_dataset: str | None  # training-epoch timings run on this (None: the study dataset)
    time_budget_s: float  # per inference benchmark, spread over its rounds
    train_rounds: int
    memory_samples: int  # images in the training epoch whose peak RSS is probed
    # eager against graph (bench/test_graph.py): batch sizes, seconds per benchmark spread over its rounds,
    # and whether torch.compile cases run (each compiles for 20-60 s on 2 cores: full profile only)
    graph_batches: tuple = (64,)
    graph_budget_s: float = 0.5
    graph_compile: bool = False
    # MLPerf-style scenarios (bench/test_scenarios.py): single-stream runs at least this many one-sample
    # queries and this many seconds; offline sweeps these batch sizes for a while each, then times the best
    scenario_min_queries: int = 1024
    scenario_min_duration_s: float = 1.0
    offline_batches: tuple = (16, 64, 256, 1024, 4096)
    offline_sweep_s: float = 0.3


PROFILES = {
    # quick: 7 epoch rounds, the fewest with a 95% interval of the median (digits epochs take ~0.2 s)
    "quick": Profile(archs=("lenet5",), infer_batches=(1, 64, 1024), train_batches=(64,),
                     speed_dataset=None, time_budget_s=1.0, train_rounds=7, memory_samples=1024),
    "full": Profile(archs=("lenet5", "lenet5-relu", "lenet5-modified"), infer_batches=(1, 64, 1024),
                    train_batches=(64, 256), speed_dataset="synthetic:60000", time_budget_s=4.0,
                    train_rounds=3, memory_samples=8192, graph_batches=(1, 64, 1024), graph_budget_s=2.0,
                    graph_compile=True, scenario_min_duration_s=5.0, offline_sweep_s=1.0),
    # speed: what `lenet check-speed` judges (lenet/study/speed_targets.py), training epochs on a set large
    # enough to time well at 2 threads (a digits epoch lasts ~0.2 s); run inference and training apart to
    # keep each run short
    "speed": Profile(archs=("lenet5", "lenet5-relu"), infer_batches=(1, 64, 1024), train_batches=(64,),
                     speed_dataset="synthetic:60000", time_budget_s=1.0, train_rounds=3, memory_samples=1024),
}

# Per dataset: a config every backend trains well with (Adam, PyTorch defaults otherwise).
_CONFIGS = {
    "digits": TrainConfig(epochs=20, batch_size=32, optimizer="adam", lr=2e-3, seed=0),
    "fashion-mnist": TrainConfig(epochs=10, batch_size=64, optimizer="adam", lr=1e-3, seed=0),
    "mnist": TrainConfig(epochs=10, batch_size=64, optimizer="adam", lr=1e-3, seed=0),
    "kmnist": TrainConfig(epochs=10, batch_size=64, optimizer="adam", lr=1e-3, seed=0),
}
_FALLBACK = TrainConfig(epochs=10, batch_size=64, optimizer="adam", lr=1e-3, seed=0)


def default_config(dataset: str, epochs: int | None = None, seed: int = 0) -> TrainConfig:
    """The study's training config for ``dataset`` (``name[:limit]`` and ``name:arg`` map to ``name``)."""
    base = dataset.split(":", 1)[0].split("[", 1)[0]
    cfg = _CONFIGS.get(base, _FALLBACK)
    return TrainConfig(**{**cfg.to_dict(), "epochs": epochs or cfg.epochs, "seed": seed})
