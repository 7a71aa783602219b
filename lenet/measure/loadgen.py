"""MLPerf's LoadGen (``mlcommons-loadgen``) driving a system under test made of plain callables.

The scenarios are MLPerf Inference's, run by its reference load generator, not re-implemented:

* **single-stream**: one sample per query; the next query is issued when the last completes.  Metric: p90 latency.
* **multi-stream**: ``samples_per_query`` samples (8) per query, back to back.  Metric: p99 per-query latency.
* **server**: one-sample queries arriving as a Poisson process at ``target_qps``, with a p99 latency bound.
  The system serves them one at a time from a FIFO queue (an M/G/1 server: no batching across queries), so a
  query waits behind the ones before it.  Metric: the highest rate that meets the bound, found by
  :func:`find_peak_rate` over several LoadGen runs, as LoadGen's own FindPeakPerformance mode searches.
* **offline**: every sample in one query.  Metric: samples per second.

This module is framework-free.  The system under test is ``infer(indices) -> predictions | None``: it runs the
model on the query-sample-library samples ``indices`` (at most ``max_batch`` at a time: a longer query is
split) and returns one integer class per sample, or None in performance mode where LoadGen keeps no result.
What ``infer`` runs (a backend's ``make_forward`` on inputs converted beforehand, as MLPerf's QSL loads samples
into memory before timing, or ``predict`` on the real samples for accuracy mode) is the caller's choice.

Each run gets a temporary folder for LoadGen's logs, read back and then deleted:

* the detail log (``mlperf_log_detail.txt``, one ``:::MLLOG {json}`` per line): LoadGen's verdict, its reasons
  and its own figures (``result_*``);
* the trace (``mlperf_log_trace.json``): one event per sample with its query and its latency (``complete_ns``,
  from the query's scheduled issue to its completion), from which :attr:`Run.query_latencies_s` is taken so
  that our own statistics (:mod:`lenet.measure.stats`) apply; LoadGen's percentiles are kept beside them;
* the accuracy log (``mlperf_log_accuracy.json``) in accuracy mode: each sample's returned class.

Settings LoadGen would refuse or hang on (a zero rate, a bound no query can meet) are caught first by
:func:`check_settings`, with a :class:`ScenarioSettingError` naming the setting.
"""
from __future__ import annotations

import json
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SCENARIOS = ("single-stream", "multi-stream", "server", "offline")
_LOADGEN_NAMES = {"single-stream": "SingleStream", "multi-stream": "MultiStream", "server": "Server",
                  "offline": "Offline"}
MULTI_STREAM_SAMPLES = 8  # samples per multi-stream query, as MLPerf Inference sets it
SAMPLE_DTYPE = np.int32  # what the system returns per sample (its predicted class), as LoadGen logs it

Infer = Callable[[np.ndarray], "np.ndarray | None"]


class ScenarioSettingError(ValueError):
    """A scenario setting that LoadGen would refuse, abort on or hang on; the message names the setting."""


class LoadGenError(RuntimeError):
    """LoadGen or the system under test failed during a run (the first error, as one line)."""


def loadgen():
    """The ``mlperf_loadgen`` module, or :class:`LoadGenError` naming the extra to install."""
    try:
        import mlperf_loadgen
    except ImportError:
        raise LoadGenError("MLPerf LoadGen is not installed: pip install 'lenet-bench[loadgen]' "
                           "(the mlcommons-loadgen package)") from None
    return mlperf_loadgen


@dataclass(frozen=True)
class Settings:
    """One LoadGen run.  Times in seconds; LoadGen's own names in the comments."""

    scenario: str
    min_duration_s: float  # min_duration_ms: the run lasts at least this long ...
    min_queries: int = 1  # min_query_count: ... and issues at least this many queries
    max_duration_s: float | None = None  # max_duration_ms: a ceiling (None: none); a run cut by it is INVALID
    samples_per_query: int = 1  # multi_stream_samples_per_query (multi-stream only)
    expected_latency_s: float | None = None  # single/multi-stream: sizes LoadGen's query schedule
    target_qps: float | None = None  # server: the arrival rate; offline: the expected rate (sizes its one query)
    latency_bound_s: float | None = None  # server_target_latency_ns (server only, at p99)
    accuracy: bool = False  # AccuracyOnly: every sample once, results logged
    seed: int = 0  # qsl/sample-index/schedule rng seeds: the same queries in the same order every run

    def loadgen_settings(self):
        """LoadGen's ``TestSettings`` for this run."""
        lg = loadgen()
        s = lg.TestSettings()
        s.scenario = getattr(lg.TestScenario, _LOADGEN_NAMES[self.scenario])
        s.mode = lg.TestMode.AccuracyOnly if self.accuracy else lg.TestMode.PerformanceOnly
        s.min_duration_ms = int(round(self.min_duration_s * 1e3))
        s.min_query_count = int(self.min_queries)
        if self.max_duration_s is not None:
            s.max_duration_ms = int(round(self.max_duration_s * 1e3))
        s.qsl_rng_seed = s.sample_index_rng_seed = s.schedule_rng_seed = int(self.seed)
        if self.scenario == "single-stream" and self.expected_latency_s:
            s.single_stream_expected_latency_ns = max(1, int(self.expected_latency_s * 1e9))
        elif self.scenario == "multi-stream":
            s.multi_stream_samples_per_query = int(self.samples_per_query)
            if self.expected_latency_s:
                s.multi_stream_expected_latency_ns = max(1, int(self.expected_latency_s * 1e9))
        elif self.scenario == "server":
            s.server_target_qps = float(self.target_qps)
            s.server_target_latency_ns = int(self.latency_bound_s * 1e9)
        elif self.scenario == "offline" and self.target_qps:
            s.offline_expected_qps = float(self.target_qps)
        return s


def check_settings(s: Settings, service_s: float | None = None) -> None:
    """:class:`ScenarioSettingError` for a setting LoadGen would refuse or hang on, naming it.

    ``service_s``: one query's service time, measured (the fastest of a few calls: what the system can do at
    best); a server latency bound below it can never be met, at any rate.
    """
    if s.scenario not in SCENARIOS:
        raise ScenarioSettingError(f"scenario: unknown {s.scenario!r}; choose from {', '.join(SCENARIOS)}")
    if not s.min_duration_s > 0:
        raise ScenarioSettingError(f"{s.scenario}: min_duration_s must be > 0 s, got {s.min_duration_s!r}")
    if s.min_queries < 1:
        raise ScenarioSettingError(f"{s.scenario}: min_queries must be >= 1, got {s.min_queries!r}")
    if s.max_duration_s is not None and s.max_duration_s < s.min_duration_s:
        raise ScenarioSettingError(f"{s.scenario}: max_duration_s {s.max_duration_s!r} is below min_duration_s "
                                   f"{s.min_duration_s!r}")
    if s.scenario == "multi-stream" and s.samples_per_query < 1:
        raise ScenarioSettingError(f"multi-stream: samples_per_query must be >= 1, got {s.samples_per_query!r}")
    if s.scenario == "server" and not s.accuracy:
        # LoadGen waits forever for the first arrival of a zero rate
        if s.target_qps is None or not s.target_qps > 0:
            raise ScenarioSettingError(f"server: target_qps must be > 0 queries/s, got {s.target_qps!r}")
        if s.latency_bound_s is None or not s.latency_bound_s > 0:
            raise ScenarioSettingError(f"server: latency_bound_s must be > 0 s, got {s.latency_bound_s!r}")
        if service_s is not None and s.latency_bound_s <= service_s:
            raise ScenarioSettingError(
                f"server: latency_bound_s {s.latency_bound_s * 1e3:.3g} ms is below one query's service time "
                f"({service_s * 1e3:.3g} ms at best, measured): no arrival rate can meet it")


@dataclass(frozen=True)
class Run:
    """One LoadGen run read back from its logs."""

    settings: Settings
    valid: bool | None  # LoadGen's result_validity (None in accuracy mode, which has no performance verdict)
    reasons: tuple  # why INVALID (each of LoadGen's unmet conditions), empty when VALID
    results: dict  # LoadGen's own result_* figures and early-stopping lines, by key (latencies in ns)
    query_latencies_s: np.ndarray  # one per query, in issue order (a multi-stream query: its slowest sample)
    call_seconds: np.ndarray  # each infer() call, timed by the system under test (a query may be split)
    samples: int  # samples completed
    duration_s: float  # LoadGen's span of the run (samples / its samples-per-second figure)
    predictions: dict | None = None  # accuracy mode: qsl index -> returned class
    errors: tuple = ()  # LoadGen's logged errors
    version: str = ""  # LoadGen's own version line ("6.0.17 @ d6147c7eb7")

    @property
    def queries(self) -> int:
        return int(self.results.get("result_query_count", len(self.query_latencies_s)))

    @property
    def samples_per_s(self) -> float | None:
        """LoadGen's throughput: completed samples/s (server), samples/s (offline), queries/s (single-stream);
        None for multi-stream, which LoadGen gives none."""
        for key in ("result_completed_samples_per_sec", "result_samples_per_second"):
            if key in self.results:
                return float(self.results[key])
        qps = self.results.get("result_qps_without_loadgen_overhead")
        return float(qps) if qps is not None else None

    def percentile_s(self, p: float) -> float | None:
        """LoadGen's own ``p``-th percentile latency (its sorted sample at index floor(n p/100)), seconds: the
        figure it judges a bound by, which can differ from an interpolated percentile of the same latencies."""
        ns = self.results.get(f"result_{p:.2f}_percentile_latency_ns")
        return None if ns is None else ns * 1e-9

    @property
    def met_bound(self) -> bool:
        """Server: LoadGen judged the run's p99 latency within the bound (``result_perf_constraints_met``).

        Weaker than VALID, which also asks for the minimum duration and query count and for early stopping to
        bound p99 from the queries run: the peak search steps on this, and the verdict at the peak is kept.
        """
        return self.results.get("result_perf_constraints_met") is True

    def verdict(self) -> str:
        """``VALID``, ``INVALID (reason; reason)``, or ``accuracy mode``."""
        if self.valid is None:
            return "accuracy mode"
        return "VALID" if self.valid else "INVALID (" + "; ".join(self.reasons or ("no reason given",)) + ")"

    def as_dict(self) -> dict:
        """What a history keeps of the run (no per-query arrays: those are the benchmark's samples)."""
        return {"scenario": self.settings.scenario, "valid": self.valid, "verdict": self.verdict(),
                "reasons": list(self.reasons), "queries": self.queries, "samples": self.samples,
                "duration_s": self.duration_s, "samples_per_s": self.samples_per_s,
                "loadgen": {k: v for k, v in self.results.items() if not isinstance(v, dict)},
                "errors": list(self.errors), "version": self.version}


class _System:
    """LoadGen's system under test around ``infer``.

    Single-stream, multi-stream and offline queries are served in LoadGen's issuing thread (LoadGen issues the
    next one only when the last completes, or issues one query in all); server queries go to a FIFO queue
    served by one worker thread, so that LoadGen's arrivals keep their schedule while earlier queries run.
    The first exception inside ``infer`` is kept and re-raised after the run: an exception must not cross
    into LoadGen's C++ threads.
    """

    def __init__(self, lg, infer: Infer, max_batch: int, threaded: bool, keep_results: bool):
        self.lg, self.infer, self.max_batch, self.keep_results = lg, infer, max_batch, keep_results
        self.calls: list[float] = []
        self.error: BaseException | None = None
        self.queue: queue.SimpleQueue | None = queue.SimpleQueue() if threaded else None
        self.worker = threading.Thread(target=self._serve, daemon=True) if threaded else None
        if self.worker is not None:
            self.worker.start()

    def issue(self, samples) -> None:
        if self.queue is not None:
            self.queue.put(list(samples))
        else:
            self._complete(list(samples))

    def flush(self) -> None:
        pass

    def stop(self) -> None:
        if self.queue is not None:
            self.queue.put(None)
            self.worker.join()

    def _serve(self) -> None:
        while (samples := self.queue.get()) is not None:
            self._complete(samples)

    def _complete(self, samples) -> None:
        indices = np.fromiter((s.index for s in samples), dtype=np.int64, count=len(samples))
        results = np.zeros(len(samples), dtype=SAMPLE_DTYPE)
        if self.error is None:
            try:
                for start in range(0, len(samples), self.max_batch):
                    t0 = time.perf_counter()
                    out = self.infer(indices[start:start + self.max_batch])
                    self.calls.append(time.perf_counter() - t0)
                    if self.keep_results:
                        results[start:start + self.max_batch] = out
            except BaseException as e:  # re-raised by run() once LoadGen has finished
                self.error = e
        item = results.itemsize if self.keep_results else 0
        base = results.ctypes.data
        # LoadGen copies the result bytes (accuracy mode) before QuerySamplesComplete returns
        self.lg.QuerySamplesComplete([self.lg.QuerySampleResponse(s.id, base + i * item if item else 0, item)
                                      for i, s in enumerate(samples)])


def run(settings: Settings, infer: Infer, sample_count: int, max_batch: int = 1,
        service_s: float | None = None) -> Run:
    """Run LoadGen once over a query-sample library of ``sample_count`` samples (all held in memory).

    ``max_batch``: the most samples ``infer`` is given at once (offline's one query is split into calls of this
    size).  ``service_s``: one query's measured service time, for :func:`check_settings`.
    """
    check_settings(settings, service_s)
    if sample_count < 1:
        raise ScenarioSettingError(f"{settings.scenario}: the query-sample library is empty")
    if settings.scenario == "multi-stream" and max_batch < settings.samples_per_query:
        raise ScenarioSettingError(f"multi-stream: max_batch {max_batch} is below samples_per_query "
                                   f"{settings.samples_per_query}")
    lg = loadgen()
    system = _System(lg, infer, max_batch, threaded=settings.scenario == "server" and not settings.accuracy,
                     keep_results=settings.accuracy)
    sut = lg.ConstructSUT(system.issue, system.flush)
    # the samples live in memory for the whole run: LoadGen's load/unload calls have nothing to do
    qsl = lg.ConstructQSL(sample_count, sample_count, lambda _: None, lambda _: None)
    with tempfile.TemporaryDirectory(prefix="lenet-loadgen-") as folder:
        log = lg.LogSettings()
        log.log_output.outdir = folder
        log.log_output.copy_summary_to_stdout = False
        log.enable_trace = not settings.accuracy and settings.scenario != "offline"
        try:
            lg.StartTestWithLogSettings(sut, qsl, settings.loadgen_settings(), log)
        finally:
            system.stop()
            lg.DestroyQSL(qsl)
            lg.DestroySUT(sut)
        if system.error is not None:
            raise system.error
        return read_logs(Path(folder), settings, np.asarray(system.calls))


# --- reading LoadGen's logs back ----------------------------------------------------------------------------

def read_detail(path: Path) -> tuple[dict, list[str]]:
    """``(values by key, errors)`` of a LoadGen detail log (``:::MLLOG {json}`` lines)."""
    values, errors = {}, []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith(":::MLLOG "):
            continue
        entry = json.loads(line[len(":::MLLOG "):])
        values[entry["key"]] = entry.get("value")
        if (entry.get("metadata") or {}).get("is_error"):
            errors.append(f"{entry['key']}: {entry.get('value')}")
    return values, errors


_UNMET = (("result_min_duration_met", "min duration not met"), ("result_min_queries_met", "min queries not met"),
          ("result_perf_constraints_met", "latency bound not met"), ("early_stopping_met", "early stopping not met"))


def validity(values: dict) -> tuple[bool, tuple]:
    """LoadGen's verdict and, when INVALID, its reasons: each unmet condition with LoadGen's own words."""
    valid = values.get("result_validity") == "VALID"
    if valid:
        return True, ()
    reasons = [text for key, text in _UNMET if values.get(key) is False]
    for key in ("result_invalid_reason", "early_stopping_result"):
        said = " ".join(str(values.get(key) or "").split())
        if said and not (key == "early_stopping_result" and values.get("early_stopping_met") is not False):
            reasons.append(said)
    return False, tuple(reasons)


_SAMPLE_EVENT = '"name":"Sample","cat":"default","ph":"b"'


def read_trace_latencies(path: Path) -> np.ndarray:
    """Per-query latencies (s) in issue order from a LoadGen trace: the slowest sample of each query.

    The trace is Chrome's trace-event format written one event per line (not always strict JSON as a whole),
    so each sample-begin event is read on its own; ``complete_ns`` is LoadGen's latency of that sample.
    """
    worst: dict[int, int] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if _SAMPLE_EVENT not in line:
                continue
            args = json.loads(line.rstrip().rstrip(","))["args"]
            q = int(args["query_seq"])
            worst[q] = max(worst.get(q, 0), int(args["complete_ns"]))
    return np.array([worst[q] for q in sorted(worst)], dtype=np.float64) * 1e-9


def read_accuracy(path: Path) -> dict:
    """qsl index -> returned class, from LoadGen's accuracy log (each result's bytes in hex)."""
    out = {}
    for entry in json.loads(path.read_text(encoding="utf-8") or "[]"):
        out[int(entry["qsl_idx"])] = int(np.frombuffer(bytes.fromhex(entry["data"]), dtype=SAMPLE_DTYPE)[0])
    return out


def read_logs(folder: Path, settings: Settings, calls: np.ndarray) -> Run:
    """A :class:`Run` from the logs LoadGen wrote into ``folder``."""
    values, errors = read_detail(folder / "mlperf_log_detail.txt")
    valid, reasons = validity(values)
    results = {k: v for k, v in values.items() if k.startswith(("result_", "early_stopping"))}
    trace = folder / "mlperf_log_trace.json"
    latencies = read_trace_latencies(trace) if trace.exists() else np.empty(0)
    predictions = read_accuracy(folder / "mlperf_log_accuracy.json") if settings.accuracy else None
    if predictions is not None:
        valid, reasons, samples = None, (), len(predictions)
    else:
        samples = int(values.get("result_query_count", 0)) * int(values.get("generated_samples_per_query", 1))
    per_s = Run(settings, valid, reasons, results, latencies, calls, samples, 0.0).samples_per_s
    # multi-stream has no throughput figure: its queries run back to back, so the run lasts their sum
    duration = samples / per_s if per_s else float(np.sum(latencies) or np.sum(calls))
    return Run(settings, valid, reasons, results, latencies, calls, samples, duration, predictions, tuple(errors),
               str(values.get("loadgen_version", "")))


# --- the server's peak rate -----------------------------------------------------------------------------------

@dataclass
class PeakSearch:
    """The server's highest passing rate, bracketed: ``passing`` met the bound, ``failing`` did not
    (:attr:`Run.met_bound`).

    The peak lies in ``[passing, failing)``; that bracket is the search's interval (its width is what more
    steps would narrow).  ``runs`` holds every step, in order, for the latency-against-rate plot.
    """

    passing: float | None = None
    failing: float | None = None
    runs: list = field(default_factory=list)  # (target_qps, Run)

    def peak_run(self) -> tuple[float, Run]:
        """``(rate, run)`` at the highest passing rate; with none passing, at the lowest rate tried."""
        passed = [(rate, r) for rate, r in self.runs if r.met_bound]
        return max(passed, key=lambda p: p[0]) if passed else min(self.runs, key=lambda p: p[0])


def find_peak_rate(run_at: Callable[[float], Run], start_qps: float, steps: int) -> PeakSearch:
    """Search the highest rate at which ``run_at(rate)`` meets the latency bound, in ``steps`` LoadGen runs.

    As LoadGen's FindPeakPerformance mode: double (or halve) the rate from ``start_qps`` until one passes and
    one fails, then bisect between the two.
    """
    if not start_qps > 0:
        raise ScenarioSettingError(f"server: the search's start rate must be > 0 queries/s, got {start_qps!r}")
    if steps < 1:
        raise ScenarioSettingError(f"server: search steps must be >= 1, got {steps!r}")
    search, rate = PeakSearch(), float(start_qps)
    for _ in range(steps):
        result = run_at(rate)
        search.runs.append((rate, result))
        if result.met_bound:
            search.passing = max(rate, search.passing or rate)
        else:
            search.failing = min(rate, search.failing or rate)
        if search.failing is None:
            rate *= 2
        elif search.passing is None:
            rate /= 2
        else:
            rate = (search.passing + search.failing) / 2
    return search
