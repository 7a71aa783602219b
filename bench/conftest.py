"""The comparison study's fixtures: options, datasets, train-or-load models, records, summary.

    pytest bench/ [--dataset digits] [--profile quick|full] [--backends handcrafted,torch,keras]
                  [--device cpu|gpu] [--epochs N] [--archs lenet5,...] [--limit N]

Every benchmark's ``extra_info`` gets the common record (accuracy, parameters,
bytes, FLOPs with conventions, dataset, epochs, seed, threads) from
:meth:`Study.record`, and from the wrapped ``benchmark`` fixture its tail
statistics, the machine's state around the timed call and the ``unstable``
flag (:mod:`lenet.measure.monitor`); the session ends with the overall-performance
table and a warning naming every flagged benchmark.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from lenet import __version__
from lenet.backends import BACKENDS, available_backends, capabilities, get_backend, trainer_for
from lenet.counting import CONVENTIONS, count
from lenet.io.model_cache import default_cache_dir, train_or_load
from lenet.measure import threads
from lenet.measure.machine import gpu_name
from lenet.measure.monitor import SessionMonitor
from lenet.metrics import evaluate
from lenet.spec import ARCHITECTURES, build_arch
from lenet.study.profiles import PROFILES, default_config
from lenet.testing import require_backend


def pytest_addoption(parser):
    g = parser.getgroup("lenet-bench", "the LeNet comparison study")
    g.addoption("--dataset", default="digits", help="digits (default), fashion-mnist, mnist, kmnist, synthetic[:N]")
    g.addoption("--profile", default="quick", choices=sorted(PROFILES), help="quick (CI, minutes) or full")
    g.addoption("--backends", default=None, help=f"comma list from {','.join(BACKENDS)} (default: all installed)")
    g.addoption("--archs", default=None, help=f"comma list from {','.join(ARCHITECTURES)} (default: profile's)")
    g.addoption("--device", default="cpu", help="cpu, gpu, or cpu,gpu")
    g.addoption("--epochs", type=int, default=None, help="training epochs (default: the dataset's config)")
    g.addoption("--seed", type=int, default=0)
    g.addoption("--limit", type=int, default=None, help="use only the first N training images (smoke runs)")
    g.addoption("--threads", type=int, default=None, help="threads for BLAS, torch and TF (default: all cores)")
    g.addoption("--model-cache", default=None, help=f"trained-model cache (default {default_cache_dir()})")


def _csv(value: str | None, default) -> tuple:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else tuple(default)


@dataclass
class Study:
    """Session state: options, the dataset, trained models, and the rows of the final summary."""

    config: pytest.Config
    monitor: SessionMonitor
    data: object = None
    speed_data: object = None
    sized: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)

    def opt(self, name):
        return self.config.getoption(name)

    @property
    def ceiling(self) -> dict:
        """This machine's measured fp32 GEMM peak and copy bandwidth (once per session, see lenet.measure.ceiling)."""
        self.monitor.start()
        return self.monitor.ceiling

    @property
    def profile(self):
        return PROFILES[self.opt("--profile")]

    @property
    def dataset(self):
        if self.data is None:
            from lenet.data import load_dataset

            self.data = load_dataset(self.opt("--dataset"), input_size=32)
            if self.opt("--limit"):
                n = self.opt("--limit")
                self.data = self.data.subset(train=n, val=max(n // 4, 32), test=max(n // 4, 32),
                                             name=f"{self.data.name}[:{n}]")
        return self.data

    @property
    def speed_dataset(self):
        """Data for training-epoch timings: the profile's speed set (60k synthetic in full) or the study's."""
        name = self.profile.speed_dataset
        if name is None or self.opt("--limit"):
            return self.dataset
        if self.speed_data is None:
            from lenet.data import load_dataset

            self.speed_data = load_dataset(name, input_size=self.dataset.input_shape[-1])
        return self.speed_data

    def train_config(self):
        return default_config(self.dataset.name, self.opt("--epochs"), self.opt("--seed"))

    def arch(self, arch_name: str):
        return build_arch(arch_name, self.dataset.num_classes, self.dataset.input_shape)

    def dataset_at(self, input_size: int):
        """The study dataset at another image size (28x28 for the MLP sweep), loaded once."""
        if input_size == self.dataset.input_shape[-1]:
            return self.dataset
        if input_size not in self.sized:
            from lenet.data import load_dataset

            data = load_dataset(self.opt("--dataset"), input_size=input_size)
            if self.opt("--limit"):
                n = self.opt("--limit")
                data = data.subset(train=n, val=max(n // 4, 32), test=max(n // 4, 32), name=f"{data.name}[:{n}]")
            self.sized[input_size] = data
        return self.sized[input_size]

    def trained(self, backend_name: str, arch_name: str, device: str):
        """The trained model of a registry architecture on the study dataset."""
        return self.trained_arch(backend_name, self.arch(arch_name), self.dataset, device, arch_name)

    def trained_arch(self, backend_name: str, arch, data, device: str, key_name: str | None = None):
        """Train ``arch`` on ``data`` once per session (or load it from the cache); evaluate val and test.

        An inference-only backend runs the weights its declared ``weights_from`` backend trained
        (``tm.weights_from`` names it).
        """
        key = (backend_name, key_name or arch.name, device, data.name, data.input_shape)
        if key not in self.models:
            backend = get_backend(backend_name)
            source = trainer_for(backend_name)
            if source == backend_name:
                tm = train_or_load(backend, arch, data, self.train_config(), device,
                                   self.opt("--model-cache"), progress=True, backend_name=backend_name)
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

    def record(self, benchmark, backend_name: str, arch_name: str, device: str, *, model_arch=None,
               in_summary: bool = True, **extra) -> None:
        """Fill ``benchmark.extra_info`` with the common record plus ``extra``.

        ``model_arch`` is the architecture measured when it is not the registry's ``arch_name`` on the
        study dataset (the MLP sweep); ``in_summary=False`` keeps the row out of the overall table.
        """
        arch = model_arch or self.arch(arch_name)
        c = count(arch)
        cfg = self.train_config()
        info = {
            "backend": backend_name, "arch": arch_name, "arch_name": arch.name, "device": device,
            "dataset": self.dataset.name, "num_classes": arch.num_classes, "input_shape": list(arch.input_shape),
            "epochs": cfg.epochs, "seed": cfg.seed, "train_config": cfg.to_dict(),
            "profile": self.opt("--profile"), "threads": threads.report(),
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
        if not in_summary:
            return
        row = self.summary.setdefault((backend_name, arch_name, device), {})
        row.update({k: info[k] for k in ("params", "param_bytes", "macs_per_sample") if k in info})
        row.update({k: info[k] for k in ("test_top1", "test_top5") if k in info})

    def note(self, backend_name: str, arch_name: str, device: str, **values) -> None:
        self.summary.setdefault((backend_name, arch_name, device), {}).update(values)


_STUDY_KEY = pytest.StashKey[Study]()


def pytest_configure(config):
    threads.set_threads(config.getoption("--threads"))
    config.stash[_STUDY_KEY] = Study(config, SessionMonitor(threads.requested()))


@pytest.fixture(scope="session")
def study(request) -> Study:
    return request.config.stash[_STUDY_KEY]


def pytest_generate_tests(metafunc):
    opt = metafunc.config.getoption
    profile = PROFILES[opt("--profile")]
    if "backend_name" in metafunc.fixturenames:
        chosen = _csv(opt("--backends"), BACKENDS)
        unknown = sorted(set(chosen) - set(BACKENDS))
        if unknown:
            raise pytest.UsageError(f"--backends: unknown {unknown}; choose from {','.join(BACKENDS)}")
        if "train_batch" in metafunc.fixturenames:  # a training benchmark: backends that declare training
            chosen = tuple(b for b in chosen if capabilities(b).trains)
        metafunc.parametrize("backend_name", chosen, scope="session")
    if "arch_name" in metafunc.fixturenames:
        metafunc.parametrize("arch_name", _csv(opt("--archs"), profile.archs), scope="session")
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", _csv(opt("--device"), ("cpu",)), scope="session")
    if "infer_batch" in metafunc.fixturenames:
        metafunc.parametrize("infer_batch", profile.infer_batches)
    if "train_batch" in metafunc.fixturenames:
        metafunc.parametrize("train_batch", profile.train_batches)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """The machine read around every benchmark's body; its statistics and the unstable flag in extra_info."""
    fixture = getattr(item, "funcargs", {}).get("benchmark")
    study = item.config.stash.get(_STUDY_KEY, None)
    if fixture is None or study is None:
        yield
        return
    before = study.monitor.read()
    yield
    study.monitor.judge(fixture, before, study.monitor.read())


@pytest.fixture
def backend(backend_name, device):
    """The backend module, skipped (with the reason) when its framework or the device is absent."""
    require_backend(backend_name)
    module = get_backend(backend_name)
    if device not in ("cpu",) and not any(d in module.devices() for d in (device, "cuda", "gpu")):
        pytest.skip(f"{backend_name}: no {device} device visible (devices: {module.devices()})")
    return module


def backend_device(module, device: str) -> str:
    """The backend's own name for the study's device ('gpu' is 'cuda' in torch)."""
    if device == "cpu":
        return "cpu"
    return next(d for d in module.devices() if d != "cpu")


@pytest.fixture
def trained(study, backend, backend_name, arch_name, device):
    return study.trained(backend_name, arch_name, backend_device(backend, device))


def pytest_benchmark_update_machine_info(config, machine_info):
    """Framework versions, thread counts and GPU name in every saved history."""
    info = {"lenet_bench": __version__, "python": platform.python_version(), "threads": threads.report(),
            "installed_backends": available_backends()}
    for name in available_backends():
        module = get_backend(name)
        info[f"{name}_versions"] = module.versions()
        info[f"{name}_devices"] = module.devices()
        info.update(module.thread_counts())
    info["threads"] = threads.report()
    info["gpu"] = gpu_name()
    study = config.stash.get(_STUDY_KEY, None)
    if study is not None:
        info.update(study.monitor.machine_info())
    machine_info["lenet"] = info


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from lenet.study.summary import format_summary

    study = config.stash.get(_STUDY_KEY, None)
    if study and study.summary:
        terminalreporter.write_sep("=", f"lenet-bench overall performance ({study.opt('--dataset')}, "
                                        f"profile {study.opt('--profile')})")
        terminalreporter.write_line(format_summary(study.summary, study.monitor.unstable_counts()))
    for line in study.monitor.warning_lines() if study else ():
        terminalreporter.write_line(line, yellow=True, bold=line.startswith("WARNING"))


@pytest.fixture
def tmp_weights(tmp_path_factory, trained, backend) -> Path:
    """The trained model saved to a temporary .npz (for size and fresh-process memory probes)."""
    path = tmp_path_factory.mktemp("weights") / "model.npz"
    backend.save(trained.model, path)
    return path
