"""The bench session: its options, the dataset, train-or-load, evaluation, records and the summary.

:class:`Study` is what ``bench/conftest.py`` keeps for a pytest session, but it knows nothing of pytest:
it is built from a :class:`StudyOptions` (the command line, parsed) and a
:class:`~lenet.measure.monitor.SessionMonitor`.

Every benchmark's ``extra_info`` gets the common record (accuracy, parameters, bytes, FLOPs with
conventions, dataset, epochs, seed, threads) from :meth:`Study.record`, which also keeps the benchmark for
the overall-performance table printed at the session's end (:func:`lenet.report.summary.headline`, the
report's own headline table).
"""
from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass, field, replace

from .. import __version__
from ..backends import BACKENDS, available_backends, get_backend, trainer_for
from ..counting import CONVENTIONS, count
from ..io.model_cache import train_or_load
from ..measure import threads
from ..measure.machine import gpu_name
from ..measure.monitor import SessionMonitor
from ..measure.threads import usable_cores
from ..metrics import evaluate
from ..schema import FORMAT, MODEL, STUDY, recorded_by
from ..spec import build_arch
from .configs import CONFIG_NAMES, train_config
from .profiles import PROFILES, Profile
from .retime import BUDGET_FRACTION
from .seeds import METRICS, spread

STUDY_INPUT_SIZE = 32  # the study dataset's image size (LeNet-5's 32x32)


def split_csv(value: str | None) -> tuple | None:
    """``"a, b,"`` -> ``("a", "b")``; None or empty -> None (the option's default applies)."""
    items = tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()
    return items or None


@dataclass(frozen=True)
class StudyOptions:
    """The bench's options, parsed.  ``None`` means the default: every registered backend, the profile's
    architectures, the dataset's epochs, all cores, the default model cache."""

    dataset: str = "digits"
    profile: str = "quick"
    backends: tuple | None = None
    archs: tuple | None = None
    devices: tuple = ("cpu",)
    epochs: int | None = None
    seed: int = 0
    limit: int | None = None
    threads: int | None = None
    model_cache: str | None = None
    config: str | None = None  # the training config's name (None: the profile's)
    data_dir: str | None = None  # folder of the dataset's idx files (None: LENET_DATA, known places, download)
    retime_budget: float = BUDGET_FRACTION  # of the session: what re-timing flagged figures may add
    seeds: int | None = None  # models per backend and arch whose accuracy states its spread (None: the profile's)

    def __post_init__(self):
        for option, value, least in (("--threads", self.threads, 1), ("--epochs", self.epochs, 1),
                                     ("--limit", self.limit, 1), ("--seed", self.seed, 0), ("--seeds", self.seeds, 1)):
            if value is not None and value < least:
                raise ValueError(f"{option}: expected an integer >= {least}, got {value}")
        if not 0 <= self.retime_budget < math.inf:
            raise ValueError(f"--retime-budget: expected a fraction of the session >= 0, got {self.retime_budget}")
        if self.profile not in PROFILES:
            raise ValueError(f"--profile: unknown {self.profile!r}; choose from {','.join(sorted(PROFILES))}")
        if self.config is not None and self.config not in CONFIG_NAMES:
            raise ValueError(f"--config: unknown {self.config!r}; choose from {','.join(CONFIG_NAMES)}")
        unknown = sorted(set(self.backends or ()) - set(BACKENDS))
        if unknown:
            raise ValueError(f"--backends: unknown {unknown}; choose from {','.join(BACKENDS)}")

    @property
    def storage_kind(self) -> str:
        """``gpu`` when the run uses a GPU, else ``cpu``: the folder under ``.benchmarks/`` its history goes to."""
        return "gpu" if "gpu" in self.devices else "cpu"

    @property
    def backend_names(self) -> tuple:
        """The chosen backends, installed or not (a missing one is skipped with its install hint)."""
        return self.backends or BACKENDS


def device_unavailable(module, device: str) -> str | None:
    """Why ``module`` cannot run on the study's ``device`` here (None: it can)."""
    if device == "cpu" or any(d in module.devices() for d in (device, "cuda", "gpu")):
        return None
    return f"{module.NAME}: no {device} device visible (devices: {module.devices()})"


def backend_device(module, device: str) -> str:
    """The backend's own name for the study's device ('gpu' is 'cuda' in torch)."""
    if device == "cpu":
        return "cpu"
    return next(d for d in module.devices() if d != "cpu")


def machine_info() -> dict:
    """What describes the machine and its software, for every saved history's ``machine_info["lenet"]``.

    pytest-benchmark compares ``machine_info`` between runs under ``--benchmark-compare`` and warns on any
    difference, so only what stays the same from run to run on one machine belongs here: framework versions,
    thread counts, devices, the GPU's name.  What a session measures goes to :func:`session_info`.
    """
    info = {"lenet_bench": __version__, "python": platform.python_version(), "installed_backends": available_backends()}
    for name in available_backends():
        module = get_backend(name)
        info[f"{name}_versions"] = module.versions()
        info[f"{name}_devices"] = module.devices()
        info.update(module.thread_counts())
    info["threads"] = threads.report()
    info["gpu"] = gpu_name()
    info["usable_cores"] = usable_cores()
    return info


def machine_differences(saved: dict, current: dict, width: int = 60) -> list[str]:
    """``key: saved -> current`` for each field of two ``machine_info`` that differs (``cpu`` and ``lenet``
    field by field), values cut to ``width`` characters."""
    def show(v) -> str:
        text = "(absent)" if v is _ABSENT else json.dumps(v, sort_keys=True, default=str)
        return text if len(text) <= width else text[:width] + "..."

    saved, current = (json.loads(json.dumps(d, default=str)) for d in (saved, current))  # tuples read as lists
    out = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key, _ABSENT), current.get(key, _ABSENT)
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key}.{k}: {show(a.get(k, _ABSENT))} -> {show(b.get(k, _ABSENT))}"
                    for k in sorted(set(a) | set(b)) if a.get(k, _ABSENT) != b.get(k, _ABSENT)]
        elif a != b:
            out.append(f"{key}: {show(a)} -> {show(b)}")
    return out


_ABSENT = object()


def session_info(monitor: SessionMonitor, parts_wall_s: dict | None = None) -> dict:
    """What one session measured of the machine (its GEMM ceiling, reference-probe readings, the noise bounds
    in force, the wall time of each part): the saved history's top-level ``lenet_session``, which
    pytest-benchmark neither compares nor reads (:class:`lenet.io.history.Run` ``.session``)."""
    info = monitor.readings()
    if parts_wall_s:
        info["parts_wall_s"] = dict(parts_wall_s)
    return info


@dataclass
class Study:
    """Session state: options, the datasets, trained models, and the recorded benchmarks."""

    options: StudyOptions
    monitor: SessionMonitor
    sized: dict = field(default_factory=dict)  # input size -> the study dataset at that size
    speed_data: object = None
    models: dict = field(default_factory=dict)
    benchmarks: list = field(default_factory=list)  # pytest-benchmark fixtures, in the order recorded
    fresh_training_s: float = 0.0  # seconds spent training models that were not in the cache
    waiting: str | None = None  # what the session waits for now (another session's lock on a cache entry)

    @property
    def ceiling(self) -> dict:
        """This machine's measured fp32 GEMM peak and copy bandwidth (once per session, see lenet.measure.ceiling)."""
        self.monitor.start()
        return self.monitor.ceiling

    @property
    def profile(self) -> Profile:
        return PROFILES[self.options.profile]

    @property
    def arch_names(self) -> tuple:
        return self.options.archs or self.profile.archs

    @property
    def dataset(self):
        return self.dataset_at(STUDY_INPUT_SIZE)

    def dataset_at(self, input_size: int):
        """The study dataset at ``input_size`` (28x28 for the MLP sweep), loaded once; ``--limit`` keeps the
        first N training images and a quarter as many (at least 32) validation and test images."""
        if input_size not in self.sized:
            from ..data import load_dataset

            data = load_dataset(self.options.dataset, input_size=input_size, data_dir=self.options.data_dir)
            n = self.options.limit
            if n:
                data = data.subset(train=n, val=max(n // 4, 32), test=max(n // 4, 32), name=f"{data.name}[:{n}]")
            self.sized[input_size] = data
        return self.sized[input_size]

    @property
    def speed_dataset(self):
        """Data for training-epoch timings: the profile's speed set (60k synthetic in full) or the study's."""
        name = self.profile.speed_dataset
        if name is None or self.options.limit:
            return self.dataset
        if self.speed_data is None:
            from ..data import load_dataset

            self.speed_data = load_dataset(name, input_size=self.dataset.input_shape[-1])
        return self.speed_data

    @property
    def config_name(self) -> str:
        return self.options.config or self.profile.config

    def train_config(self, seed: int | None = None):
        """The session's training config; ``seed`` in place of ``--seed`` (another seed of the spread)."""
        return train_config(self.dataset.name, self.config_name, self.options.epochs,
                            self.options.seed if seed is None else seed)

    def seeds_for(self, backend_name: str, arch_name: str | None = None) -> tuple[int, ...]:
        """The seeds whose models state ``backend_name``'s accuracy on ``arch_name``: ``--seed`` and the ones after
        it, as many as ``--seeds`` or the profile gives (:meth:`Profile.seeds_for` of the backend that trains its
        weights: the profile's ``weights_source`` for the arch, else the backend or the one it runs the weights of),
        so that every backend running one backend's weights is stated over the same seeds."""
        trainer = (arch_name and self.profile.weights_source(arch_name)) or trainer_for(backend_name)
        n = self.options.seeds or self.profile.seeds_for(trainer)
        return tuple(range(self.options.seed, self.options.seed + n))

    def seed_results(self, backend_name: str, arch_name: str, device: str) -> tuple[dict, list | None]:
        """Over the seeds of (backend, arch), each seed's model trained (or loaded from the cache) as
        :meth:`trained` trains ``--seed``'s: ``metric -> spread`` (:func:`lenet.study.seeds.spread`) of
        val/test top-1/top-5, and each seed's per-epoch history for the training curves' band (None over one
        seed, or where the models ran weights another backend trained: their curves are that one's)."""
        seeds = self.seeds_for(backend_name, arch_name)
        runs = [self.trained(backend_name, arch_name, device, seed) for seed in seeds]
        metrics = [r.metrics for r in runs]
        spreads = {m: spread([r[m.split("_")[0]][m.split("_")[1]] for r in metrics], seeds) for m in METRICS}
        own = len(runs) >= 2 and all(r.weights_from == backend_name and r.history for r in runs)
        return spreads, [r.history for r in runs] if own else None

    def arch(self, arch_name: str):
        return build_arch(arch_name, self.dataset.num_classes, self.dataset.input_shape)

    def trained(self, backend_name: str, arch_name: str, device: str, seed: int | None = None):
        """The trained model of a registry architecture on the study dataset (``seed``: another than ``--seed``)."""
        return self.trained_arch(backend_name, self.arch(arch_name), self.dataset, device, arch_name, seed)

    def trained_arch(self, backend_name: str, arch, data, device: str, key_name: str | None = None,
                     seed: int | None = None):
        """Train ``arch`` on ``data`` once per session (or load it from the cache); evaluate val and test.

        An inference-only backend runs the weights its declared ``weights_from`` backend trained, and every
        backend runs those of the profile's ``weights_source`` for the arch when it names one
        (``tm.weights_from`` names the backend that trained them).  ``seed`` trains with another seed than
        ``--seed`` (None: ``--seed``).
        """
        config = self.train_config(seed)
        key = (backend_name, key_name or arch.name, device, data.name, data.input_shape, config.seed)
        if key not in self.models:
            backend = get_backend(backend_name)
            source = self.profile.weights_source(key_name or arch.name) or trainer_for(backend_name)
            if source == backend_name:
                tm = train_or_load(backend, arch, data, config, device,
                                   self.options.model_cache, progress=True, backend_name=backend_name,
                                   on_wait=self._wait)
                if not tm.cached:
                    self.fresh_training_s += tm.train_seconds
            else:
                src = self.trained_arch(source, arch, data, "cpu", key_name, seed)
                model = backend.build(arch, seed=0, device=device)
                backend.set_weights(model, get_backend(source).get_weights(src.model))
                tm = replace(src, model=model)
            tm.weights_from = source
            tm.metrics = {
                split: evaluate(backend.predict(tm.model, x), y)
                for split, x, y in (("val", data.x_val, data.y_val), ("test", data.x_test, data.y_test))
            }
            self.models[key] = tm
        return self.models[key]

    def _wait(self, note: str | None) -> None:
        """``train_or_load``'s news of a wait for another session's lock, for the progress line."""
        self.waiting = note

    def record(self, benchmark, backend_name: str, arch_name: str, device: str, *, model_arch=None,
               **extra) -> None:
        """Fill ``benchmark.extra_info`` with the common record plus ``extra``, and keep it for the summary.

        The common record holds the fields :data:`lenet.schema.FIELDS` declares as the study's (and the model's,
        when the session trained or loaded it): a field computed here but not declared there is not written, and
        one declared but not computed is a KeyError, so the declaration and the record cannot drift apart.

        ``model_arch`` is the architecture measured when it is not the registry's ``arch_name`` on the
        study dataset (the MLP sweep).
        """
        arch = model_arch or self.arch(arch_name)
        c = count(arch)
        cfg = self.train_config()
        common = {
            "lenet_format": FORMAT,
            "backend": backend_name, "arch": arch_name, "arch_name": arch.name, "device": device,
            "dataset": self.dataset.name, "num_classes": arch.num_classes, "input_shape": list(arch.input_shape),
            "epochs": cfg.epochs, "seed": cfg.seed, "config": self.config_name, "train_config": cfg.to_dict(),
            "profile": self.options.profile, "threads": threads.report(),
            "params": c.params, "param_bytes": c.param_bytes, "macs_per_sample": c.macs,
            "flops_per_sample": c.flops, "flops_tf_per_sample": c.flops_tf, "flop_conventions": CONVENTIONS,
        }
        info = {name: common[name] for name in recorded_by(STUDY)}  # the fields the schema declares, in its order
        tm = self.models.get((backend_name, arch_name, device, self.dataset.name, self.dataset.input_shape, cfg.seed))
        if tm is not None:
            metrics = {
                "val_top1": tm.metrics["val"]["top1"], "val_top5": tm.metrics["val"]["top5"],
                "test_top1": tm.metrics["test"]["top1"], "test_top5": tm.metrics["test"]["top5"],
                "test_loss": tm.metrics["test"]["loss"], "train_seconds": tm.train_seconds,
                "model_cached": tm.cached,
            }
            info.update((name, metrics[name]) for name in recorded_by(MODEL))
            if tm.weights_from != backend_name:
                info["weights_from"] = tm.weights_from
        info.update(extra)
        benchmark.extra_info.update(info)
        self.benchmarks.append(benchmark)
