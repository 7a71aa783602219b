"""The idx file format of MNIST and its kin: read with checks that name the file, and write.

An idx file is a big-endian header -- a magic number ``0x0000TTDD`` (``TT``
the element type, 0x08 for uint8; ``DD`` the number of dimensions) and one
uint32 size per dimension -- followed by the elements in C order.  Files may
be gzip-compressed; that is told from the gzip magic bytes, not the file name.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..io.atomic import write_bytes
from ..io.regular_file import read_regular
from .base import DatasetError

IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions: (N, H, W)
LABELS_MAGIC = 0x00000801  # uint8, 1 dimension: (N,)
_UINT8 = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
_KIND = {IMAGES_MAGIC: "uint8 images", LABELS_MAGIC: "uint8 labels"}


def read_contents(path: str | os.PathLike) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic."""
    path = Path(path)
    try:
        data = read_regular(path)
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing file") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read: {e.strerror or e}") from None
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: corrupt gzip data ({e})") from None


def parse(data: bytes, magic: int, path: str | os.PathLike) -> np.ndarray:
    """The uint8 array held by idx ``data``, which must carry ``magic``; ``path`` is only for messages.

    The array is a read-only view of ``data``, shaped as the header says.
    """
    if len(data) < 4:
        raise DatasetError(f"{path}: truncated: {len(data)} bytes, too short for an idx header")
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        what = f" ({_KIND[found]})" if found in _KIND else ""
        raise DatasetError(f"{path}: wrong magic number 0x{found:08x}{what}; expected 0x{magic:08x} ({_KIND[magic]})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: truncated: {len(data)} bytes, shorter than the {header}-byte idx header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = math.prod(shape)  # Python ints: a corrupt header cannot overflow
    found_bytes = len(data) - header
    described = f"{shape[0]} items" + (" of " + "x".join(map(str, shape[1:])) if ndim > 1 else "")
    if found_bytes < expected:
        raise DatasetError(f"{path}: truncated: the header declares {described} ({expected:,} bytes) "
                           f"but only {found_bytes:,} bytes follow")
    if found_bytes > expected:
        raise DatasetError(f"{path}: {found_bytes - expected:,} unexpected bytes after the {described} "
                           f"the header declares")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_images(path: str | os.PathLike) -> np.ndarray:
    """Images of an idx3-ubyte file as uint8 ``(N, H, W)`` (read-only)."""
    return parse(read_contents(path), IMAGES_MAGIC, path)


def read_labels(path: str | os.PathLike, num_classes: int = 10) -> np.ndarray:
    """Labels of an idx1-ubyte file as int64 ``(N,)``, each checked to lie in ``0..num_classes-1``."""
    labels = parse(read_contents(path), LABELS_MAGIC, path)
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
        raise DatasetError(f"{path}: label {labels[bad[0]]} at index {bad[0]} is outside 0..{num_classes - 1} "
                           f"({bad.size} such labels)")
    return labels.astype(np.int64)


def read_images_and_labels(images_path: str | os.PathLike, labels_path: str | os.PathLike,
                           num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``(N, H, W)`` and int64 labels ``(N,)`` from a matching pair of idx files."""
    images = read_images(images_path)
    labels = read_labels(labels_path, num_classes)
    if len(images) != len(labels):
        raise DatasetError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                           f"{len(labels)} labels; they must pair one to one")
    return images, labels


def encode(array: np.ndarray) -> bytes:
    """The uncompressed idx bytes of a uint8 array of any shape."""
    if array.dtype != np.uint8:
        raise TypeError(f"idx encoding here is for uint8 arrays, got {array.dtype}")
    header = struct.pack(f">I{array.ndim}I", (_UINT8 << 8) | array.ndim, *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def write(path: str | os.PathLike, array: np.ndarray, *, compress: bool = True) -> None:
    """Write ``array`` (uint8) as an idx file, atomically; gzip it (reproducibly, mtime 0) if ``compress``."""
    data = encode(array)
    write_bytes(path, gzip.compress(data, mtime=0) if compress else data)
