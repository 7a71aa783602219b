"""Type and range checks for every field of a pytest-benchmark history that lenet's readers use.

A history is trusted only after :func:`check_document` has passed it: times are
finite and positive (a zero or negative median is never judged or printed),
raw samples (``stats["data"]``, written by ``--benchmark-save-data``) are a
non-empty list of finite, non-negative seconds, accuracies are fractions in
[0, 1], counts are integers, and every container is the type the readers
index.  Fields that are absent (or null, where a reader treats null as
absent) are fine: older histories lack ``data``, and most benchmarks carry
only some ``extra_info`` fields.  An error names the file, the benchmark
and the field, and says what was expected.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral, Real
from pathlib import Path

_SHOWN = 60  # characters of a bad value quoted in an error


class FieldError(ValueError):
    """One field that fails its check; :func:`check_document` adds the file and the benchmark."""


# --- value checks: each returns None or raises FieldError --------------------------------------------

def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise FieldError(what)


def positive_number(v) -> None:
    _require(_is_real(v) and math.isfinite(v) and v > 0, "a finite number > 0")


def non_negative_number(v) -> None:
    _require(_is_real(v) and math.isfinite(v) and v >= 0, "a finite number >= 0")


def finite_number(v) -> None:
    _require(_is_real(v) and math.isfinite(v), "a finite number")


def fraction(v) -> None:
    _require(_is_real(v) and 0 <= v <= 1, "a fraction in [0, 1]")


def positive_int(v) -> None:
    _require(_is_int(v) and v >= 1, "an integer >= 1")


def non_negative_int(v) -> None:
    _require(_is_int(v) and v >= 0, "an integer >= 0")


def string(v) -> None:
    _require(isinstance(v, str), "a string")


def mapping(v) -> None:
    _require(isinstance(v, dict), "an object (a JSON {...})")


def samples(v) -> None:
    """``stats["data"]``: the raw timings of every round."""
    _require(isinstance(v, list) and len(v) > 0, "a non-empty list of times (seconds)")
    for i, x in enumerate(v):
        if not (_is_real(x) and math.isfinite(x) and x >= 0):
            raise FieldError(f"a list of finite times >= 0 (seconds), but item {i} is {_show(x)}")


def strings(v) -> None:
    _require(isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v)),
             "a string or a list of strings")


def seconds_by_name(v) -> None:
    """``lenet_session.parts_wall_s``: part name -> wall seconds."""
    _require(isinstance(v, dict) and all(isinstance(k, str) and _is_real(x) and math.isfinite(x) and x >= 0
                                         for k, x in v.items()), "an object of part name -> seconds >= 0")


def identifier(v) -> None:
    """``lenet_session.run_id``: printed in one-line messages, so one non-empty line."""
    _require(isinstance(v, str) and v.strip() != "" and "\n" not in v, "a non-empty one-line string")


def shard_position(v) -> None:
    """``lenet_session.shard``: ``{"group": I, "splits": N}`` with 1 <= I <= N (pytest-split's --group, --splits)."""
    ok = (isinstance(v, dict) and _is_int(v.get("group")) and _is_int(v.get("splits"))
          and 1 <= v["group"] <= v["splits"])
    _require(ok, 'an object {"group": I, "splits": N} with 1 <= I <= N')


def history_rows(v) -> None:
    """``extra_info["history"]``: per-epoch rows of finite numbers (see lenet.training.History)."""
    _require(isinstance(v, list), "a list of per-epoch rows")
    for i, row in enumerate(v):
        if not isinstance(row, dict):
            raise FieldError(f"a list of per-epoch objects, but row {i} is {_show(row)}")
        for key, x in row.items():
            try:
                (fraction if key.endswith(("top1", "top5")) else finite_number)(x)
            except FieldError as e:
                raise FieldError(f"rows of numbers, but row {i} {key!r} is {_show(x)}, not {e}") from None


def seed_histories(v) -> None:
    """``extra_info["seed_histories"]``: each seed's per-epoch rows (:func:`history_rows`), two seeds or more."""
    _require(isinstance(v, list) and len(v) >= 2, "a list of two or more per-seed histories")
    for i, rows in enumerate(v):
        try:
            history_rows(rows)
        except FieldError as e:
            raise FieldError(f"per-seed histories, but seed {i}'s is not {e}") from None


def flop_counters(v) -> None:
    """``extra_info["flop_counters"]``: counter name -> {value, convention, per, batch_size}."""
    mapping(v)
    for name, c in v.items():
        if not isinstance(c, dict):
            raise FieldError(f"counter -> object, but {name!r} is {_show(c)}")
        for key, check in (("value", non_negative_number), ("convention", string), ("per", string),
                           ("batch_size", positive_int)):
            if c.get(key) is not None:
                try:
                    check(c[key])
                except FieldError as e:
                    raise FieldError(f"counters whose {key!r} is {e}, but {name!r} has {_show(c[key])}") from None


def _is_interval(r) -> bool:
    return (isinstance(r, dict) and all(_is_real(r.get(k)) and math.isfinite(r[k]) and r[k] > 0
                                        for k in ("median", "low", "high"))
            and r["low"] <= r["median"] <= r["high"])


def speedups(v) -> None:
    """``extra_info["speedup"]``: rival (bench/test_speed_ratios.py) or tuned mode (bench/test_tuned_modes.py) ->
    {median, low, high}, all > 0."""
    mapping(v)
    for rival, r in v.items():
        if not _is_interval(r):
            raise FieldError(f"rival -> {{median, low, high}}, numbers > 0 with low <= median <= high, but "
                             f"{rival!r} has {_show(r)}")


def ratio(v) -> None:
    """``extra_info["ratio"]`` (lenet.study.contenders.pair_ratio): how many times faster the row ran than its
    ``reference`` (a non-empty name) in interleaved rounds: ``median``, ``low``, ``high`` finite numbers > 0 with
    low <= median <= high, ``rounds`` an integer >= 6 (the fewest with an interval), ``confidence`` a fraction."""
    from ..measure.paired import MIN_ROUNDS

    mapping(v)
    checks = (("reference", lambda x: isinstance(x, str) and x.strip() != "", "a non-empty string"),
              *((k, lambda x: _is_real(x) and math.isfinite(x) and x > 0, "a finite number > 0")
                for k in ("median", "low", "high")),
              ("rounds", lambda x: _is_int(x) and x >= MIN_ROUNDS, f"an integer >= {MIN_ROUNDS}"),
              ("confidence", lambda x: x is None or (_is_real(x) and 0 < x < 1), "a fraction in (0, 1)"))
    for key, ok, what in checks:
        if not ok(v.get(key)):
            raise FieldError(f"a ratio whose {key!r} is {what}, but it is {_show(v.get(key))}")
    if not v["low"] <= v["median"] <= v["high"]:
        raise FieldError(f"a ratio with low <= median <= high, but they are {v['low']!r}, {v['median']!r}, "
                         f"{v['high']!r}")


def interval(v) -> None:
    """A median with its interval, ``{median, low, high}``, numbers > 0 (``extra_info["pct_of_gemm"]``)."""
    if not _is_interval(v):
        raise FieldError("{median, low, high}, numbers > 0 with low <= median <= high")


def attempts(v) -> None:
    """``extra_info["attempts"]`` (lenet.study.retime): every timing of a re-timed row, each with its median
    (seconds > 0), its flag (true or false) and the flag's reasons (strings)."""
    _require(isinstance(v, list) and len(v) > 0, "a non-empty list of attempts")
    for i, a in enumerate(v):
        ok = (isinstance(a, dict) and _is_real(a.get("median_s")) and math.isfinite(a["median_s"])
              and a["median_s"] > 0 and isinstance(a.get("unstable"), bool)
              and isinstance(a.get("unstable_reasons", []), list)
              and all(isinstance(r, str) for r in a.get("unstable_reasons", [])))
        if not ok:
            raise FieldError(f"a list of {{median_s > 0, unstable: true/false, unstable_reasons: [strings]}}, but "
                             f"attempt {i} is {_show(a)}")


def seed_spread(v) -> None:
    """``extra_info["seed_spread"]`` (lenet.study.seeds): metric -> per-seed ``values`` (fractions in [0, 1]) with
    their ``seeds`` (integers), ``mean`` and, over two seeds or more, ``sd``, ``low`` and ``high``."""
    mapping(v)
    for metric, s in v.items():
        if not isinstance(s, dict):
            raise FieldError(f"metric -> object, but {metric!r} is {_show(s)}")
        values, seeds = s.get("values"), s.get("seeds")
        if not (isinstance(values, list) and values
                and all(_is_real(x) and math.isfinite(x) and 0 <= x <= 1 for x in values)):
            raise FieldError(f"per-seed values that are fractions in [0, 1], but {metric}.values is {_show(values)}")
        if not (isinstance(seeds, list) and len(seeds) == len(values) and all(_is_int(x) for x in seeds)):
            raise FieldError(f"one integer seed per value, but {metric}.seeds is {_show(seeds)}")
        for key in ("mean", "low", "high", "sd"):
            x = s.get(key)
            if (key == "mean" or x is not None) and not (_is_real(x) and math.isfinite(x)):
                raise FieldError(f"a finite {key}, but {metric}.{key} is {_show(x)}")


def repeats(v) -> None:
    """A figure's repeats (``*_repeats_mib``): finite numbers >= 0."""
    _require(isinstance(v, list) and all(_is_real(x) and math.isfinite(x) and x >= 0 for x in v),
             "a list of finite numbers >= 0")


def lenet_format(v) -> None:
    """``extra_info["lenet_format"]``: a format this lenet reads (lenet.schema.FORMAT or older)."""
    from ..schema import FORMAT

    _require(_is_int(v) and 1 <= v <= FORMAT, f"a lenet format from 1 to {FORMAT} (a newer one was written by a newer "
             "lenet-bench: upgrade it to read this history)")


def trust_rule(v) -> None:
    from ..schema import TRUST_RULES

    _require(v in TRUST_RULES, f"one of {', '.join(TRUST_RULES)}")


# --- which check applies to which field --------------------------------------------------------------

STATS = {
    "median": positive_number,  # the figure every reader judges and prints
    **dict.fromkeys(("min", "max", "mean", "q1", "q3", "ld15iqr", "hd15iqr", "total", "stddev", "iqr", "ops"),
                    non_negative_number),
    "rounds": positive_int, "iterations": positive_int,
    "iqr_outliers": non_negative_int, "stddev_outliers": non_negative_int,
    "outliers": string,
    "data": samples,
}

# Names the readers match, sort and join on (fields they only print, such as "level", may be any JSON value).
TEXT_FIELDS = ("backend", "arch", "arch_name", "device", "dataset", "activation", "speed_dataset", "technique",
               "mode", "phase", "config", "default_mode", "tuned_mode")
EXTRA = {
    **dict.fromkeys(TEXT_FIELDS, string),
    "history": history_rows,
    "seed_histories": seed_histories,
    "flop_counters": flop_counters,
    **dict.fromkeys(("flop_conventions", "threads", "train_config", "ranks", "sparsity_layers", "rival_modes"),
                    mapping),
    **dict.fromkeys(("params", "seed", "num_classes", "stored_values", "break_even_calls"), non_negative_int),
    "pct_of_peak": non_negative_number,  # judged by lenet.study.speed_targets
    "speedup": speedups,  # judged by lenet.study.speed_targets
    "pct_of_gemm": interval,  # judged by lenet.study.speed_targets
    "ratio": ratio,  # against the row's reference: led with by the report, the findings and check-speed
    "contenders": strings,
    "attempts": attempts,
    "seed_spread": seed_spread,
    "trust_rule": trust_rule,
    "lenet_format": lenet_format,
}
# By name ending, for the many measured figures (first match wins).
EXTRA_SUFFIXES: tuple[tuple[str, Callable], ...] = (
    ("top1", fraction), ("top5", fraction), ("sparsity_overall", fraction), ("sparsity_requested", fraction),
    ("batch_size", positive_int), ("_repeats_mib", repeats),
    ("_bytes", non_negative_int), ("_samples", non_negative_int), ("_macs", non_negative_int),
    ("_params", non_negative_int), ("_per_sample", non_negative_int), ("_images", non_negative_int),
    ("epochs", non_negative_int),
    ("_s", positive_number), ("_ms", positive_number), ("_seconds", positive_number),
    ("peak_rss_mib", non_negative_number), ("baseline_rss_mib", non_negative_number), ("_mib", finite_number),
    ("test_loss", non_negative_number),
)

MACHINE = {"node": string, "cpu": mapping, "lenet": mapping}
MACHINE_LENET = {"gpu": strings, "gpus": strings, "parts_wall_s": seconds_by_name}
# The top-level "lenet_session": what one session wrote beside its benchmarks: its own measurements (histories
# before it kept them in machine_info.lenet), its content digest, its run id and shard (lenet.io.shards).
SESSION = {"parts_wall_s": seconds_by_name, "probe_reference_s": positive_number, "ceiling": mapping,
           "noise_bounds": mapping, "content_sha256": string, "run_id": identifier, "shard": shard_position}


def extra_check(key: str) -> Callable | None:
    if key in EXTRA:
        return EXTRA[key]
    return next((check for suffix, check in EXTRA_SUFFIXES if key.endswith(suffix)), None)


# --- the document ------------------------------------------------------------------------------------

def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _fields(where: str, obj: dict, checks: Callable[[str], Callable | None]) -> None:
    for key, value in obj.items():
        check = checks(key)
        if check is None or value is None:  # unknown fields are not read; null reads as absent
            continue
        try:
            check(value)
        except FieldError as e:
            raise FieldError(f"{where}{key} is {_show(value)}; expected {e}") from None


def check_benchmark(b) -> None:
    """One entry of ``benchmarks``; raises FieldError without the file name."""
    if not isinstance(b, dict):
        raise FieldError(f"is {_show(b)}; expected an object with 'name', 'stats' and 'extra_info'")
    for key in ("name", "stats", "extra_info"):
        if b.get(key) is None:
            raise FieldError(f"lacks '{key}' (expected 'name', 'stats' and 'extra_info')")
    _fields("", {k: b.get(k) for k in ("name", "fullname", "group")}, lambda k: string)
    _fields("", {k: b.get(k) for k in ("params", "stats", "extra_info")}, lambda k: mapping)
    if b["stats"].get("median") is None:
        raise FieldError("stats has no 'median'")
    _fields("stats.", b["stats"], STATS.get)
    _fields("extra_info.", b["extra_info"], extra_check)


def check_document(doc, path: Path, error: type[Exception]) -> None:
    """Raise ``error`` naming ``path`` (and the benchmark and field) unless ``doc`` is a usable history."""
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list) or "machine_info" not in doc:
        raise error(f"{path}: not a pytest-benchmark history (expected keys 'machine_info' and 'benchmarks')")
    try:
        if not isinstance(doc["machine_info"], dict):
            raise FieldError(f"machine_info is {_show(doc['machine_info'])}; expected an object (a JSON {{...}})")
        _fields("", {"commit_info": doc.get("commit_info")}, lambda k: mapping)
        _fields("", {"datetime": doc.get("datetime")}, lambda k: string)
        _fields("machine_info.", doc["machine_info"], MACHINE.get)
        _fields("machine_info.lenet.", doc["machine_info"].get("lenet") or {}, MACHINE_LENET.get)
        _fields("", {"lenet_session": doc.get("lenet_session")}, lambda k: mapping)
        _fields("lenet_session.", doc.get("lenet_session") or {}, SESSION.get)
    except FieldError as e:
        raise error(f"{path}: {e}") from None
    for i, b in enumerate(doc["benchmarks"]):
        try:
            check_benchmark(b)
        except FieldError as e:
            name = b.get("name") if isinstance(b, dict) and isinstance(b.get("name"), str) else None
            raise error(f"{path}: benchmarks[{i}]" + (f" ({name})" if name else "") + f": {e}") from None
