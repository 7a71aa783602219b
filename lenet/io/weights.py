"""Canonical weights on disk: one ``.npz`` holding the arrays and the spec they belong to.

Layout (see :meth:`lenet.spec.Arch.weight_shapes`): conv ``(out, in, kh, kw)``,
dense ``(in, out)``, biases 1-D, float32.  Any backend can load a file any
other backend wrote.  Writes are atomic.

Reading trusts nothing in the file.  Every member's ``.npy`` header is read
first, without its data: the architecture and metadata must be single text
strings of sane length, every weight must be named and shaped as the
architecture says, its dtype must be a real floating type (integers,
booleans, complex numbers, strings, dates and objects are refused by name,
before any cast), and the bytes the headers declare must be present in the
file and fit in memory.  Only then is any array read.

Content digest.  :func:`save` also stores ``__digest__``: the sha256 of the
architecture and metadata strings and of every weight's name, dtype, shape and
bytes.  A file altered after it was written (weights zeroed, a history edited,
the format intact) no longer matches it and is refused by :func:`load`.  A
file without one (written before digests, or by hand) loads unless
``require_digest`` (the model cache requires it).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from ..spec import Arch, SpecError
from .atomic import atomic_path
from .memory_budget import require_fits

_ARCH_KEY = "__arch__"
_META_KEY = "__meta__"
_DIGEST_KEY = "__digest__"
_TEXT_KEYS = (_ARCH_KEY, _META_KEY, _DIGEST_KEY)
_MAX_TEXT_CHARS = 1 << 20  # an architecture or metadata string; real ones are a few kB
_DTYPE_KINDS = {"b": "boolean", "i": "signed integer", "u": "unsigned integer", "c": "complex", "U": "text",
                "S": "bytes", "O": "Python object", "M": "datetime", "m": "timedelta", "V": "structured"}


class WeightsError(ValueError):
    """Weights that do not fit the architecture, or a weight file that cannot be read."""


def _check_float_dtype(dtype: np.dtype, name: str, source: str) -> None:
    if dtype.kind != "f":
        raise WeightsError(f"{source}: '{name}' has dtype {dtype} ({_DTYPE_KINDS.get(dtype.kind, 'not floating')}); "
                           f"weights must be a real floating type (float16, float32 or float64)")


def _check_names(arch: Arch, names, source: str) -> None:
    expected = arch.weight_shapes()
    missing = sorted(set(expected) - set(names))
    extra = sorted(set(names) - set(expected))
    if missing or extra:
        raise WeightsError(f"{source}: does not fit {arch.name}: missing {missing}, unexpected {extra}")


def _check_shape(arch: Arch, name: str, shape: tuple, source: str) -> None:
    expected = tuple(arch.weight_shapes()[name])
    if tuple(shape) != expected:
        raise WeightsError(f"{source}: '{name}' has shape {tuple(shape)}, {arch.name} expects {expected}")


def check_weights(arch: Arch, weights: dict, source: str = "weights") -> dict[str, np.ndarray]:
    """Return ``weights`` as float32 arrays after checking every name, shape, dtype and value against ``arch``.

    The dtype is checked before the cast: only real floating types pass.
    Values must be finite, and stay finite in float32 (a float64 1e300 would
    silently become inf).
    """
    _check_names(arch, weights, source)
    out = {}
    for name in arch.weight_shapes():
        w = np.asarray(weights[name])
        _check_shape(arch, name, w.shape, source)
        _check_float_dtype(w.dtype, name, source)
        if not np.isfinite(w).all():
            raise WeightsError(f"{source}: '{name}' holds NaN or infinite values")
        largest = np.abs(w).max(initial=0)
        if largest > np.finfo(np.float32).max:
            raise WeightsError(f"{source}: '{name}' holds values beyond float32's range (largest magnitude "
                               f"{largest:.3g}); weights are stored as float32")
        out[name] = np.ascontiguousarray(w, dtype=np.float32)
    return out


def content_digest(arch_text: str, meta_text: str, weights: dict) -> str:
    """``sha256:<hex>`` of the architecture and metadata strings and of every weight's name, dtype, shape, bytes."""
    h = hashlib.sha256()
    for text in (arch_text, meta_text):
        h.update(f"{len(text)}:{text}".encode())
    for name in sorted(weights):
        w = np.ascontiguousarray(weights[name])
        h.update(f"{name} {w.dtype.str} {w.shape}\n".encode())
        h.update(w.data)
    return f"sha256:{h.hexdigest()}"


def save(path: str | os.PathLike, arch: Arch, weights: dict, meta: dict | None = None) -> Path:
    """Write ``weights`` for ``arch`` (plus a JSON-able ``meta``, and their content digest) to ``path`` atomically."""
    path = Path(path)
    weights = check_weights(arch, weights)
    arch_text, meta_text = arch.to_json(), json.dumps(meta or {}, sort_keys=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **weights, **{_ARCH_KEY: np.array(arch_text), _META_KEY: np.array(meta_text),
                                      _DIGEST_KEY: np.array(content_digest(arch_text, meta_text, weights))})
    return path


def _header(z: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> tuple[tuple, np.dtype, int]:
    """``(shape, dtype, data bytes)`` from a member's ``.npy`` header, its data unread; checks it is all there."""
    with z.open(info) as f:
        version = np.lib.format.read_magic(f)
        read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read is None:
            raise WeightsError(f"{path}: member {info.filename!r} uses .npy format {version}; expected 1.0 or 2.0")
        shape, _, dtype = read(f)
        header_bytes = f.tell()
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: a lying header cannot overflow
    if info.file_size - header_bytes < nbytes:
        raise WeightsError(f"{path}: member {info.filename!r} is truncated: its header declares {shape} {dtype} "
                           f"({nbytes:,} bytes) but {max(info.file_size - header_bytes, 0):,} bytes follow")
    return shape, dtype, nbytes


def _text(z: zipfile.ZipFile, infos: dict, key: str, headers: dict, path: Path, default: str) -> str:
    if key not in infos:
        return default
    shape, dtype, _ = headers[key]
    if dtype.kind != "U" or shape != () or dtype.itemsize > 4 * _MAX_TEXT_CHARS:
        raise WeightsError(f"{path}: '{key}' is a {dtype} array of shape {shape}; expected one text string of at "
                           f"most {_MAX_TEXT_CHARS:,} characters, as lenet.io.weights.save writes")
    with z.open(infos[key]) as f:
        return str(np.lib.format.read_array(f, allow_pickle=False))


def _json_object(text: str, key: str, path: Path) -> dict:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise WeightsError(f"{path}: '{key}' is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise WeightsError(f"{path}: '{key}' holds JSON {type(value).__name__}; expected an object")
    return value


def _read(z: zipfile.ZipFile, path: Path, require_digest: bool) -> tuple[Arch, dict[str, np.ndarray], dict]:
    infos = {}
    for info in z.infolist():
        if not info.filename.endswith(".npy"):
            raise WeightsError(f"{path}: unexpected member {info.filename!r}; a weight file holds .npy arrays only")
        infos[info.filename.removesuffix(".npy")] = info
    if _ARCH_KEY not in infos:
        raise WeightsError(f"{path}: has no '{_ARCH_KEY}' entry; it was not written by lenet.io.weights.save")
    headers = {key: _header(z, info, path) for key, info in infos.items()}
    arch_text = _text(z, infos, _ARCH_KEY, headers, path, "")
    meta_text = _text(z, infos, _META_KEY, headers, path, "{}")
    digest = _text(z, infos, _DIGEST_KEY, headers, path, "")
    if require_digest and not digest:
        raise WeightsError(f"{path}: has no '{_DIGEST_KEY}' entry, so its content cannot be checked (written "
                           f"before content digests, or not by lenet.io.weights.save)")
    try:
        arch = Arch.from_dict(_json_object(arch_text, _ARCH_KEY, path))
    except SpecError as e:
        raise WeightsError(f"{path}: unreadable architecture description ({e})") from None
    meta = _json_object(meta_text, _META_KEY, path)
    names = [k for k in infos if k not in _TEXT_KEYS]
    _check_names(arch, names, str(path))
    for name in names:
        shape, dtype, _ = headers[name]
        _check_shape(arch, name, shape, str(path))
        _check_float_dtype(dtype, name, str(path))
    require_fits(sum(headers[name][2] for name in names), f"{path}: its weights", WeightsError)
    arrays = {}
    for name in names:
        with z.open(infos[name]) as f:
            arrays[name] = np.lib.format.read_array(f, allow_pickle=False)
    if digest and content_digest(arch_text, meta_text, arrays) != digest:
        raise WeightsError(f"{path}: content does not match its '{_DIGEST_KEY}' (weights, architecture or metadata "
                           f"altered after it was written)")
    return arch, arrays, meta


def load(path: str | os.PathLike, *, require_digest: bool = False) -> tuple[Arch, dict[str, np.ndarray], dict]:
    """Read ``(arch, weights, meta)`` from a file written by :func:`save`; see the module docstring.

    With ``require_digest``, a file without a content digest is refused too (a cache must be able to tell).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weight file" if not path.exists() else
                           f"{path}: not a regular file, so not a weight file")
    try:
        with zipfile.ZipFile(path) as z:
            arch, arrays, meta = _read(z, path, require_digest)
    except WeightsError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError) as e:
        raise WeightsError(f"{path}: not a readable .npz weight file ({e})") from e
    return arch, check_weights(arch, arrays, source=str(path)), meta


def require_same_arch(expected: Arch, found: Arch, source: str) -> None:
    """Raise a clear error when a weight file was written for another architecture."""
    if expected.to_dict() != found.to_dict():
        raise WeightsError(
            f"{source}: holds weights for {found.name} (input {found.input_shape}, "
            f"{found.num_classes} classes), but the model is {expected.name} "
            f"(input {expected.input_shape}, {expected.num_classes} classes)"
        )
