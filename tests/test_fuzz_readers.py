"""Property-based fuzzing of the readers users point at their own files: idx, image lists, weights, histories.

Each property: any input either loads -- and then holds what the reader
promises -- or raises the project's own error naming the file.  Examples are
derived from valid files by mutation, so that most get past the first check.
Derandomized, with no deadline and no example database: the same examples on
every run, well within a minute of CI together.
"""
from __future__ import annotations

import gzip
import io
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lenet.data import DatasetError, idx
from lenet.data.imagelist import parse_list
from lenet.init import init_weights
from lenet.io import weights as wio
from lenet.io.history import HistoryError, load_run
from lenet.spec import build_arch
from lenet.study.speed_targets import check

FUZZ = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


_SCRATCH = tempfile.TemporaryDirectory(prefix="lenet-fuzz-")  # one folder, removed at exit


def scratch(name: str, data: bytes) -> Path:
    """``data`` written to ``name`` in the scratch folder (each example overwrites the last)."""
    path = Path(_SCRATCH.name) / name
    path.write_bytes(data)
    return path


@st.composite
def mutated(draw, valid: bytes) -> bytes:
    """``valid`` with a few bytes overwritten, inserted or cut, or truncated, or left alone."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return bytes(data)


# --- idx -----------------------------------------------------------------------------------------

VALID_IDX = idx.encode(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4))


@FUZZ
@given(data=st.one_of(mutated(VALID_IDX), st.binary(max_size=64)), compress=st.booleans())
def test_idx_reader(data, compress):
    path = scratch("images-idx3-ubyte", gzip.compress(data) if compress else data)
    try:
        images = idx.read_images(path)
    except DatasetError as e:
        assert str(path) in str(e)
    else:
        assert images.ndim == 3 and images.dtype == np.uint8 and images.size + 16 == len(data)


# --- image lists ---------------------------------------------------------------------------------

LINE = st.one_of(
    st.builds(lambda p, label: f"{p} {label}", st.sampled_from(["a.png", "sub/b c.png", "../x.png", "/abs/y.png"]),
              st.one_of(st.integers(-3, 10 ** 12).map(str), st.text(max_size=4))),
    st.text(max_size=20), st.just("# comment"), st.just(""),
)


@FUZZ
@given(lines=st.lists(LINE, max_size=6), newline=st.sampled_from(["\n", "\r\n", "\x85", "\u2028"]),
       raw=st.one_of(st.none(), st.binary(max_size=40)))
def test_image_list_parser(lines, newline, raw):
    data = newline.join(lines).encode("utf-8") if raw is None else raw
    path = scratch("train.txt", data)
    try:
        _, entries = parse_list(path, path.parent)
    except DatasetError as e:
        assert str(path) in str(e)
    else:
        for e in entries:
            assert isinstance(e.label, int) and e.label >= 0 and e.list_file == path
            assert os.path.isabs(e.text) or Path(os.path.normpath(e.path)).is_relative_to(path.parent)


# --- weights -------------------------------------------------------------------------------------

ARCH = build_arch("lenet5", 10, (1, 32, 32))
SHAPES = ARCH.weight_shapes()


def valid_npz(arrays: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # stored, not deflated: mutations hit headers and data directly
        for key, value in arrays.items():
            with z.open(key + ".npy", "w") as f:
                np.lib.format.write_array(f, np.asarray(value))
    return buf.getvalue()


GOOD_ARRAYS = {**init_weights(ARCH, 0), "__arch__": np.array(ARCH.to_json()), "__meta__": np.array("{}")}
ARCH_FIELDS = st.sampled_from(["num_classes", "input_shape", "name", "layers"])
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-5, 10 ** 13) | st.floats() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                      max_size=3), max_leaves=6)


@st.composite
def weight_files(draw) -> bytes:
    arrays = dict(GOOD_ARRAYS)
    choice = draw(st.sampled_from(["bytes", "dtype", "arch", "shape"]))
    if choice == "bytes":
        return draw(mutated(valid_npz(arrays)))
    if choice == "dtype":
        name = draw(st.sampled_from(sorted(SHAPES)))
        dtype = draw(st.sampled_from(["int8", "bool", "complex64", "float16", "float64", "U3", "M8[s]"]))
        arrays[name] = np.zeros(SHAPES[name], dtype=dtype)
    elif choice == "arch":
        d = json.loads(ARCH.to_json())
        d[draw(ARCH_FIELDS)] = draw(JSON_VALUES)
        arrays["__arch__"] = np.array(json.dumps(d))
    else:
        name = draw(st.sampled_from(sorted(SHAPES)))
        arrays[name] = np.zeros(draw(st.lists(st.integers(0, 7), max_size=4)), np.float32)
    return valid_npz(arrays)


@FUZZ
@given(data=weight_files())
def test_weights_loader(data):
    path = scratch("model.npz", data)
    try:
        arch, weights, meta = wio.load(path)
    except wio.WeightsError as e:
        assert str(path) in str(e)
    else:
        assert isinstance(meta, dict) and set(weights) == set(arch.weight_shapes())
        for name, w in weights.items():
            assert w.dtype == np.float32 and w.shape == tuple(arch.weight_shapes()[name]) and np.isfinite(w).all()


# --- histories -----------------------------------------------------------------------------------

def _bench(backend: str) -> dict:
    return {"name": f"t[{backend}]", "group": "inference batch=1", "params": {},
            "stats": {"median": 1e-4, "iqr": 1e-5, "rounds": 3, "data": [1e-4, 1e-4, 2e-4]},
            "extra_info": {"backend": backend, "arch": "lenet5", "batch_size": 1, "test_top1": 0.9}}


GOOD_HISTORY = {"machine_info": {"node": "n"}, "commit_info": {}, "datetime": "2026-01-01T00:00:00",
                "benchmarks": [_bench("torch"), _bench("handcrafted")]}
PLACES = [("machine_info",), ("machine_info", "lenet"), ("commit_info",), ("datetime",), ("benchmarks",),
          *[("benchmarks", 1, key) for key in ("name", "group", "params", "stats", "extra_info")],
          *[("benchmarks", 1, "stats", key) for key in ("median", "iqr", "rounds", "data", "min")],
          *[("benchmarks", 1, "extra_info", key) for key in ("backend", "batch_size", "test_top1", "history",
                                                              "first_call_s", "flop_counters")]]


@FUZZ
@given(place=st.sampled_from(PLACES), value=JSON_VALUES, raw=st.one_of(st.none(), mutated(b'{"benchmarks": []}')))
def test_history_reader(place, value, raw):
    doc = json.loads(json.dumps(GOOD_HISTORY))
    target = doc
    for key in place[:-1]:
        target = target[key]
    target[place[-1]] = value
    path = scratch("run.json", raw if raw is not None else json.dumps(doc).encode())
    try:
        run = load_run(path)
        rows = check(run)
    except HistoryError as e:
        assert str(path) in str(e)
    else:
        for b in run.benchmarks:
            median = b["stats"]["median"]
            assert isinstance(median, (int, float)) and math.isfinite(median) and median > 0
        assert all(math.isfinite(r["ratio"]) and r["ratio"] > 0 for r in rows)
