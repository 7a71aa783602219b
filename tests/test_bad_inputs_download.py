"""A misbehaving server on 127.0.0.1: every fault is a clear error naming the URL, and nothing is left behind."""
from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lenet.data import DatasetError, idx_datasets
from lenet.data.download import download

BODY = bytes(range(256)) * 4
SHA = hashlib.sha256(BODY).hexdigest()
OK_HEAD = b"HTTP/1.1 200 OK\r\nConnection: close\r\n"


def _trickle(w, data: bytes, pause: float) -> None:
    for i in range(len(data)):
        w.write(data[i:i + 1])
        w.flush()
        time.sleep(pause)


# What the server answers, by name: a function of the handler's wfile.
RESPONSES = {
    "bad length": lambda w: w.write(OK_HEAD + b"Content-Length: abc\r\n\r\n" + BODY),
    "negative length": lambda w: w.write(OK_HEAD + b"Content-Length: -5\r\n\r\n" + BODY),
    "two lengths": lambda w: w.write(OK_HEAD + b"Content-Length: 1024\r\nContent-Length: 5\r\n\r\n" + BODY),
    "announces another size": lambda w: w.write(OK_HEAD + b"Content-Length: 1000000000\r\n\r\n" + BODY),
    "cut short": lambda w: w.write(OK_HEAD + b"Content-Length: 1024\r\n\r\n" + BODY[:400]),
    "too long, unannounced": lambda w: w.write(OK_HEAD + b"\r\n" + BODY * 50),
    "broken chunk size": lambda w: w.write(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"),
    "chunk cut short": lambda w: w.write(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n400\r\n" + BODY[:10]),
    "bad status line": lambda w: w.write(b"HTTP/1.1 abc\r\n\r\n"),
    "header line too long": lambda w: w.write(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n"),
    "closes at once": lambda w: None,
    "HTTP 500": lambda w: w.write(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"),
    "trickles the body": lambda w: (w.write(OK_HEAD + b"Content-Length: 1024\r\n\r\n"), _trickle(w, BODY, 0.2)),
    "trickles the headers": lambda w: _trickle(w, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200, 0.2),
}
EXPECTED = {
    "bad length": "malformed Content-Length", "negative length": "malformed Content-Length",
    "two lengths": "malformed Content-Length", "announces another size": "announces 1,000,000,000 bytes",
    "cut short": "cut short after 400 of 1,024 bytes", "too long, unannounced": "more than the 1,024 bytes",
    "broken chunk size": "malformed", "chunk cut short": "malformed", "bad status line": "malformed",
    "header line too long": "malformed", "closes at once": "closed connection", "HTTP 500": "HTTP 500",
    "trickles the body": "not finished within 2 s", "trickles the headers": "not finished within 2 s",
}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        try:
            if self.path == "/ok":
                self.wfile.write(OK_HEAD + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY)
            else:
                RESPONSES[self.path.strip("/").replace("_", " ")](self.wfile)
        except OSError:  # the client gave up
            pass
        self.close_connection = True


@pytest.fixture(scope="module")
def base():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads, server.block_on_close = True, False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def fetch(url: str, dest: Path, **kwargs) -> Path:
    return download(url, dest, SHA, size=len(BODY), progress=False, **kwargs)


def test_a_good_download_lands(base, tmp_path):
    assert fetch(f"{base}/ok", tmp_path / "f.gz").read_bytes() == BODY


@pytest.mark.parametrize("fault", sorted(RESPONSES))
def test_every_server_fault_is_a_clear_error_and_leaves_nothing(base, tmp_path, fault):
    url = f"{base}/{fault.replace(' ', '_')}"
    start = time.monotonic()
    with pytest.raises(DatasetError) as err:
        fetch(url, tmp_path / "f.gz", deadline_s=2)
    assert time.monotonic() - start < 15  # the deadline holds, however slow the server (a generous bound)
    message = str(err.value)
    assert message.startswith(f"cannot download {url} to {tmp_path / 'f.gz'}: ") and EXPECTED[fault] in message
    assert "data_dir" in message  # what to do instead
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mirror", ["127.0.0.1:9/m", "mirror", "htp://127.0.0.1/m", "http:///m", "http://h/a b"])
def test_a_mirror_that_is_not_a_url_is_named(monkeypatch, mirror):
    monkeypatch.setenv("LENET_MIRROR", mirror)
    with pytest.raises(DatasetError, match=f"LENET_MIRROR {mirror!r} "):
        idx_datasets.mirror_url("mnist", idx_datasets.TRAIN_IMAGES)


def test_the_deadline_defaults_to_the_size_at_a_slow_rate():
    from lenet.data.download import default_deadline

    assert default_deadline(0) == 60 and default_deadline(26_421_880) == pytest.approx(60 + 528.4, abs=0.1)
