"""The study's named training configs, per dataset: ``default``, ``reference`` and ``study-e``.

``default``    what every backend trains well with on that dataset, chosen on the validation split
               (never on test; ``docs/config-selection.md`` has the candidates and their val top-1).
``reference``  the recipe the first wave ran, after the reference studies A-C (Adam, batch 64, 10 epochs,
               constant rate; their tanh/max LeNet-5 is the ``lenet5`` arch): kept to compare against.
``study-e``    Study E's own protocol: plain SGD, batch 4, 20 epochs, its step schedule (epochs 1-2 at
               5e-4, 3-5 at 2e-4, 6-8 at 1e-4, 9-12 at 5e-5, then 1e-5).

Every benchmark row records the config's name (``extra_info["config"]``) beside the full
``train_config``, and the cache keys trained models by the full config, so configs never mix.
"""
from __future__ import annotations

from ..training import STUDY_E_SCHEDULE, TrainConfig

STUDY_E = TrainConfig(epochs=20, batch_size=4, optimizer="sgd", lr=5e-4, momentum=0.0, schedule=STUDY_E_SCHEDULE)
REFERENCE = TrainConfig(epochs=10, batch_size=64, optimizer="adam", lr=1e-3)

_DEFAULTS = {
    "digits": TrainConfig(epochs=20, batch_size=32, optimizer="adam", lr=2e-3),
    # chosen on Fashion-MNIST's validation split (docs/config-selection.md): Adam 2e-3 at batch 128, then a
    # tenth of the rate for the last six of sixteen epochs
    "fashion-mnist": TrainConfig(epochs=16, batch_size=128, optimizer="adam", lr=2e-3, schedule=((10, 2e-4),)),
    "mnist": REFERENCE,
    "kmnist": REFERENCE,
}

CONFIG_NAMES = ("default", "reference", "study-e")


class UnknownConfig(ValueError):
    """A config name that is not one of :data:`CONFIG_NAMES`."""


def dataset_base(dataset: str) -> str:
    """``fashion-mnist[:500]`` and ``synthetic:60000`` -> ``fashion-mnist``, ``synthetic``."""
    return dataset.split(":", 1)[0].split("[", 1)[0]


def train_config(dataset: str, name: str = "default", epochs: int | None = None, seed: int = 0) -> TrainConfig:
    """The named config for ``dataset``; ``epochs`` (``--epochs``) overrides its length when given."""
    if name not in CONFIG_NAMES:
        raise UnknownConfig(f"training config must be one of {', '.join(CONFIG_NAMES)}, got {name!r}")
    cfg = {"default": _DEFAULTS.get(dataset_base(dataset), REFERENCE), "reference": REFERENCE,
           "study-e": STUDY_E}[name]
    return TrainConfig(**{**cfg.to_dict(), "epochs": epochs or cfg.epochs, "seed": seed})
