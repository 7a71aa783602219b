"""The comparison study's pytest hooks, options and fixtures; the session itself is :mod:`lenet.study.session`.

    pytest bench/ [--dataset digits] [--profile quick|full] [--backends handcrafted,torch,keras]
                  [--device cpu|gpu] [--epochs N] [--archs lenet5,...] [--limit N]

Every benchmark's ``extra_info`` gets the common record from :meth:`Study.record
<lenet.study.session.Study.record>`, and from the wrapped ``benchmark`` fixture its tail statistics, the
machine's state around the timed call and the ``unstable`` flag (:mod:`lenet.measure.monitor`); the session
ends with the overall-performance table and a warning naming every flagged benchmark.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
from _pytest.runner import runtestprotocol
from pytest_benchmark.logger import PytestBenchmarkWarning
from pytest_benchmark.session import PerformanceRegression
from pytest_benchmark.utils import safe_dumps

from lenet.backends import BACKENDS, available_backends, capabilities, get_backend
from lenet.compress.runner import cases as compression_cases
from lenet.io.history import DIGESTED, content_digest
from lenet.io.model_cache import default_cache_dir
from lenet.io.writable import require_bench_outputs_writable, storage_lock
from lenet.measure import threads
from lenet.measure.monitor import SessionMonitor
from lenet.report.summary import headline as session_headline
from lenet.schema import RETIMED
from lenet.spec import ARCHITECTURES
from lenet.study import graph_modes, retime
from lenet.study.configs import CONFIG_NAMES
from lenet.study.instrument import INSTRUMENTS, Instrument, check_instrument, counted_backends
from lenet.study.profiles import PROFILES
from lenet.study.progress import PROGRESS_MODES, RunProgress, format_seconds, part_of
from lenet.study.session import (
    Study,
    StudyOptions,
    backend_device,
    device_unavailable,
    machine_differences,
    session_info,
    split_csv,
)
from lenet.study.session import machine_info as lenet_machine_info
from lenet.study.shards import RUN_ID_ENV, ShardError, durations_path, session_identity
from lenet.study.sweep import sweep_archs
from lenet.testing import require_backend


def pytest_addoption(parser):
    g = parser.getgroup("lenet-bench", "the LeNet comparison study")
    g.addoption("--dataset", default="digits", help="digits (default), fashion-mnist, mnist, kmnist, synthetic[:N], "
                "imagelist:PATH")
    g.addoption("--data-dir", default=None, help="folder holding the dataset's idx files (default: LENET_DATA, then "
                "known locations, then download)")
    g.addoption("--profile", default="quick", choices=sorted(PROFILES),
                help="quick (CI, minutes), full (the real study, under an hour), or one part of its own: "
                     "compression, sweep, study-e, speed")
    g.addoption("--backends", default=None, help=f"comma list from {','.join(BACKENDS)} (default: all installed)")
    g.addoption("--archs", default=None, help=f"comma list from {','.join(ARCHITECTURES)} (default: profile's)")
    g.addoption("--device", default="cpu", help="cpu, gpu, or cpu,gpu")
    g.addoption("--config", default=None, choices=CONFIG_NAMES,
                help="training config: default (chosen on validation), reference or study-e (default: the profile's)")
    g.addoption("--epochs", type=int, default=None, help="training epochs (default: the config's)")
    g.addoption("--seed", type=int, default=0, help="the first training seed (default 0)")
    g.addoption("--seeds", type=int, default=None, help="models trained per backend and architecture, seeds --seed, "
                "--seed+1, ...: accuracy is stated over them (default: the profile's, 3 in quick)")
    g.addoption("--limit", type=int, default=None, help="use only the first N training images (smoke runs)")
    g.addoption("--threads", type=int, default=None, help="threads for BLAS, torch and TF (default: all cores)")
    g.addoption("--progress", default="auto", choices=PROGRESS_MODES,
                help="session progress: line (one updating line), log (a line per test), off; auto: line on a terminal")
    g.addoption("--retime-budget", type=float, default=retime.BUDGET_FRACTION,
                help="re-time flagged timings at the end of the session, adding at most this fraction of the "
                     "session's wall time (0: never re-time)")
    g.addoption("--model-cache", default=None, help=f"trained-model cache (default {default_cache_dir()})")
    g.addoption("--run-id", default=None, help="the run this session belongs to, shared by the shards of a run "
                f"(--splits N --group I) so that readers merge them (default: {RUN_ID_ENV}, else a fresh id)")
    g.addoption("--instrument", default=None, choices=INSTRUMENTS,
                help="instructions: also count each timed call's instructions and simulated cache misses under "
                     "valgrind's cachegrind, in fresh processes at 1 thread (default: off)")


def _options(config: pytest.Config) -> StudyOptions:
    opt = config.getoption
    try:
        return StudyOptions(dataset=opt("--dataset"), profile=opt("--profile"), backends=split_csv(opt("--backends")),
                            archs=split_csv(opt("--archs")), devices=split_csv(opt("--device")) or ("cpu",),
                            epochs=opt("--epochs"), seed=opt("--seed"), limit=opt("--limit"),
                            threads=opt("--threads"), model_cache=opt("--model-cache"), config=opt("--config"),
                            data_dir=opt("--data-dir"), retime_budget=opt("--retime-budget"),
                            seeds=opt("--seeds"))
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


PYTEST_BENCHMARK_DEFAULT_STORAGE = "file://./.benchmarks"


def _benchmark_defaults(config, options: StudyOptions) -> None:
    """Plain ``pytest bench/`` saves what ``tox -e bench`` saves, where the README says.

    Unless told otherwise, the history goes to ``<project>/.benchmarks/cpu`` (``gpu`` for a GPU run: the two
    must not share a folder, which pytest-benchmark names after the machine), it is autosaved, and it keeps
    its raw samples, without which no interval or significance can be computed later.  Runs here before
    pytest-benchmark's own ``pytest_configure`` (``trylast``) reads the options.
    """
    o = config.option
    if o.benchmark_storage == PYTEST_BENCHMARK_DEFAULT_STORAGE:
        o.benchmark_storage = f"file://{config.rootpath / '.benchmarks' / options.storage_kind}"
    o.benchmark_save_data = True
    if not (o.benchmark_save or o.benchmark_autosave or o.benchmark_disable or o.benchmark_skip or o.collectonly):
        from pytest_benchmark.utils import get_tag

        o.benchmark_autosave = get_tag()  # what --benchmark-autosave stores: commit id and time
    # Notices of pytest-benchmark that are not errors of the run: a first --benchmark-compare with nothing
    # saved yet (said once at the end instead, see pytest_terminal_summary), the fixture of a test whose setup
    # failed (the failure itself is reported), nothing to save after every test failed.
    warnings.filterwarnings("ignore", "Can't compare", PytestBenchmarkWarning)
    config.addinivalue_line("filterwarnings", f"ignore:Benchmark fixture was not used at all:{_BENCH_WARNING}")
    config.addinivalue_line("filterwarnings", f"default:Not saving anything:{_BENCH_WARNING}")


_BENCH_WARNING = "pytest_benchmark.logger.PytestBenchmarkWarning"


def _check_inputs(config, study: Study) -> None:
    """The dataset is loaded now, so that a missing or bad one stops the session in one line, before any
    benchmark is collected or model trained."""
    if config.option.help or config.option.collectonly:
        return
    from lenet.data.base import DatasetError

    try:
        study.dataset  # noqa: B018 (loads and keeps it)
    except DatasetError as e:
        raise pytest.UsageError(f"--dataset {study.options.dataset}: {e}") from None


class SaveOneAtATime:
    """Holds the storage's lock (:func:`lenet.io.writable.storage_lock`) around pytest-benchmark's save, which
    runs inside this outermost wrapper of ``pytest_sessionfinish``: concurrent sessions get distinct names."""

    def __init__(self, lock):
        self.lock = lock

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        with self.lock:
            yield


def pytest_configure(config):
    # The progress line writes to the terminal itself (a duplicate of stdout taken now, before any test's
    # output is captured); SIGTERM ends the session as Ctrl-C does, so what finished is still saved.
    _TERMINAL[0] = _terminal_stream()
    _RUN["config"] = config
    # An unusable cache entry (an older format, a damaged file) is retrained with a warning; the project's
    # filterwarnings = error (pyproject.toml) would make that warning fail every test that needs the model.
    config.addinivalue_line("filterwarnings", "default::lenet.io.paths.CacheWarning")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    options = _options(config)
    _benchmark_defaults(config, options)
    saves = config.getoption("benchmark_autosave") or config.getoption("benchmark_save")
    storage = config.getoption("benchmark_storage") if saves else None
    require_bench_outputs_writable(options.model_cache or default_cache_dir(), storage,
                                   config.getoption("benchmark_json"), pytest.UsageError)
    config.pluginmanager.register(SaveOneAtATime(storage_lock(storage)), "lenet-save-one-at-a-time")
    threads.set_threads(options.threads)
    study = config.stash[_STUDY_KEY] = Study(options, SessionMonitor(threads.requested()))
    _check_inputs(config, study)
    _check_instrument(config)


def _check_instrument(config) -> None:
    """``--instrument instructions`` without a working valgrind stops the session in one line."""
    from lenet.measure.instructions import InstrumentError

    try:
        check_instrument(config.getoption("--instrument"))
    except InstrumentError as e:
        raise pytest.UsageError(f"--instrument: {e}") from None


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
    if "tuned_backend" in names:  # bench/test_tuned_modes.py: the backends whose tuned mode is not their default
        phase = "train" if "train_batch" in names else "infer"
        metafunc.parametrize("tuned_backend", [b for b in chosen if capabilities(b).modes(phase)
                                               and capabilities(b).tuned_mode(phase)
                                               != capabilities(b).default_mode(phase)], scope="session")
    if "backend_name" in names:
        if "instrument" in names:  # a counted benchmark: backends whose counting is practical
            chosen = counted_backends(chosen, metafunc.config.getoption("--instrument"))
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
                                   lambda: study.fresh_training_s, config.getoption("--progress"), _TERMINAL[0],
                                   waiting=lambda: study.waiting)


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
    attempts = _RUN.setdefault("attempts", {}).setdefault(item.nodeid, [])
    attempts.append(fixture)
    e = fixture.extra_info
    if len(attempts) == 1 and e.get("unstable") and e.get("trust_rule") in RETIMED:
        _RUN.setdefault("flagged", []).append((item, time.perf_counter() - before.wall))


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session):
    """After every test ran: the flagged timings timed again, within the budget (:mod:`lenet.study.retime`)."""
    result = yield
    if _RUN.get("flagged") and not (session.shouldstop or session.shouldfail):
        _retime(session)
    _settle_attempts(session.config)
    return result


def _retime(session) -> None:
    items = {item.nodeid: item for item, _ in _RUN["flagged"]}
    study = session.config.stash[_STUDY_KEY]
    plan = retime.Plan.make([(item.nodeid, seconds) for item, seconds in _RUN["flagged"]],
                            time.perf_counter() - _RUN["start"], study.options.retime_budget)
    _RUN["retime_plan"] = plan
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if plan.chosen and reporter is not None:
        reporter.write_line(f"re-timing {len(plan.chosen)} flagged figure(s) at the end of the session "
                            f"(budget {plan.budget_s:.0f} s, {study.options.retime_budget:.0%} of the session so far)")
    for nodeid in plan.chosen:
        runtestprotocol(items[nodeid], nextitem=None, log=False)
        if reporter is not None:
            last = _RUN["attempts"][nodeid][-1].extra_info
            reporter.write_line(f"  {nodeid}: " + ("clean" if not last.get("unstable") else "flagged again"))


def _settle_attempts(config) -> None:
    """One row per test: the attempt :func:`lenet.study.retime.kept` chooses, every attempt in its
    ``extra_info["attempts"]``; the other attempts leave pytest-benchmark's list, the study's and the flags."""
    study, bs = config.stash[_STUDY_KEY], config._benchmarksession
    for fixtures in (_RUN.get("attempts") or {}).values():
        timed = [f for f in fixtures if f.stats is not None]
        if len(timed) < 2:
            continue
        keep = timed[retime.kept([bool(f.extra_info.get("unstable")) for f in timed])]
        dropped = [f for f in fixtures if f is not keep]
        bs.benchmarks[:] = [m for m in bs.benchmarks if m.fixture not in dropped]
        study.benchmarks[:] = [b for b in study.benchmarks if b not in dropped]
        keep.extra_info["attempts"] = [retime.attempt_record(f.extra_info, f.stats.stats.median) for f in timed]
        study.monitor.settle(keep.name, keep.extra_info.get("unstable_reasons") or [], len(timed))


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
def instrument(request, tmp_path) -> Instrument:
    """What counts the benchmark's call under valgrind with ``--instrument instructions`` (else nothing)."""
    return Instrument(request.config.getoption("--instrument"), tmp_path)


@pytest.fixture
def trained(study, backend, backend_name, arch_name, device):
    return study.trained(backend_name, arch_name, backend_device(backend, device))


# py-cpuinfo's reading of the current clock: it changes from run to run on one machine
VOLATILE_CPU_FIELDS = ("hz_actual", "hz_actual_friendly")


def pytest_benchmark_update_machine_info(config, machine_info):
    """Framework versions, thread counts, devices and GPU name in every saved history: what describes the
    machine, and nothing a session measures (``--benchmark-compare`` compares machine_info between runs)."""
    machine_info["lenet"] = lenet_machine_info()
    for key in VOLATILE_CPU_FIELDS:
        (machine_info.get("cpu") or {}).pop(key, None)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Beside machine_info, the saved history's ``lenet_session``: the session's own measurements (ceiling, probe
    readings, wall time per part), the run id and shard position (readers merge a run's shards by them) and the
    digest of the file's content (readers refuse a history edited after it was saved)."""
    info = output_json.setdefault("lenet_session", {})
    info.update(config.stash.get(_IDENTITY_KEY, {}))
    study = config.stash.get(_STUDY_KEY, None)
    if study is not None:
        parts = dict(_RUN["progress"].progress.parts_table()) if "progress" in _RUN else None
        info.update(session_info(study.monitor, parts))
    # as pytest-benchmark serializes it (safe_dumps: the repr of what JSON cannot hold)
    info["content_sha256"] = content_digest(json.loads(safe_dumps({k: output_json.get(k) for k in DIGESTED})))


@pytest.hookimpl(wrapper=True)
def pytest_benchmark_compare_machine_info(config, benchmarksession, machine_info, compared_benchmark):
    """Under ``--benchmark-compare``: one line naming what differs between the machines, instead of
    pytest-benchmark's own check (both machine_infos dumped whole, as a warning that ``filterwarnings = error``
    turns into a crash, and a ValueError for a storage folder outside the working directory)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PytestBenchmarkWarning)
        try:
            yield
        except ValueError:  # its FileStorage.location: the storage path relative to the working directory
            pass
    differences = machine_differences(compared_benchmark.get("machine_info") or {}, machine_info)
    if differences:
        benchmarksession.logger.info("note: the run compared against was taken on a different machine or "
                                     "software: " + "; ".join(differences), yellow=True)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The overall-performance table, the wall time per part, the flags and where the history went; then
    pytest-benchmark's tables, whose ``--benchmark-compare-fail`` verdict becomes exit status 1 (it raises, and
    the run would end in a traceback)."""
    _write_summary(terminalreporter, config)
    try:
        return (yield)
    except PerformanceRegression:
        terminalreporter.write_line("--benchmark-compare-fail: performance regressed (listed above): exit status 1",
                                    red=True, bold=True)
        _RUN["session"].exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_sessionstart(session):
    _RUN["session"] = session
    _RUN["start"] = time.perf_counter()


def _write_summary(terminalreporter, config) -> None:
    study = config.stash.get(_STUDY_KEY, None)
    if study is None:
        return
    headline = session_headline(study)  # the report's headline table (lenet.report.summary)
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
    for line in _history_lines(config):
        terminalreporter.write_line(line)


def _history_lines(config) -> list[str]:
    """Where this run's history went (or why none was kept), and a compare that had nothing to compare with."""
    bs = getattr(config, "_benchmarksession", None)
    if bs is None or not bs.benchmarks:
        return []
    folder = getattr(bs.storage, "path", None)
    plan, lines = _RUN.get("retime_plan"), []
    if plan and plan.left:
        lines.append(f"{len(plan.left)} flagged figure(s) not re-timed: the re-timing budget (--retime-budget "
                     f"{config.stash[_STUDY_KEY].options.retime_budget:g} of the session) ran out")
    if bs.compare and not bs.compared_mapping:
        lines.append(f"--benchmark-compare: no earlier run in {folder or bs.storage} to compare with; this run is "
                     "the first, run the bench again to compare")
    if not (bs.save or bs.autosave) or bs.disabled:
        return lines + ["no history saved (--benchmark-disable, or --benchmark-save not given): `lenet compare`, "
                        "`lenet report` and `lenet check-speed` read saved histories"]
    saved = sorted(folder.glob("*/[0-9][0-9][0-9][0-9]_*.json"), key=lambda f: f.stat().st_mtime) if folder else []
    if saved:
        lines.append(f"history saved with its raw samples: {saved[-1]}; `lenet compare {folder}` judges it against "
                     "the run before")
    return lines


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
