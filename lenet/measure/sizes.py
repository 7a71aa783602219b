"""Bytes of artifacts on disk, and of parameters stored in int8."""
from __future__ import annotations

import gzip
import os
from pathlib import Path


def serialized_sizes(path: str | os.PathLike) -> dict:
    """Bytes of a weight file on disk and gzip-compressed (level 9)."""
    data = Path(path).read_bytes()
    return {"file_bytes": len(data), "gzip_bytes": len(gzip.compress(data, compresslevel=9))}
