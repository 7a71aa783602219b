"""Bad weight files: refused by name before any cast or allocation; the model cache retrains on any of them."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lenet.backends import get_backend
from lenet.data import load_dataset
from lenet.init import init_weights
from lenet.io import model_cache
from lenet.io import weights as wio
from lenet.io.paths import CacheError, CacheWarning
from lenet.spec import build_arch
from lenet.training import TrainConfig

ARCH = build_arch("lenet5", 10, (1, 32, 32))
WEIGHTS = init_weights(ARCH, 0)
FIRST = next(iter(WEIGHTS))
GOOD = {**WEIGHTS, "__arch__": np.array(ARCH.to_json()), "__meta__": np.array("{}")}


def npz(path: Path, arrays: dict) -> Path:
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def npy_header_only(shape, descr: str = "<f4", data: bytes = b"") -> bytes:
    """A .npy member whose header claims ``shape`` but which holds only ``data``."""
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data


def zip_with(path: Path, name: str, member: bytes) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for key, value in GOOD.items():
            if key != name:
                with z.open(key + ".npy", "w") as f:
                    np.lib.format.write_array(f, np.asarray(value))
        z.writestr(name + ".npy", member)
    path.write_bytes(buf.getvalue())
    return path


def arch_with(**changes) -> dict:
    d = json.loads(ARCH.to_json())
    d.update(changes)
    return {**GOOD, "__arch__": np.array(json.dumps(d))}


@pytest.mark.parametrize("dtype, kind", [("int32", "signed integer"), ("uint8", "unsigned integer"),
                                         ("bool", "boolean"), ("complex64", "complex"), ("U8", "text"),
                                         ("S4", "bytes"), ("datetime64[s]", "datetime"),
                                         ("timedelta64[s]", "timedelta"), ([("a", "f4")], "structured")])
def test_non_float_dtypes_are_refused_by_name(tmp_path, dtype, kind):
    path = npz(tmp_path / "w.npz", {**GOOD, FIRST: np.zeros(WEIGHTS[FIRST].shape, dtype=dtype)})
    with pytest.raises(wio.WeightsError, match=rf"{path}: '{FIRST}' has dtype .*\({kind}\); weights must be a real "
                                               rf"floating type"):
        wio.load(path)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_real_floating_types_load_as_float32(tmp_path, dtype):
    path = npz(tmp_path / "w.npz", {**GOOD, FIRST: WEIGHTS[FIRST].astype(dtype)})
    assert wio.load(path)[1][FIRST].dtype == np.float32


def test_float64_beyond_float32_range_is_refused(tmp_path):
    path = npz(tmp_path / "w.npz", {**GOOD, FIRST: np.full(WEIGHTS[FIRST].shape, 1e300)})
    with pytest.raises(wio.WeightsError, match="beyond float32's range"):
        wio.load(path)


def test_in_memory_integer_weights_are_refused_too():
    with pytest.raises(wio.WeightsError, match="dtype int64"):
        wio.check_weights(ARCH, {**WEIGHTS, FIRST: np.zeros(WEIGHTS[FIRST].shape, np.int64)})


@pytest.mark.parametrize("name, member, expected", [
    (FIRST, npy_header_only((10 ** 12,)), r"header declares \(1000000000000,\) float32 \(4,000,000,000,000 bytes\)"),
    ("bonus", npy_header_only((10 ** 12,)), r"'bonus.npy' is truncated: its header declares \(1000000000000,\)"),
    (FIRST, npy_header_only(WEIGHTS[FIRST].shape, data=b"\0" * 8), "is truncated: its header declares"),
    (FIRST, npy_header_only(WEIGHTS[FIRST].shape, "|O", b"\0" * 1200), "Python object"),
    (FIRST, npy_header_only(WEIGHTS[FIRST].shape[:2], data=b"\0" * 24), r"has shape \(6, 1\)"),
    ("__arch__", npy_header_only((), "<U100000000"), "is truncated: its header declares"),
    ("__arch__", npy_header_only((2,), "<U10", b"\0" * 80), "expected one text string"),
])
def test_headers_are_checked_before_any_data_is_read(tmp_path, name, member, expected):
    path = zip_with(tmp_path / "w.npz", name, member)
    with pytest.raises(wio.WeightsError, match=expected):
        wio.load(path)


def test_a_zip_bomb_that_cannot_fit_is_refused_before_allocating(tmp_path, monkeypatch):
    monkeypatch.setattr("lenet.io.memory_budget.available_bytes", lambda: 1000)
    with pytest.raises(wio.WeightsError, match="its weights would need .* of memory, but only 1,000 bytes"):
        wio.load(npz(tmp_path / "w.npz", GOOD))


@pytest.mark.parametrize("changes, expected", [
    ({"num_classes": 10.7}, "num_classes must be an integer, got 10.7"),
    ({"num_classes": "ten"}, "num_classes must be an integer, got 'ten'"),
    ({"num_classes": True}, "num_classes must be an integer, got True"),
    ({"input_shape": [1, 32.5, 32]}, "input_shape must be a list of 3 integers"),
    ({"input_shape": [1, "32", 32]}, "input_shape must be a list of 3 integers"),
    ({"input_shape": "1x32x32"}, "input_shape must be a list of 3 integers"),
    ({"name": 5}, "name must be a string, got 5"),
    ({"layers": {}}, "layers must be a list"),
    ({"layers": [[1]]}, "layer 0: must be an object"),
    ({"layers": [{"kind": "conv", "out_channels": 6.5, "kernel": 5}]}, "out_channels must be an integer, got 6.5"),
    ({"layers": [{"kind": "conv", "out_channels": "6", "kernel": 5}]}, "out_channels must be an integer, got '6'"),
    ({"layers": [{"kind": "conv", "out_channels": 6, "kernel": True}]}, "kernel must be an integer, got True"),
    ({"layers": [{"kind": "conv", "out_channels": 6, "kernel": 5, "colour": 1}]}, r"unknown field\(s\) \['colour'\]"),
])
def test_every_architecture_field_is_type_checked(tmp_path, changes, expected):
    path = npz(tmp_path / "w.npz", arch_with(**changes))
    with pytest.raises(wio.WeightsError, match=f"{path}: unreadable architecture description .*{expected}"):
        wio.load(path)


@pytest.mark.parametrize("key, text, expected", [("__arch__", "{nope", "is not valid JSON"),
                                                 ("__arch__", "[1]", "holds JSON list; expected an object"),
                                                 ("__meta__", "[1]", "holds JSON list; expected an object"),
                                                 ("__meta__", "[" * 100_000, "is not valid JSON")])
def test_metadata_must_be_json_objects(tmp_path, key, text, expected):
    path = npz(tmp_path / "w.npz", {**GOOD, key: np.array(text)})
    with pytest.raises(wio.WeightsError, match=f"'{key}' {expected}"):
        wio.load(path)


def test_a_folder_is_not_a_weight_file(tmp_path):
    with pytest.raises(wio.WeightsError, match="not a regular file"):
        wio.load(tmp_path)


def test_a_file_altered_after_saving_is_refused_by_its_digest(tmp_path):
    path = wio.save(tmp_path / "w.npz", ARCH, WEIGHTS, {"note": "x"})
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    assert str(arrays["__digest__"]).startswith("sha256:")
    npz(path, {**arrays, FIRST: np.zeros_like(arrays[FIRST])})
    with pytest.raises(wio.WeightsError, match=rf"{path}: content does not match its '__digest__'"):
        wio.load(path)


def test_a_file_without_a_digest_loads_unless_one_is_required(tmp_path):
    path = npz(tmp_path / "w.npz", GOOD)
    assert wio.load(path)[0] == ARCH
    with pytest.raises(wio.WeightsError, match=rf"{path}: has no '__digest__' entry"):
        wio.load(path, require_digest=True)


# --- the model cache ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    """A trained cache entry: (backend, data, config, folder, entry path, its pristine bytes, its arrays)."""
    folder = tmp_path_factory.mktemp("cache")
    backend = get_backend("handcrafted")
    data = load_dataset("digits").subset(train=64, val=32, test=32)
    config = TrainConfig(epochs=1, batch_size=32)
    model_cache.train_or_load(backend, ARCH, data, config, cache_dir=folder, progress=False)
    entry = next(folder.glob("*.npz"))
    with np.load(entry) as z:
        arrays = {k: z[k] for k in z.files}
    return backend, data, config, folder, entry, entry.read_bytes(), arrays


def _meta(arrays: dict, **changes) -> dict:
    meta = {**json.loads(str(arrays["__meta__"])), **changes}
    return {**arrays, "__meta__": np.array(json.dumps(meta))}


@pytest.mark.parametrize("fault", ["history a string", "history of numbers", "train_seconds a string",
                                   "train_seconds NaN", "train_seconds negative", "no train_seconds", "meta a list",
                                   "int weights", "complex weights", "num_classes 10.7", "header claims 4 TB",
                                   "truncated", "weights zeroed", "history edited", "no digest"])
def test_the_model_cache_retrains_on_any_fault(cached, fault):
    backend, data, config, folder, entry, pristine, arrays = cached
    meta = json.loads(str(arrays["__meta__"]))
    faults = {
        "history a string": lambda: npz(entry, _meta(arrays, history="abc")),
        "history of numbers": lambda: npz(entry, _meta(arrays, history=[1, 2])),
        "train_seconds a string": lambda: npz(entry, _meta(arrays, train_seconds="x")),
        "train_seconds NaN": lambda: npz(entry, _meta(arrays, train_seconds=float("nan"))),
        "train_seconds negative": lambda: npz(entry, _meta(arrays, train_seconds=-4.0)),
        "no train_seconds": lambda: npz(entry, {**arrays, "__meta__": np.array(json.dumps(
            {k: v for k, v in meta.items() if k != "train_seconds"}))}),
        "meta a list": lambda: npz(entry, {**arrays, "__meta__": np.array("[1]")}),
        "int weights": lambda: npz(entry, {**arrays, FIRST: np.zeros(WEIGHTS[FIRST].shape, np.int32)}),
        "complex weights": lambda: npz(entry, {**arrays, FIRST: np.zeros(WEIGHTS[FIRST].shape, np.complex64)}),
        "num_classes 10.7": lambda: npz(entry, {**arrays, "__arch__": np.array(
            str(arrays["__arch__"]).replace('"num_classes": 10', '"num_classes": 10.7'))}),
        "header claims 4 TB": lambda: zip_with(entry, FIRST, npy_header_only((10 ** 12,))),
        "truncated": lambda: entry.write_bytes(pristine[:100]),
        # Format intact, content altered: only the digest can tell.
        "weights zeroed": lambda: npz(entry, {**arrays, **{k: np.zeros_like(v) for k, v in WEIGHTS.items()}}),
        "history edited": lambda: npz(entry, _meta(arrays, history=[{**meta["history"][0], "val_acc": 1.0}])),
        "no digest": lambda: npz(entry, {k: v for k, v in arrays.items() if k != "__digest__"}),
    }
    faults[fault]()
    try:
        with pytest.warns(CacheWarning, match=f"ignoring unusable cache entry, retraining: {entry}"):
            again = model_cache.train_or_load(backend, ARCH, data, config, cache_dir=folder, progress=False)
        assert not again.cached
        assert model_cache.train_or_load(backend, ARCH, data, config, cache_dir=folder, progress=False).cached
    finally:
        entry.write_bytes(pristine)


def test_a_folder_at_an_entry_path_is_refused_before_training(cached, tmp_path, monkeypatch):
    backend, data, config, folder, entry, pristine, arrays = cached
    other = tmp_path / "cache"
    (other / entry.name).mkdir(parents=True)
    monkeypatch.setattr(backend, "train", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(CacheError, match=rf"{other / entry.name}: a model cache entry, but a folder, not a weight "
                                         rf"file; remove it, or choose another --model-cache"):
        model_cache.train_or_load(backend, ARCH, data, config, cache_dir=other, progress=False)
