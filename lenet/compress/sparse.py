"""Pruned weights physically stored sparse: CSR per weight tensor, with exact round trip (NumPy only).

Each conv weight ``(out, in, k, k)`` is stored as the CSR of its
``(out, in*k*k)`` matrix, each dense weight ``(in, out)`` as the CSR of
itself.  ``data`` keeps the float32 values bit for bit; ``indices`` use the
smallest unsigned type that holds a column index and ``indptr`` the smallest
that holds the non-zero count, chosen per tensor (LeNet-5: every row is at most
150 wide, so the indices are uint8, one byte per kept weight beside its four
bytes of value).  Biases stay dense.

The file is an ordinary ``.npz`` with the architecture's JSON, so
:func:`load` gives back ``(arch, weights)`` equal to the dense weights it was
made from (``np.array_equal``; a stored ``-0.0`` comes back as ``+0.0``, the
only value CSR cannot tell apart).

Storing sparse is not executing sparse: a backend runs the dense weights that
:func:`load` rebuilds, so every multiply still happens.  What shrinks is the
file (and its gzip), not the FLOPs or the latency.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path
from ..io.weights import check_weights
from ..spec import Arch

_ARCH_KEY = "__arch__"
_FORMAT = "lenet-csr-v1"


def _index_dtype(limit: int) -> np.dtype:
    for dt in (np.uint8, np.uint16, np.uint32):
        if limit <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.uint64)


def to_csr(w: np.ndarray) -> dict[str, np.ndarray]:
    """CSR of ``w`` viewed as 2-D (conv ``(out, in*k*k)``, dense as is): data, indices, indptr, shape."""
    w = np.asarray(w, dtype=np.float32)
    mat = w.reshape(w.shape[0], -1)
    rows, cols = np.nonzero(mat)  # row-major order: CSR order
    counts = np.bincount(rows, minlength=mat.shape[0])
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(_index_dtype(len(rows)))
    return {"data": mat[rows, cols].astype(np.float32), "indices": cols.astype(_index_dtype(max(mat.shape[1] - 1, 0))),
            "indptr": indptr, "shape": np.array(w.shape, dtype=np.int64)}


def from_csr(parts: dict) -> np.ndarray:
    """The dense float32 array ``to_csr`` was made from."""
    shape = tuple(int(d) for d in parts["shape"])
    rows = shape[0]
    cols = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    mat = np.zeros((rows, cols), np.float32)
    indptr = parts["indptr"].astype(np.int64)
    row_of = np.repeat(np.arange(rows), np.diff(indptr))
    mat[row_of, parts["indices"].astype(np.int64)] = parts["data"]
    return mat.reshape(shape)


def encode(arch: Arch, weights: dict) -> dict[str, np.ndarray]:
    """The arrays of the sparse file: ``<key>.data/.indices/.indptr/.shape`` for weights, biases dense."""
    weights = check_weights(arch, weights)
    out = {}
    for k, w in weights.items():
        if k.endswith(".weight"):
            out.update({f"{k}.{part}": a for part, a in to_csr(w).items()})
        else:
            out[k] = w
    return out


def decode(arch: Arch, arrays: dict) -> dict[str, np.ndarray]:
    """Dense canonical weights from :func:`encode`'s arrays."""
    out = {}
    for k in arch.weight_shapes():
        if k.endswith(".weight"):
            out[k] = from_csr({p: arrays[f"{k}.{p}"] for p in ("data", "indices", "indptr", "shape")})
        else:
            out[k] = np.asarray(arrays[k], np.float32)
    return check_weights(arch, out)


def save(path: str | os.PathLike, arch: Arch, weights: dict) -> Path:
    """Write ``weights`` sparse (uncompressed ``.npz`` of CSR parts), atomically."""
    path = Path(path)
    arrays = encode(arch, weights)
    meta = json.dumps({"format": _FORMAT, "arch": arch.to_dict()}, sort_keys=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays, **{_ARCH_KEY: np.array(meta)})
    return path


def load(path: str | os.PathLike) -> tuple[Arch, dict[str, np.ndarray]]:
    """``(arch, dense weights)`` from a file written by :func:`save`."""
    with np.load(Path(path), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop(_ARCH_KEY)))
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{path}: not a {_FORMAT} file (format {meta.get('format')!r})")
    arch = Arch.from_dict(meta["arch"])
    return arch, decode(arch, arrays)


def stored_values(arch: Arch, weights: dict) -> int:
    """Numbers the sparse format keeps: non-zero weights plus every bias entry."""
    return int(sum(np.count_nonzero(w) if k.endswith(".weight") else w.size
                   for k, w in check_weights(arch, weights).items()))
