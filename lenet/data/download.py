"""Fetch one file with urllib, check its size and sha256, and only then move it into place.

What a server can do wrong, and what happens:

* an HTTP error status, a malformed status line or header, a bad or
  contradicting ``Content-Length``, broken chunked framing, a body cut short:
  a :class:`DatasetError` naming the URL, the destination and what to do;
* more bytes than the file should have: the download stops at the first
  byte too many (announced by ``Content-Length`` or not);
* trickling bytes (one every few seconds keeps a per-read socket timeout
  happy forever): an overall deadline per file, enforced by a watchdog that
  shuts the connection's socket, so that no read -- of the body or of the
  headers -- outlasts it.

A URL must be ``http://``, ``https://`` or ``file://`` with a host (for
``LENET_MIRROR`` too).  The bytes go to a temporary file beside the
destination, which is removed on any failure.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm import tqdm

from .. import __version__
from ..io.atomic import atomic_path
from .base import DatasetError

_CHUNK = 1 << 16
_TIMEOUT_S = 60  # per socket operation: connect, each read
# The overall deadline of one file: a fixed allowance for connecting, plus its size at a slow but working rate.
_DEADLINE_BASE_S = 60
_MIN_RATE = 50_000  # bytes per second
_SCHEMES = ("http", "https", "file")
_ADVICE = ("Check the URL (or LENET_MIRROR) and your connection, or download the file yourself and pass "
           "its folder as data_dir (--data-dir)")


def default_deadline(size: int) -> float:
    """Seconds allowed to fetch ``size`` bytes: ``_DEADLINE_BASE_S`` plus the size at ``_MIN_RATE``."""
    return _DEADLINE_BASE_S + size / _MIN_RATE


def check_url(url: str, what: str = "URL") -> None:
    """Raise DatasetError unless ``url`` is an absolute http(s) or file URL (``what`` names where it came from)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in _SCHEMES or (parts.scheme != "file" and not parts.netloc):
        raise DatasetError(f"cannot download: {what} {url!r} is not an absolute URL with a scheme "
                           f"({', '.join(_SCHEMES)}) and a host; set it to e.g. https://host/path/")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise DatasetError(f"cannot download: {what} {url!r} contains spaces or control characters; "
                           f"percent-encode them")


class _Refused(Exception):
    """A response refused on the way in; the message says why."""


class _Watchdog:
    """Shuts the sockets of the connections it tracks once ``deadline`` (monotonic) passes."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds
        self.connections: list[http.client.HTTPConnection] = []
        self.expired = threading.Event()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        self.expired.set()
        for conn in self.connections:
            if conn.sock is not None:
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def opener(self) -> urllib.request.OpenerDirector:
        """An opener whose HTTP(S) connections are tracked, with urllib's usual proxies and redirects."""
        watchdog = self

        class Tracking:
            def do_open(self, http_class, req, **kwargs):
                def make(*args, **kw):
                    conn = http_class(*args, **kw)
                    watchdog.connections.append(conn)
                    return conn

                return super().do_open(make, req, **kwargs)

        class HTTP(Tracking, urllib.request.HTTPHandler):
            pass

        class HTTPS(Tracking, urllib.request.HTTPSHandler):
            pass

        return urllib.request.build_opener(HTTP, HTTPS)

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()

    def late(self) -> bool:
        return self.expired.is_set() or time.monotonic() > self.deadline


def _announced_length(response, size: int) -> None:
    """Check the ``Content-Length`` header (when present) against the expected ``size``."""
    values = response.headers.get_all("Content-Length") or []
    if not values:
        return
    if len(set(values)) > 1 or not values[0].strip().isdigit():
        raise _Refused(f"the server sent a malformed Content-Length ({', '.join(values)!r})")
    if int(values[0]) != size:
        raise _Refused(f"the server announces {int(values[0]):,} bytes, but the file has {size:,}: "
                       f"the mirror serves another file")


def _copy(response, out, size: int, watchdog: _Watchdog, bar) -> str:
    """Stream the body into ``out``; its sha256.  Stops at the first byte beyond ``size``, or at the deadline."""
    digest, received = hashlib.sha256(), 0
    while chunk := response.read1(_CHUNK):
        if watchdog.late():
            break  # reported by the caller, which sees the deadline passed
        received += len(chunk)
        if received > size:
            raise _Refused(f"the server sent more than the {size:,} bytes the file has: the mirror serves "
                           f"another file")
        out.write(chunk)
        digest.update(chunk)
        bar.update(len(chunk))
    if watchdog.late():
        raise _Refused("deadline passed")  # _reason words it
    if received < size:
        raise _Refused(f"the body was cut short after {received:,} of {size:,} bytes")
    return digest.hexdigest()


def _reason(e: Exception, watchdog: _Watchdog, deadline_s: float) -> str:
    """What went wrong, in words, for any exception a download can raise."""
    if watchdog.late():
        return (f"not finished within {deadline_s:.0f} s (a stalled server, or one slower than "
                f"{_MIN_RATE // 1000} kB/s)")
    if isinstance(e, urllib.error.HTTPError):
        e.close()
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        return str(e.reason)
    if isinstance(e, http.client.HTTPException):  # bad status line, header or chunked framing
        return f"the server's response is malformed ({type(e).__name__}: {e})"
    return str(e)  # _Refused, timeouts, resets, a full disk, a URL urllib cannot parse


def download(url: str, dest: str | os.PathLike, sha256: str, *, size: int, progress: bool = True,
             deadline_s: float | None = None) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``.

    ``size`` is the file's length in bytes and ``sha256`` its hash; the file
    is renamed to ``dest`` only when both match.  The whole transfer must end
    within ``deadline_s`` seconds (default :func:`default_deadline` of
    ``size``).  On any failure the temporary file is removed and a
    :class:`DatasetError` names the URL, the destination and the problem.
    """
    dest = Path(dest)
    check_url(url)
    deadline_s = default_deadline(size) if deadline_s is None else deadline_s
    request = urllib.request.Request(url, headers={"User-Agent": f"lenet-bench/{__version__}"})
    watchdog = _Watchdog(deadline_s)
    try:
        with (watchdog, atomic_path(dest) as tmp,
              watchdog.opener().open(request, timeout=min(_TIMEOUT_S, deadline_s)) as response):
            _announced_length(response, size)
            with open(tmp, "wb") as out, tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024,
                                              desc=f"download {dest.name}", disable=not progress) as bar:
                digest = _copy(response, out, size, watchdog, bar)
            if digest != sha256:
                raise DatasetError(f"checksum mismatch for {url} (saving to {dest}): expected sha256 {sha256}, "
                                   f"got {digest}; the partial download was removed")
    except DatasetError:
        raise
    except (_Refused, OSError, ValueError, http.client.HTTPException) as e:  # URLError is an OSError
        raise DatasetError(f"cannot download {url} to {dest}: {_reason(e, watchdog, deadline_s)}; nothing was "
                           f"kept. {_ADVICE}") from None
    return dest
