"""Fetch one file with urllib, check its sha256, and only then move it into place."""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from .. import __version__
from ..atomic import atomic_path
from .base import DatasetError

_CHUNK = 1 << 16
_TIMEOUT_S = 60


def download(url: str, dest: str | os.PathLike, sha256: str, *, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``.

    The bytes go to a temporary file beside ``dest``, hashed as they arrive;
    it is renamed to ``dest`` only when its sha256 equals ``sha256``.  On any
    failure the temporary file is removed and a :class:`DatasetError` names
    the URL, the destination and the problem.
    """
    dest = Path(dest)
    request = urllib.request.Request(url, headers={"User-Agent": f"lenet-bench/{__version__}"})
    try:
        with atomic_path(dest) as tmp, urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            size = int(response.headers.get("Content-Length") or 0) or None
            digest = hashlib.sha256()
            with open(tmp, "wb") as out, tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024,
                                              desc=f"download {dest.name}", disable=not progress) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            if digest.hexdigest() != sha256:
                raise DatasetError(f"checksum mismatch for {url} (saving to {dest}): expected sha256 {sha256}, "
                                   f"got {digest.hexdigest()}; the partial download was removed")
    except urllib.error.HTTPError as e:
        e.close()
        raise DatasetError(f"cannot download {url} to {dest}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise DatasetError(f"cannot download {url} to {dest}: {e.reason}") from None
    except OSError as e:  # timeouts, resets, a full disk
        raise DatasetError(f"cannot download {url} to {dest}: {e}") from None
    return dest
