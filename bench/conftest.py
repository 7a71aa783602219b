"""The comparison study's pytest hooks, options and fixtures; the session itself is :mod:`lenet.study.session`.

    pytest bench/ [--dataset digits] [--profile quick|full] [--backends handcrafted,torch,keras]
                  [--device cpu|gpu] [--epochs N] [--archs lenet5,...] [--limit N]

Every benchmark's ``extra_info`` gets the common record from :meth:`Study.record
<lenet.study.session.Study.record>`, and from the wrapped ``benchmark`` fixture its tail statistics, the
machine's state around the timed call and the ``unstable`` flag (:mod:`lenet.measure.monitor`); the session
ends with the overall-performance table and a warning naming every flagged benchmark.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from lenet.backends import BACKENDS, available_backends, capabilities, get_backend
from lenet.compress.runner import cases as compression_cases
from lenet.io.model_cache import default_cache_dir
from lenet.measure import threads
from lenet.measure.monitor import SessionMonitor
from lenet.spec import ARCHITECTURES
from lenet.study import graph_modes
from lenet.study.configs import CONFIG_NAMES
from lenet.study.profiles import PROFILES
from lenet.study.progress import PROGRESS_MODES, RunProgress, format_seconds, part_of
from lenet.study.session import Study, StudyOptions, backend_device, device_unavailable, split_csv
from lenet.study.session import machine_info as session_machine_info
from lenet.study.shards import RUN_ID_ENV, ShardError, durations_path, session_identity
from lenet.study.sweep import sweep_archs
from lenet.testing import require_backend


def pytest_addoption(parser):
    g = parser.getgroup("lenet-bench", "the LeNet comparison study")
    g.addoption("--dataset", default="digits", help="digits (default), fashion-mnist, mnist, kmnist, synthetic[:N]")
    g.addoption("--profile", default="quick", choices=sorted(PROFILES),
                help="quick (CI, minutes), full (the real study, under an hour), or one part of its own: "
                     "compression, sweep, study-e, speed")
    g.addoption("--backends", default=None, help=f"comma list from {','.join(BACKENDS)} (default: all installed)")
    g.addoption("--archs", default=None, help=f"comma list from {','.join(ARCHITECTURES)} (default: profile's)")
    g.addoption("--device", default="cpu", help="cpu, gpu, or cpu,gpu")
    g.addoption("--config", default=None, choices=CONFIG_NAMES,
                help="training config: default (chosen on validation), reference or study-e (default: the profile's)")
    g.addoption("--epochs", type=int, default=None, help="training epochs (default: the config's)")
    g.addoption("--seed", type=int, default=0)
    g.addoption("--limit", type=int, default=None, help="use only the first N training images (smoke runs)")
    g.addoption("--threads", type=int, default=None, help="threads for BLAS, torch and TF (default: all cores)")
    g.addoption("--progress", default="auto", choices=PROGRESS_MODES,
                help="session progress: line (one updating line), log (a line per test), off; auto: line on a terminal")
    g.addoption("--model-cache", default=None, help=f"trained-model cache (default {default_cache_dir()})")
    g.addoption("--run-id", default=None, help="the run this session belongs to, shared by the shards of a run "
                f"(--splits N --group I) so that readers merge them (default: {RUN_ID_ENV}, else a fresh id)")


def _options(config: pytest.Config) -> StudyOptions:
    opt = config.getoption
    try:
        return StudyOptions(dataset=opt("--dataset"), profile=opt("--profile"), backends=split_csv(opt("--backends")),
                            archs=split_csv(opt("--archs")), devices=split_csv(opt("--device")) or ("cpu",),
                            epochs=opt("--epochs"), seed=opt("--seed"), limit=opt("--limit"),
                            threads=opt("--threads"), model_cache=opt("--model-cache"), config=opt("--config"))
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None


_STUDY_KEY = pytest.StashKey[Study]()
_TERMINAL: list = [None]


def _terminal_stream():
    try:
        return os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    except (AttributeError, OSError, ValueError):  # no real stdout (pytest run in-process by a test)
        return None


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    # The progress line writes to the terminal itself (a duplicate of stdout taken now, before any test's
    # output is captured); SIGTERM ends the session as Ctrl-C does, so what finished is still saved.
    _TERMINAL[0] = _terminal_stream()
    _RUN["config"] = config
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    options = _options(config)
    threads.set_threads(options.threads)
    config.stash[_STUDY_KEY] = Study(options, SessionMonitor(threads.requested()))


_IDENTITY_KEY = pytest.StashKey[dict]()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """The session's run id and shard position (refused for a shard without a run id), and pytest-split's
    durations kept beside the histories unless ``--durations-path`` says otherwise (:mod:`lenet.study.shards`)."""
    splits = config.getoption("splits", None)
    try:
        config.stash[_IDENTITY_KEY] = session_identity(config.getoption("--run-id"), splits,
                                                       config.getoption("group", None))
    except ShardError as e:
        raise pytest.UsageError(str(e)) from None
    given = any(a.startswith("--durations-path") for a in config.invocation_params.args)
    storage = config.getoption("benchmark_storage", None)
    path = durations_path(storage) if storage else None
    if hasattr(config.option, "durations_path") and not given and path is not None:
        config.option.durations_path = str(path)
        if config.getoption("store_durations"):
            path.parent.mkdir(parents=True, exist_ok=True)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """The run id (and shard position) in the saved history's ``lenet_session``: readers merge shards by it."""
    output_json.setdefault("lenet_session", {}).update(config.stash.get(_IDENTITY_KEY, {}))


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
        pairs = compression_cases(profile.compression_plan, study.options.backends or available_backends())
        metafunc.parametrize("compression_case", pairs, ids=[f"{b}-{c.id}" for b, c in pairs])
    if "sweep_model" in names:  # bench/test_mlp_sweep.py
        metafunc.parametrize("sweep_model", [label for label, _ in sweep_archs(profile.sweep, 10)])
        chosen = tuple(b for b in chosen if b in (profile.sweep_backends or chosen))
    if "backend_name" in names:
        if "train_batch" in names:  # a training benchmark: backends that declare training
            chosen = tuple(b for b in chosen if capabilities(b).trains)
        metafunc.parametrize("backend_name", chosen, scope="session")
    if "arch_name" in names:
        archs = study.arch_names
        if "compression_case" in names and profile.compression_archs and not study.options.archs:
            archs = profile.compression_archs
        metafunc.parametrize("arch_name", archs, scope="session")
    if "device" in names:
        metafunc.parametrize("device", study.options.devices, scope="session")
    if "infer_batch" in names:
        metafunc.parametrize("infer_batch", profile.infer_batches)
    if "train_batch" in names:
        metafunc.parametrize("train_batch", profile.train_batches)


def pytest_collection_modifyitems(config, items):
    """Deselect the bench files that the profile does not run (``Profile.groups``)."""
    profile = config.stash[_STUDY_KEY].profile
    skipped = [i for i in items if i.path.parent.name == "bench" and not profile.runs(part_of(i.nodeid))]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [i for i in items if i not in skipped]


_RUN: dict = {}  # "config", and "progress": the session's RunProgress (for hooks that are given neither)


def _plan_key(study: Study) -> str:
    return f"lenet-bench/plan/{study.options.profile}/{study.options.dataset}/{study.config_name}"


def pytest_collection_finish(session):
    """The progress line over every collected test, planned from the last run's durations."""
    config, study = session.config, session.config.stash[_STUDY_KEY]
    if not session.items or config.getoption("collectonly"):
        return
    cache = getattr(config, "cache", None)
    _RUN["progress"] = RunProgress([i.nodeid for i in session.items],
                                   cache.get(_plan_key(study), {}) if cache else {},
                                   lambda: study.fresh_training_s, config.getoption("--progress"), _TERMINAL[0])


def pytest_keyboard_interrupt(excinfo):
    """Ctrl-C or SIGTERM: the test in progress is lost; what pytest-benchmark then says of it (an unused
    fixture, or nothing to save) is a notice, not the error that the ini's ``filterwarnings`` would make it."""
    category = "pytest_benchmark.logger.PytestBenchmarkWarning"
    for message in ("Benchmark fixture was not used at all", "Not saving anything"):
        _RUN["config"].addinivalue_line("filterwarnings", f"default:{message}:{category}")


def pytest_runtest_logstart(nodeid, location):
    if "progress" in _RUN:
        _RUN["progress"].start(nodeid)


def pytest_runtest_logfinish(nodeid, location):
    if "progress" in _RUN:
        _RUN["progress"].finish(nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report, config):
    """With progress shown, a passing test prints nothing of its own (its dot would land on the line)."""
    run = _RUN.get("progress")
    if run is not None and run.mode != "off" and report.when == "call" and report.passed:
        return "passed", "", "PASSED"
    return None


def pytest_sessionfinish(session, exitstatus):
    """Stop the line; keep this run's durations (merged into the last plan) for the next run's ETA."""
    run = _RUN.get("progress")
    cache = getattr(session.config, "cache", None)
    if run is None:
        return
    run.close()
    if cache is not None:
        key = _plan_key(session.config.stash[_STUDY_KEY])
        cache.set(key, {**cache.get(key, {}), **run.progress.durations})


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
    if "progress" in _RUN:
        machine_info["lenet"]["parts_wall_s"] = dict(_RUN["progress"].progress.parts_table())


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    study = config.stash.get(_STUDY_KEY, None)
    if study is None:
        return
    headline = study.headline()
    if headline:
        title, table = headline
        terminalreporter.write_sep("=", title)
        terminalreporter.write_line(table)
    if "progress" in _RUN and _RUN["progress"].progress.done:
        terminalreporter.write_sep("-", "wall time per part")
        for part, seconds in _RUN["progress"].progress.parts_table():
            terminalreporter.write_line(f"{part:<24} {format_seconds(seconds):>9}")
    for line in study.monitor.warning_lines():
        terminalreporter.write_line(line, yellow=True, bold=line.startswith("WARNING"))


def pytest_unconfigure(config):
    _RUN.clear()
    if _TERMINAL[0] is not None:
        _TERMINAL[0].close()
        _TERMINAL[0] = None


@pytest.fixture
def tmp_weights(tmp_path_factory, trained, backend) -> Path:
    """The trained model saved to a temporary .npz (for size and fresh-process memory probes)."""
    path = tmp_path_factory.mktemp("weights") / "model.npz"
    backend.save(trained.model, path)
    return path
