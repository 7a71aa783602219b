"""The bench session: its options, the dataset, train-or-load, evaluation, records and the summary.

:class:`Study` is what ``bench/conftest.py`` keeps for a pytest session, but it knows nothing of pytest:
it is built from a :class:`StudyOptions` (the command line, parsed) and a
:class:`~lenet.measure.monitor.SessionMonitor`.

Every benchmark's ``extra_info`` gets the common record (accuracy, parameters, bytes, FLOPs with
conventions, dataset, epochs, seed, threads) from :meth:`Study.record`, which also keeps the benchmark for
the overall-performance table (:meth:`Study.headline`, the report's own headline table).
"""
from __future__ import annotations

import platform
from dataclasses import dataclass, field, replace

from .. import __version__
from ..backends import BACKENDS, available_backends, get_backend, trainer_for
from ..counting import CONVENTIONS, count
from ..io.model_cache import train_or_load
from ..measure import threads
from ..measure.machine import gpu_name
from ..measure.monitor import SessionMonitor
from ..metrics import evaluate
from ..spec import build_arch
from .configs import CONFIG_NAMES, train_config
from .profiles import PROFILES, Profile

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

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"--profile: unknown {self.profile!r}; choose from {','.join(sorted(PROFILES))}")
        if self.config is not None and self.config not in CONFIG_NAMES:
            raise ValueError(f"--config: unknown {self.config!r}; choose from {','.join(CONFIG_NAMES)}")
        unknown = sorted(set(self.backends or ()) - set(BACKENDS))
        if unknown:
            raise ValueError(f"--backends: unknown {unknown}; choose from {','.join(BACKENDS)}")

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


def machine_info(monitor: SessionMonitor | None = None) -> dict:
    """Framework versions, thread counts, the GPU name and the monitor's readings, for every saved history."""
    info = {"lenet_bench": __version__, "python": platform.python_version(), "threads": threads.report(),
            "installed_backends": available_backends()}
    for name in available_backends():
        module = get_backend(name)
        info[f"{name}_versions"] = module.versions()
        info[f"{name}_devices"] = module.devices()
        info.update(module.thread_counts())
    info["threads"] = threads.report()
    info["gpu"] = gpu_name()
    if monitor is not None:
        info.update(monitor.machine_info())
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

            data = load_dataset(self.options.dataset, input_size=input_size)
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

    def train_config(self):
        return train_config(self.dataset.name, self.config_name, self.options.epochs, self.options.seed)

    def arch(self, arch_name: str):
        return build_arch(arch_name, self.dataset.num_classes, self.dataset.input_shape)

    def trained(self, backend_name: str, arch_name: str, device: str):
        """The trained model of a registry architecture on the study dataset."""
        return self.trained_arch(backend_name, self.arch(arch_name), self.dataset, device, arch_name)

    def trained_arch(self, backend_name: str, arch, data, device: str, key_name: str | None = None):
        """Train ``arch`` on ``data`` once per session (or load it from the cache); evaluate val and test.

        An inference-only backend runs the weights its declared ``weights_from`` backend trained, and every
        backend runs those of the profile's ``weights_source`` for the arch when it names one
        (``tm.weights_from`` names the backend that trained them).
        """
        key = (backend_name, key_name or arch.name, device, data.name, data.input_shape)
        if key not in self.models:
            backend = get_backend(backend_name)
            source = self.profile.weights_source(key_name or arch.name) or trainer_for(backend_name)
            if source == backend_name:
                tm = train_or_load(backend, arch, data, self.train_config(), device,
                                   self.options.model_cache, progress=True, backend_name=backend_name,
                                   on_wait=self._wait)
                if not tm.cached:
                    self.fresh_training_s += tm.train_seconds
            else:
                src = self.trained_arch(source, arch, data, "cpu", key_name)
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

        ``model_arch`` is the architecture measured when it is not the registry's ``arch_name`` on the
        study dataset (the MLP sweep).
        """
        arch = model_arch or self.arch(arch_name)
        c = count(arch)
        cfg = self.train_config()
        info = {
            "backend": backend_name, "arch": arch_name, "arch_name": arch.name, "device": device,
            "dataset": self.dataset.name, "num_classes": arch.num_classes, "input_shape": list(arch.input_shape),
            "epochs": cfg.epochs, "seed": cfg.seed, "config": self.config_name, "train_config": cfg.to_dict(),
            "profile": self.options.profile, "threads": threads.report(),
            "params": c.params, "param_bytes": c.param_bytes, "macs_per_sample": c.macs,
            "flops_per_sample": c.flops, "flops_tf_per_sample": c.flops_tf, "flop_conventions": CONVENTIONS,
        }
        tm = self.models.get((backend_name, arch_name, device, self.dataset.name, self.dataset.input_shape))
        if tm is not None:
            info.update({
                "val_top1": tm.metrics["val"]["top1"], "val_top5": tm.metrics["val"]["top5"],
                "test_top1": tm.metrics["test"]["top1"], "test_top5": tm.metrics["test"]["top5"],
                "test_loss": tm.metrics["test"]["loss"], "train_seconds": tm.train_seconds,
                "model_cached": tm.cached,
            })
            if tm.weights_from != backend_name:
                info["weights_from"] = tm.weights_from
        info.update(extra)
        benchmark.extra_info.update(info)
        self.benchmarks.append(benchmark)

    def headline(self) -> tuple[str, str] | None:
        """(title, tables) of the overall-performance table; None when no benchmark of its groups ran."""
        from .summary import format_summary

        tables = format_summary(self.benchmarks)
        if tables is None:
            return None
        return f"lenet-bench overall performance ({self.options.dataset}, profile {self.options.profile})", tables
