"""Bytes of artifacts on disk, and of parameters stored in int8."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

from ..spec import Arch, Conv, Dense


def serialized_sizes(path: str | os.PathLike) -> dict:
    """Bytes of a weight file on disk and gzip-compressed (level 9)."""
    data = Path(path).read_bytes()
    return {"file_bytes": len(data), "gzip_bytes": len(gzip.compress(data, compresslevel=9))}


def int8_dense_bytes(arch: Arch) -> int:
    """int8 weights (1 byte each) + float32 biases + one float32 scale per output channel."""
    n = 0
    for layer, shape in zip(arch.layers, arch.input_shapes()):
        if isinstance(layer, Conv):
            n += layer.out_channels * shape[0] * layer.kernel ** 2 + 8 * layer.out_channels
        elif isinstance(layer, Dense):
            n += shape[0] * layer.units + 8 * layer.units
    return n
