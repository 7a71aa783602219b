"""Accuracy regression gates: one threshold table per (dataset, architecture), for each training config.

pytest-benchmark's ``--benchmark-compare-fail`` judges timings only, so a drop
in accuracy is caught here with a plain assertion.  Thresholds sit a few
points under what every backend reaches with the study's default training
config, so noise passes and a real regression (a broken backward pass, a
mis-ordered weight layout) fails.  Over several seeds the figure judged is the
lower end of the 95% interval of the mean (:mod:`lenet.study.seeds`), not one
seed's: a model that passes only on a lucky seed does not pass.
"""
from __future__ import annotations

# (dataset, architecture family) -> minimum test top-1 / top-5, under the dataset's default config
THRESHOLDS = {
    ("digits", "lenet5"): {"top1": 0.95, "top5": 0.99},
    ("digits", "lenet5-relu"): {"top1": 0.95, "top5": 0.99},
    ("digits", "lenet5-relu-avg"): {"top1": 0.94, "top5": 0.99},
    ("digits", "lenet5-modified"): {"top1": 0.94, "top5": 0.99},
    ("digits", "mlp"): {"top1": 0.90, "top5": 0.98},
    ("mnist", "lenet5"): {"top1": 0.98, "top5": 0.995},
    ("mnist", "lenet5-relu"): {"top1": 0.98, "top5": 0.995},
    ("fashion-mnist", "lenet5"): {"top1": 0.90, "top5": 0.99},
    ("fashion-mnist", "lenet5-relu"): {"top1": 0.90, "top5": 0.99},
    ("fashion-mnist", "lenet5-modified"): {"top1": 0.89, "top5": 0.99},
    ("kmnist", "lenet5"): {"top1": 0.90, "top5": 0.98},
}
# The other named configs (lenet.study.configs), where they differ from the default's table
CONFIG_THRESHOLDS = {
    "reference": {
        ("fashion-mnist", "lenet5"): {"top1": 0.88, "top5": 0.99},
        ("fashion-mnist", "lenet5-relu"): {"top1": 0.88, "top5": 0.99},
        ("fashion-mnist", "lenet5-modified"): {"top1": 0.87, "top5": 0.99},
    },
}


class AccuracyRegression(AssertionError):
    """A trained model fell below its accuracy threshold."""


def threshold(dataset: str, arch_name: str, num_classes: int, config: str = "default") -> tuple[dict, str]:
    """The gate for this pair under ``config`` and where it came from.

    Pairs without an entry (a user's own image list, a config such as study-e that the table does
    not cover) must still beat chance by a wide margin: top-1 of at least twice chance.
    """
    base = dataset.split(":", 1)[0]
    table = THRESHOLDS if config == "default" else CONFIG_THRESHOLDS.get(config, {})
    if (base, arch_name) in table:
        return table[(base, arch_name)], f"table ({config} config)"
    return {"top1": min(2.0 / num_classes, 0.99)}, "2x chance (no table entry)"


def check_accuracy(dataset: str, arch_name: str, num_classes: int, metrics: dict, label: str = "",
                   config: str = "default", spread: dict | None = None) -> None:
    """Raise :class:`AccuracyRegression` if ``metrics`` (test top1/top5) fall below the gate.

    With ``spread`` (the first of :meth:`lenet.study.session.Study.seed_results`) over two seeds or more, the
    lower end of each metric's interval over the seeds is judged instead.
    """
    gate, source = threshold(dataset, arch_name, num_classes, config)
    failed = []
    for k, floor in gate.items():
        s = (spread or {}).get(f"test_{k}") or {}
        if s.get("low") is not None:
            if s["low"] < floor:
                failed.append(f"{k} {s['low']:.4f} < {floor:.4f} (lower end of the {s['confidence']:.0%} interval "
                              f"over {s['n']} seeds, mean {s['mean']:.4f})")
        elif metrics[k] < floor:
            failed.append(f"{k} {metrics[k]:.4f} < {floor:.4f}")
    if failed:
        raise AccuracyRegression(f"{label or arch_name} on {dataset}: " + ", ".join(failed) + f" (gate: {source})")
