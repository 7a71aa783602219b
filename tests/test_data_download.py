"""Where idx datasets are found; the sha256 table against real files; downloads: success, bad checksum, 404.

No test reaches the internet: every download goes to a server on 127.0.0.1.
"""
from __future__ import annotations

import hashlib
import socket
import struct
import threading
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from lenet.data import DatasetError, idx, idx_datasets, load_dataset
from lenet.data.idx_datasets import (
    FILES,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    mirror_url,
)
from lenet.io.model_cache import default_cache_dir
from lenet.io.paths import cache_dir


def write_mini_mnist(folder: Path, n_train: int = 40, n_test: int = 20) -> dict[str, str]:
    """Write a small valid set of the four idx files into ``folder``; return their sha256 by file name."""
    rng = np.random.default_rng(n_train)
    for images, labels, n in ((TRAIN_IMAGES, TRAIN_LABELS, n_train), (TEST_IMAGES, TEST_LABELS, n_test)):
        idx.write(folder / images, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        idx.write(folder / labels, (np.arange(n) % 10).astype(np.uint8))
    return {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in FILES}


def expect_mini_mnist(monkeypatch, folder: Path) -> dict[str, str]:
    """:func:`write_mini_mnist`, made the files that downloads of mnist expect (their sizes and sha256)."""
    sha = write_mini_mnist(folder)
    monkeypatch.setitem(idx_datasets.SHA256, "mnist", sha)
    monkeypatch.setitem(idx_datasets.SIZES, "mnist", {f: (folder / f).stat().st_size for f in FILES})
    return sha


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No user folders, an empty cache, and a mirror nothing listens on."""
    monkeypatch.delenv("LENET_DATA", raising=False)
    monkeypatch.setenv("LENET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LENET_MIRROR", "http://127.0.0.1:9/unused")
    monkeypatch.setattr(idx_datasets, "SYSTEM_DIRS", {})


@dataclass
class Mirror:
    folder: Path  # served as the mirror's root: files of dataset NAME go in folder / NAME
    requests: list[str] = field(default_factory=list)  # the paths asked for


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A static HTTP server on 127.0.0.1 with LENET_MIRROR pointing at it."""
    mirror = Mirror(tmp_path / "mirror")
    (mirror.folder / "mnist").mkdir(parents=True)

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format, *args):
            mirror.requests.append(self.path)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(mirror.folder)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("LENET_MIRROR", f"http://127.0.0.1:{httpd.server_port}")
    try:
        yield mirror
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part")) if folder.exists() else []


# --- where files are looked for -------------------------------------------------------------------

def test_cache_and_mirror_locations(monkeypatch, tmp_path):
    assert cache_dir("kmnist") == tmp_path / "cache" / "kmnist"
    monkeypatch.delenv("LENET_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir("kmnist") == tmp_path / ".cache" / "lenet-bench" / "kmnist"
    monkeypatch.setenv("LENET_CACHE", "")  # empty counts as unset, for every kind of entry
    assert cache_dir("kmnist") == tmp_path / ".cache" / "lenet-bench" / "kmnist"
    assert default_cache_dir() == tmp_path / ".cache" / "lenet-bench" / "models"
    monkeypatch.setenv("LENET_MIRROR", "http://example.org/m/")
    assert mirror_url("kmnist", TRAIN_IMAGES) == "http://example.org/m/kmnist/" + TRAIN_IMAGES
    monkeypatch.delenv("LENET_MIRROR")
    assert mirror_url("mnist", TRAIN_IMAGES) == "https://ossci-datasets.s3.amazonaws.com/mnist/" + TRAIN_IMAGES


def test_search_order_lenet_data_then_system_dir_then_cache(monkeypatch, tmp_path):
    user, system = tmp_path / "user" / "mnist", tmp_path / "system"
    for folder, n in ((user, 30), (system, 50), (cache_dir("mnist"), 70)):
        folder.mkdir(parents=True)
        write_mini_mnist(folder, n_train=n)
    monkeypatch.setattr(idx_datasets, "SYSTEM_DIRS", {"mnist": (str(system),)})
    monkeypatch.setenv("LENET_DATA", str(tmp_path / "user"))

    def train_size() -> int:
        return sum(load_dataset("mnist", val_fraction=0.0, download=False).sizes().values()) - 20

    assert train_size() == 30
    (user / TRAIN_IMAGES).unlink()  # an incomplete folder is passed over
    assert train_size() == 50
    monkeypatch.setattr(idx_datasets, "SYSTEM_DIRS", {})
    assert train_size() == 70


def test_uncompressed_files_count_too(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in FILES:
        shape = (10, 28, 28) if "images" in name else (10,)
        high = 256 if "images" in name else 10
        idx.write(folder / name.removesuffix(".gz"), rng.integers(0, high, shape, dtype=np.uint8), compress=False)
    assert load_dataset("mnist", data_dir=folder, val_fraction=0.0).sizes() == {"train": 10, "val": 0, "test": 10}


def test_an_explicit_data_dir_must_be_complete(monkeypatch, tmp_path):
    lenet_data = tmp_path / "user"
    (lenet_data / "mnist").mkdir(parents=True)
    write_mini_mnist(lenet_data / "mnist")
    monkeypatch.setenv("LENET_DATA", str(lenet_data))
    given = tmp_path / "given"
    given.mkdir()
    idx.write(given / TRAIN_IMAGES, np.zeros((1, 28, 28), dtype=np.uint8))
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", data_dir=given)
    assert str(given) in str(err.value)
    assert ("missing train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]"
            in str(err.value))


def test_nothing_found_and_no_download_lists_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv("LENET_DATA", str(tmp_path / "user"))
    with pytest.raises(DatasetError, match="no complete set of idx files, and download=False") as err:
        load_dataset("kmnist", download=False)
    assert str(tmp_path / "user" / "kmnist") in str(err.value)
    assert str(cache_dir("kmnist")) in str(err.value)


# --- the checksum table against real files --------------------------------------------------------

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
# The gzip header of each upstream Fashion-MNIST file (found by search over the mtime): Debian's
# strip-nondeterminism dropped the stored file name and reset the mtime; the deflate data is untouched.
FASHION_UPSTREAM_MTIME = {TRAIN_IMAGES: 1504176606, TRAIN_LABELS: 1504176606,
                          TEST_IMAGES: 1504176627, TEST_LABELS: 1504176627}  # 2017-08-31 10:50 UTC


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason=f"real MNIST test set not present at {SHARED_MNIST}")
@pytest.mark.parametrize("name", [TEST_IMAGES, TEST_LABELS])
def test_mnist_test_file_checksums(name):
    data = (SHARED_MNIST / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == idx_datasets.SHA256["mnist"][name]
    assert len(data) == idx_datasets.SIZES["mnist"][name]


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason=f"Debian package dataset-fashion-mnist not installed "
                                                         f"({DEBIAN_FASHION} absent)")
@pytest.mark.parametrize("name", FILES)
def test_fashion_mnist_checksums_from_debian_files_with_the_upstream_header(name):
    debian = (DEBIAN_FASHION / name).read_bytes()
    assert debian[3] == 0  # no optional header fields: the deflate data starts at byte 10
    header = struct.pack("<4sIBB", b"\x1f\x8b\x08\x08", FASHION_UPSTREAM_MTIME[name], 0, 3)  # FNAME flag, unix
    upstream = header + name.removesuffix(".gz").encode() + b"\0" + debian[10:]
    assert hashlib.sha256(upstream).hexdigest() == idx_datasets.SHA256["fashion-mnist"][name]
    assert len(upstream) == idx_datasets.SIZES["fashion-mnist"][name]


# --- downloads ------------------------------------------------------------------------------------

def test_download_fills_the_cache_once(server, monkeypatch):
    expect_mini_mnist(monkeypatch, server.folder / "mnist")
    data = load_dataset("mnist", val_fraction=0.25, progress=True)
    assert data.sizes() == {"train": 30, "val": 10, "test": 20}
    cache = cache_dir("mnist")
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)
    for name in FILES:
        assert (cache / name).read_bytes() == (server.folder / "mnist" / name).read_bytes()
    assert sorted(server.requests) == sorted(f"/mnist/{name}" for name in FILES)
    load_dataset("mnist", download=False)
    assert len(server.requests) == 4


def test_checksum_mismatch_removes_the_partial_file(server, monkeypatch):
    sha = expect_mini_mnist(monkeypatch, server.folder / "mnist")
    wrong = "0" * 64
    monkeypatch.setitem(idx_datasets.SHA256, "mnist", {**sha, TRAIN_IMAGES: wrong})
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", progress=False)
    message = str(err.value)
    assert f"{mirror_url('mnist', TRAIN_IMAGES)}" in message
    assert str(cache_dir("mnist") / TRAIN_IMAGES) in message
    assert f"expected sha256 {wrong}, got {sha[TRAIN_IMAGES]}" in message
    assert not (cache_dir("mnist") / TRAIN_IMAGES).exists() and _leftovers(cache_dir("mnist")) == []


def test_http_404_is_a_clear_error(server, monkeypatch):
    expect_mini_mnist(monkeypatch, server.folder / "mnist")
    (server.folder / "mnist" / TEST_LABELS).unlink()
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", progress=False)
    assert f"cannot download {mirror_url('mnist', TEST_LABELS)} to {cache_dir('mnist') / TEST_LABELS}: HTTP 404" in (
        str(err.value))
    assert not (cache_dir("mnist") / TEST_LABELS).exists() and _leftovers(cache_dir("mnist")) == []


def test_unreachable_mirror_is_a_clear_error(monkeypatch):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LENET_MIRROR", f"http://127.0.0.1:{port}")
    with pytest.raises(DatasetError, match=f"cannot download http://127.0.0.1:{port}/mnist/{TRAIN_IMAGES} to "):
        load_dataset("mnist", progress=False)
    assert _leftovers(cache_dir("mnist")) == []
