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
``seeds``     the full profile's LeNet-5s' accuracy over 3 to 5 seeds and the backends' equivalence verdict.
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
    # fresh processes per memory probe: the figure is their median run, the row is judged by their spread
    # (lenet.measure.noise.judge_memory); one cannot be judged
    memory_repeats: int = 2
    config: str = "default"  # the training config's name (lenet.study.configs)
    groups: tuple | None = None  # the bench files this profile runs (None: all), e.g. ("mlp_sweep",)
    # eager against graph (bench/test_graph.py): batch sizes, seconds per benchmark spread over its rounds,
    # and whether torch.compile cases are generated (each compiles for 20-60 s on 2 cores)
    graph_batches: tuple = (64,)
    graph_budget_s: float = 0.5
    graph_compile: bool = False
    # MLPerf's scenarios, run by LoadGen (bench/test_scenarios.py, lenet.measure.loadgen). Each performance run
    # lasts at least scenario_min_duration_s; single-stream also issues at least scenario_min_queries queries and
    # multi-stream multistream_min_queries (662: the fewest for which LoadGen's early stopping can bound p99, a
    # shorter run is INVALID). Offline sweeps offline_batches for offline_sweep_s each and runs the best. The
    # server search takes server_search_steps LoadGen runs of server_min_duration_s and at least
    # server_min_queries queries each (fewer than about 460 and LoadGen cannot bound p99 even with every query
    # in time), against a p99 bound of server_latency_bound_ms; a step at a low rate, where those queries take
    # long to arrive, stops after server_max_step_s (INVALID for want of queries, its p99 still judged).
    scenario_min_queries: int = 1024
    scenario_min_duration_s: float = 1.0
    multistream_min_queries: int = 662
    offline_batches: tuple = (16, 64, 256, 1024, 4096)
    offline_sweep_s: float = 0.3
    server_latency_bound_ms: float = 10.0
    server_min_duration_s: float = 0.5
    server_min_queries: int = 600
    server_search_steps: int = 5
    server_max_step_s: float = 3.0
    # compression (lenet.compress.runner.PLANS): the plan, its fine-tuning epochs, and the archs it runs on
    # (None: the profile's)
    compression_plan: str = "quick"
    finetune_epochs: int = 2
    finetune_samples: int | None = None  # the first N training images (None: all)
    compression_archs: tuple | None = None
    # each compressed model's peak RSS, probed in a fresh process (several seconds a case: most of the group's
    # time in the quick profile, whose compression rows then show no peak RSS)
    compression_memory: bool = True
    # Study E's MLP sweep (lenet.study.sweep.SWEEPS; bench/test_mlp_sweep.py) and the backends it runs,
    # of those selected (None: all)
    sweep: str = "quick"
    sweep_backends: tuple | None = None
    # models trained per (backend, arch), seeds --seed, --seed+1, ...: the accuracy group states their spread and
    # judges backends' equivalence by it (lenet.study.seeds); seeds_by_backend gives a backend its own count
    seeds: int = 1
    seeds_by_backend: tuple = ()
    # (arch, backend) pairs: that backend alone trains the arch, and every other backend runs its weights
    # (the backends take the same steps, tests/test_equivalence.py, so training it in each would train the
    # same model again); archs not named here are trained by every backend that trains
    weights_from: tuple = ()
    # opt-in bench files (OPT_IN_GROUPS) that a profile running every other file (groups None) runs as well
    opt_in: tuple = ()
    # every row that compares contenders (a backend against the reference backend, a graph mode against eager, a
    # compressed model against its base) is also timed against its reference in this many interleaved rounds of
    # blocks of about pair_block_s each (lenet.study.contenders.pair_ratio): its extra_info["ratio"]
    pair_rounds: int = 9
    pair_block_s: float = 0.05

    def weights_source(self, arch_name: str) -> str | None:
        """The backend whose trained weights every backend runs for ``arch_name``, or None (each trains)."""
        return dict(self.weights_from).get(arch_name)

    def seeds_for(self, trainer: str) -> int:
        """How many seeds the models that ``trainer`` trains are stated over."""
        return dict(self.seeds_by_backend).get(trainer, self.seeds)

    def runs(self, group: str) -> bool:
        """Whether this profile runs the bench file ``test_<group>.py`` (:data:`OPT_IN_GROUPS`: only if named)."""
        if self.groups is None:
            return group not in OPT_IN_GROUPS or group in self.opt_in
        return group in self.groups


PROFILES = {
    # quick: 11 epoch rounds (digits epochs take 0.05-0.2 s, and 7, the fewest with a 95% interval of the median,
    # made that interval their whole range: 23% to 57% of the median wide in quiet runs);
    # the sweep on torch only (Study E used PyTorch). Scenarios: LoadGen runs of 0.5 s (single-stream 256
    # queries at least, multi-stream 662, LoadGen's fewest for a p99 bound), a 3-batch offline sweep, and a
    # 5-step server search of 0.3 s runs (2 s at most each): about 5 s a backend by their durations, so within
    # 60 s for the five on 2 quiet cores (estimated; on the shared box at load 8-12 it measured 1m45s at 2 threads
    # and 66 s at --threads 1). Pairing: the fewest rounds with an interval (6) of 20 ms blocks, about 1.3 s
    # a paired row by its blocks and gaps (lenet.measure.paired.GAP_S) for about 50 rows; 0.6 s a timed row, which
    # plan_rounds stretches up to 4x where the pilot's spread needs it. Compression without
    # each case's fresh-process memory probe (the full and compression profiles have them).
    "quick": Profile(archs=("lenet5",), infer_batches=(1, 64, 1024), train_batches=(64,),
                     speed_dataset=None, time_budget_s=0.6, train_rounds=11, memory_samples=1024,
                     sweep_backends=("torch",), scenario_min_duration_s=0.5, scenario_min_queries=256,
                     offline_batches=(64, 256, 1024), offline_sweep_s=0.2, server_min_duration_s=0.3,
                     server_max_step_s=2.0, seeds=3, pair_rounds=6, pair_block_s=0.02, compression_memory=False),
    # full: the study's LeNet-5 is the relu one, which every backend trains (its default config reached 0.908 to 0.910
    # test top-1 on Fashion-MNIST); the tanh one of the reference studies and the modified one are trained once, by
    # handcrafted, and every backend runs those weights. Rounds stop once the median's interval is tight
    # (lenet.measure.timing.plan_rounds), so budgets are ceilings. Training epochs are timed on 8192 synthetic images
    # (about 1 s a round) rather than 60k (about 8 s), the per-image figure being the same, at batch 64 (the reference
    # studies') and 128 (the default config's). Compression runs the study plan on the first arch, each case
    # fine-tuned for one pass over 16,384 images; the whole plan is the compression profile. Scenarios: LoadGen runs
    # of 3 s (MLPerf's own 600 s minimum is for datacenter submissions) and an 8-step server search of 1.5 s runs,
    # which narrows the peak to a few percent: about 30 s per backend and arch on quiet cores (estimated
    # from the durations, not yet measured: 15 combinations, about 8 minutes). docs/full-study.md has
    # the measured wall time of each part.
    "full": Profile(archs=("lenet5-relu", "lenet5", "lenet5-modified"), infer_batches=(1, 64, 1024),
                    train_batches=(64, 128), speed_dataset="synthetic:8192", time_budget_s=2.0,
                    train_rounds=7, memory_samples=8192, memory_repeats=3, graph_batches=(1, 64, 1024),
                    graph_budget_s=1.0, graph_compile=True, scenario_min_duration_s=3.0, offline_sweep_s=0.5,
                    server_min_duration_s=1.5, server_search_steps=8, server_max_step_s=10.0,
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
    # seeds: the accuracy of the full profile's LeNet-5s over seeds (the relu one, which every backend trains: 5 seeds
    # on handcrafted, 3 on each other backend; the modified one, which handcrafted trains for all), and whether the
    # backends reach the same within their spread; a profile of its own, the extra models not fitting the full
    # profile's hour
    "seeds": Profile(archs=("lenet5-relu", "lenet5-modified"), infer_batches=(), train_batches=(),
                     speed_dataset=None, time_budget_s=1.0, train_rounds=7, memory_samples=1024,
                     groups=("accuracy",), seeds=3, seeds_by_backend=(("handcrafted", 5),),
                     weights_from=(("lenet5-modified", "handcrafted"),)),
    # speed: what `lenet check-speed` judges (lenet/study/speed_targets.py), training epochs on a set large
    # enough to time well at 2 threads (a digits epoch lasts ~0.2 s)
    "speed": Profile(archs=("lenet5", "lenet5-relu"), infer_batches=(1, 64, 1024), train_batches=(64,),
                     speed_dataset="synthetic:60000", time_budget_s=1.0, train_rounds=3, memory_samples=1024,
                     groups=("inference", "training", "speed_ratios", "tuned_modes")),
}
