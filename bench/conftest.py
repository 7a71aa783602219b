"""The comparison study's pytest hooks, options and fixtures; the session itself is :mod:`lenet.study.session`.

    pytest bench/ [--dataset digits] [--profile quick|full] [--backends handcrafted,torch,keras]
                  [--device cpu|gpu] [--epochs N] [--archs lenet5,...] [--limit N]

Every benchmark's ``extra_info`` gets the common record from :meth:`Study.record
<lenet.study.session.Study.record>`, and from the wrapped ``benchmark`` fixture its tail statistics, the
machine's state around the timed call and the ``unstable`` flag (:mod:`lenet.measure.monitor`); the session
ends with the overall-performance table and a warning naming every flagged benchmark.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from lenet.backends import BACKENDS, available_backends, capabilities, get_backend
from lenet.compress.runner import cases as compression_cases
from lenet.io.model_cache import default_cache_dir
from lenet.measure import threads
from lenet.measure.monitor import SessionMonitor
from lenet.spec import ARCHITECTURES
from lenet.study import graph_modes
from lenet.study.profiles import PROFILES
from lenet.study.session import Study, StudyOptions, backend_device, device_unavailable, split_csv
from lenet.study.session import machine_info as session_machine_info
from lenet.study.sweep import sweep_archs
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


def _options(config: pytest.Config) -> StudyOptions:
    opt = config.getoption
    try:
        return StudyOptions(dataset=opt("--dataset"), profile=opt("--profile"), backends=split_csv(opt("--backends")),
                            archs=split_csv(opt("--archs")), devices=split_csv(opt("--device")) or ("cpu",),
                            epochs=opt("--epochs"), seed=opt("--seed"), limit=opt("--limit"),
                            threads=opt("--threads"), model_cache=opt("--model-cache"))
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None


_STUDY_KEY = pytest.StashKey[Study]()


def pytest_configure(config):
    options = _options(config)
    threads.set_threads(options.threads)
    config.stash[_STUDY_KEY] = Study(options, SessionMonitor(threads.requested()))


@pytest.fixture(scope="session")
def study(request) -> Study:
    return request.config.stash[_STUDY_KEY]


def pytest_generate_tests(metafunc):
    """Every parametrization, from the options, the profile and the backends' declarations: what a backend or
    the profile does not run is never generated (rather than skipped at run time)."""
    study = metafunc.config.stash[_STUDY_KEY]
    names, profile, chosen = metafunc.fixturenames, study.profile, study.options.backend_names
    if "mode" in names:  # bench/test_graph.py
        metafunc.parametrize("graph_arch", study.options.archs or profile.archs[:1], scope="session")
        pairs = graph_modes.cases(chosen, profile)
        metafunc.parametrize(("graph_backend", "phase", "batch", "mode"), pairs,
                             ids=[graph_modes.case_id(*p) for p in pairs])
    if "compression_case" in names:  # bench/test_compression.py
        pairs = compression_cases(study.options.profile, study.options.backends or available_backends())
        metafunc.parametrize("compression_case", pairs, ids=[f"{b}-{c.id}" for b, c in pairs])
    if "sweep_model" in names:  # bench/test_mlp_sweep.py
        metafunc.parametrize("sweep_model", [label for label, _ in sweep_archs(study.options.profile, 10)])
        chosen = tuple(b for b in chosen if b in (profile.sweep_backends or chosen))
    if "backend_name" in names:
        if "train_batch" in names:  # a training benchmark: backends that declare training
            chosen = tuple(b for b in chosen if capabilities(b).trains)
        metafunc.parametrize("backend_name", chosen, scope="session")
    if "arch_name" in names:
        metafunc.parametrize("arch_name", study.arch_names, scope="session")
    if "device" in names:
        metafunc.parametrize("device", study.options.devices, scope="session")
    if "infer_batch" in names:
        metafunc.parametrize("infer_batch", profile.infer_batches)
    if "train_batch" in names:
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
    reason = device_unavailable(module, device)
    if reason:
        pytest.skip(reason)
    return module


@pytest.fixture
def trained(study, backend, backend_name, arch_name, device):
    return study.trained(backend_name, arch_name, backend_device(backend, device))


def pytest_benchmark_update_machine_info(config, machine_info):
    """Framework versions, thread counts and GPU name in every saved history."""
    study = config.stash.get(_STUDY_KEY, None)
    machine_info["lenet"] = session_machine_info(study.monitor if study else None)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    study = config.stash.get(_STUDY_KEY, None)
    if study is None:
        return
    headline = study.headline()
    if headline:
        title, table = headline
        terminalreporter.write_sep("=", title)
        terminalreporter.write_line(table)
    for line in study.monitor.warning_lines():
        terminalreporter.write_line(line, yellow=True, bold=line.startswith("WARNING"))


@pytest.fixture
def tmp_weights(tmp_path_factory, trained, backend) -> Path:
    """The trained model saved to a temporary .npz (for size and fresh-process memory probes)."""
    path = tmp_path_factory.mktemp("weights") / "model.npz"
    backend.save(trained.model, path)
    return path
