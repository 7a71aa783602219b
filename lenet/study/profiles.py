"""What the comparison study runs: profiles, their batch sizes, budgets, config and parts.

``quick``     the README's main command (digits, a few minutes on 2 cores).
``full``      the real study (Fashion-MNIST): every group, sized to finish within an hour on 2 cores;
              ``docs/full-study.md`` has the wall time of each part.
``compression`` every compression technique at every level on every backend (the full profile runs
              the study plan, a subset of the levels).
``sweep``     Study E's whole MLP sweep (30 MLPs up to 16384x8192) on every backend: hours on 2 cores,
              the widest MLPs alone train for most of them, so it is a profile of its own.
``study-e``   Study E's own protocol (its config: SGD, batch 4, 20 epochs, its step schedule) for the MLP
              sweep and LeNet-5, on PyTorch as the study ran it.
``speed``     what ``lenet check-speed`` judges: inference and 60k-image training epochs of the two
              LeNet-5s, handcrafted against every framework's tuned mode in interleaved rounds
              (``bench/test_speed_ratios.py``), and each tuned mode against its default
              (``bench/test_tuned_modes.py``); run it at ``--threads 1`` and ``2``.

``full`` runs ``bench/test_tuned_modes.py`` too (``Profile.opt_in``); ``quick`` does not (about 12 s a row).
"""
from __future__ import annotations

from dataclasses import dataclass

# bench files that only a profile naming them runs (the others run wherever groups is None)
OPT_IN_GROUPS = ("speed_ratios", "tuned_modes")


@dataclass(frozen=True)
class Profile:
    archs: tuple  # registry names (lenet.spec.ARCHITECTURES)
    infer_batches: tuple
    train_batches: tuple
    speed_dataset: str | None  # training-epoch timings run on this (None: the study dataset)
    time_budget_s: float  # per inference benchmark, spread over its rounds
    train_rounds: int  # timed epochs per training benchmark (7: the fewest with a 95% interval of the median)
    memory_samples: int  # images in the training epoch whose peak RSS is probed
    config: str = "default"  # the training config's name (lenet.study.configs)
    groups: tuple | None = None  # the bench files this profile runs (None: all), e.g. ("mlp_sweep",)
    # eager against graph (bench/test_graph.py): batch sizes, seconds per benchmark spread over its rounds,
    # and whether torch.compile cases are generated (each compiles for 20-60 s on 2 cores)
    graph_batches: tuple = (64,)
    graph_budget_s: float = 0.5
    graph_compile: bool = False
    # MLPerf-style scenarios (bench/test_scenarios.py): single-stream runs at least this many one-sample
    # queries and this many seconds; offline sweeps these batch sizes for a while each, then times the best
    scenario_min_queries: int = 1024
    scenario_min_duration_s: float = 1.0
    offline_batches: tuple = (16, 64, 256, 1024, 4096)
    offline_sweep_s: float = 0.3
    # compression (lenet.compress.runner.PLANS): the plan, its fine-tuning epochs, and the archs it runs on
    # (None: the profile's)
    compression_plan: str = "quick"
    finetune_epochs: int = 2
    finetune_samples: int | None = None  # the first N training images (None: all)
    compression_archs: tuple | None = None
    # Study E's MLP sweep (lenet.study.sweep.SWEEPS; bench/test_mlp_sweep.py) and the backends it runs,
    # of those selected (None: all)
    sweep: str = "quick"
    sweep_backends: tuple | None = None
    # (arch, backend) pairs: that backend alone trains the arch, and every other backend runs its weights
    # (the backends take the same steps, tests/test_equivalence.py, so training it in each would train the
    # same model again); archs not named here are trained by every backend that trains
    weights_from: tuple = ()
    # opt-in bench files (OPT_IN_GROUPS) that a profile running every other file (groups None) runs as well
    opt_in: tuple = ()

    def weights_source(self, arch_name: str) -> str | None:
        """The backend whose trained weights every backend runs for ``arch_name``, or None (each trains)."""
        return dict(self.weights_from).get(arch_name)

    def runs(self, group: str) -> bool:
        """Whether this profile runs the bench file ``test_<group>.py`` (:data:`OPT_IN_GROUPS`: only if named)."""
        if self.groups is None:
            return group not in OPT_IN_GROUPS or group in self.opt_in
        return group in self.groups


PROFILES = {
    # quick: 7 epoch rounds, the fewest with a 95% interval of the median (digits epochs take ~0.2 s);
    # the sweep on torch only (Study E used PyTorch)
    "quick": Profile(archs=("lenet5",), infer_batches=(1, 64, 1024), train_batches=(64,),
                     speed_dataset=None, time_budget_s=1.0, train_rounds=7, memory_samples=1024,
                     sweep_backends=("torch",)),
    # full: the study's LeNet-5 is the relu one, which every backend trains (its default config reached 0.908 to 0.910
    # test top-1 on Fashion-MNIST); the tanh one of the reference studies and the modified one are trained once, by
    # handcrafted, and every backend runs those weights. Rounds stop once the median's interval is tight
    # (lenet.measure.timing.plan_rounds), so budgets are ceilings. Training epochs are timed on 8192 synthetic images
    # (about 1 s a round) rather than 60k (about 8 s), the per-image figure being the same, at batch 64 (the reference
    # studies') and 128 (the default config's). Compression runs the study plan on the first arch, each case
    # fine-tuned for one pass over 16,384 images; the whole plan is the compression profile. docs/full-study.md has
    # the measured wall time of each part.
    "full": Profile(archs=("lenet5-relu", "lenet5", "lenet5-modified"), infer_batches=(1, 64, 1024),
                    train_batches=(64, 128), speed_dataset="synthetic:8192", time_budget_s=2.0,
                    train_rounds=7, memory_samples=8192, graph_batches=(1, 64, 1024), graph_budget_s=1.0,
                    graph_compile=True, scenario_min_duration_s=2.0, offline_sweep_s=0.5,
                    compression_plan="study", finetune_epochs=1, finetune_samples=16384,
                    compression_archs=("lenet5-relu",),
                    weights_from=(("lenet5", "handcrafted"), ("lenet5-modified", "handcrafted")),
                    opt_in=("tuned_modes",)),
    # compression: every technique at every level (lenet.compress.runner.PLANS["full"]) on every backend,
    # the full profile's model and fine-tuning; 16 minutes on 2 cores with the models cached, so a profile of its own
    "compression": Profile(archs=("lenet5-relu",), infer_batches=(), train_batches=(), speed_dataset=None,
                           time_budget_s=2.0, train_rounds=7, memory_samples=1024, groups=("compression",),
                           compression_plan="full", finetune_epochs=1, finetune_samples=16384),
    "sweep": Profile(archs=("lenet5",), infer_batches=(), train_batches=(), speed_dataset=None, time_budget_s=1.0,
                     train_rounds=7, memory_samples=1024, groups=("mlp_sweep",), sweep="full"),
    "study-e": Profile(archs=("lenet5",), infer_batches=(), train_batches=(), speed_dataset=None,
                       time_budget_s=1.0, train_rounds=7, memory_samples=1024, config="study-e",
                       groups=("mlp_sweep",), sweep="quick", sweep_backends=("torch",)),
    # speed: what `lenet check-speed` judges (lenet/study/speed_targets.py), training epochs on a set large
    # enough to time well at 2 threads (a digits epoch lasts ~0.2 s)
    "speed": Profile(archs=("lenet5", "lenet5-relu"), infer_batches=(1, 64, 1024), train_batches=(64,),
                     speed_dataset="synthetic:60000", time_budget_s=1.0, train_rounds=3, memory_samples=1024,
                     groups=("inference", "training", "speed_ratios", "tuned_modes")),
}
