"""The idx reader: real MNIST files, gzip detection, and a clear error for every kind of bad file."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from lenet.data import idx
from lenet.data.base import DatasetError
from lenet.io.atomic import write_bytes

DATA = Path(__file__).parent / "data"
SLICE_IMAGES = DATA / "t10k-500-images-idx3-ubyte.gz"
SLICE_LABELS = DATA / "t10k-500-labels-idx1-ubyte.gz"
SLICE_COUNTS = [42, 67, 55, 45, 55, 50, 43, 49, 40, 54]

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _header(magic: int, *shape: int) -> bytes:
    return struct.pack(f">I{len(shape)}I", magic, *shape)


# --- real data ------------------------------------------------------------------------------------

def test_reads_the_committed_mnist_slice():
    images, labels = idx.read_images_and_labels(SLICE_IMAGES, SLICE_LABELS)
    assert images.shape == (500, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert np.bincount(labels, minlength=10).tolist() == SLICE_COUNTS
    assert images.max() == 255 and images.min() == 0


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason=f"real MNIST test set not present at {SHARED_MNIST}")
def test_reads_the_full_mnist_test_set_and_the_slice_is_its_head():
    images, labels = idx.read_images_and_labels(SHARED_MNIST / "t10k-images-idx3-ubyte.gz",
                                                SHARED_MNIST / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10_000, 28, 28)
    assert np.bincount(labels, minlength=10).tolist() == MNIST_TEST_COUNTS
    np.testing.assert_array_equal(idx.read_images(SLICE_IMAGES), images[:500])
    np.testing.assert_array_equal(idx.read_labels(SLICE_LABELS), labels[:500])


# --- format ---------------------------------------------------------------------------------------

def test_gzip_is_told_by_its_magic_bytes_not_the_file_name(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw_named_gz, gz_named_raw = tmp_path / "raw-images.gz", tmp_path / "gz-images"
    idx.write(raw_named_gz, images, compress=False)
    idx.write(gz_named_raw, images, compress=True)
    assert gz_named_raw.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(idx.read_images(raw_named_gz), images)
    np.testing.assert_array_equal(idx.read_images(gz_named_raw), images)


def test_encode_writes_the_documented_header():
    labels = np.array([3, 1, 4], dtype=np.uint8)
    assert idx.encode(labels) == _header(idx.LABELS_MAGIC, 3) + bytes([3, 1, 4])
    with pytest.raises(TypeError, match="uint8"):
        idx.encode(labels.astype(np.int64))


# --- bad files: each error names the file and the problem ------------------------------------------

def _images(n: int = 10, size: int = 28) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, size, size), dtype=np.uint8)


def _with_bad_crc(gz: bytes) -> bytes:
    """``gz`` with the first byte of its CRC-32 trailer flipped."""
    return gz[:-8] + bytes([gz[-8] ^ 0xFF]) + gz[-7:]


BAD_IMAGE_FILES = {
    "missing file": (None, "missing file"),
    "labels given as images": (_header(idx.LABELS_MAGIC, 2) + b"\x01\x02",
                               "wrong magic number 0x00000801 (uint8 labels); expected 0x00000803"),
    "not idx at all": (b"PK\x03\x04 a zip file", "wrong magic number 0x504b0304; expected 0x00000803"),
    "shorter than a magic": (b"\x00\x00", "truncated: 2 bytes, too short for an idx header"),
    "header cut short": (_header(idx.IMAGES_MAGIC, 10), "truncated: 8 bytes, shorter than the 16-byte idx header"),
    "fewer pixels than declared": (idx.encode(_images())[:-3920],
                                   "truncated: the header declares 10 items of 28x28 (7,840 bytes) but only "
                                   "3,920 bytes follow"),
    "fewer pixels, gzipped": (gzip.compress(idx.encode(_images())[:100]),
                              "truncated: the header declares 10 items of 28x28 (7,840 bytes) but only 84 bytes"),
    "bytes after the data": (idx.encode(_images()) + b"\x00" * 5, "5 unexpected bytes after the 10 items of 28x28"),
    "gzip magic then garbage": (b"\x1f\x8b" + b"\x00" * 30, "corrupt gzip data"),
    "gzip stream cut off": (gzip.compress(idx.encode(_images()))[:500], "corrupt gzip data"),
    "gzip crc wrong": (_with_bad_crc(gzip.compress(idx.encode(_images()))), "corrupt gzip data (CRC check failed"),
}


@pytest.mark.parametrize("content, problem", BAD_IMAGE_FILES.values(), ids=BAD_IMAGE_FILES.keys())
def test_bad_images_file_names_file_and_problem(tmp_path, content, problem):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    if content is not None:
        write_bytes(path, content)
    with pytest.raises(DatasetError) as err:
        idx.read_images(path)
    assert str(path) in str(err.value)
    assert problem in str(err.value)


def test_unreadable_file_is_a_dataset_error(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.mkdir()
    with pytest.raises(DatasetError, match="cannot read") as err:
        idx.read_images(path)
    assert str(path) in str(err.value)


def test_label_outside_the_classes_names_file_index_and_value(tmp_path):
    path = tmp_path / "labels.gz"
    idx.write(path, np.array([0, 9, 3, 10, 12], dtype=np.uint8))
    with pytest.raises(DatasetError) as err:
        idx.read_labels(path)
    assert str(path) in str(err.value)
    assert "label 10 at index 3 is outside 0..9 (2 such labels)" in str(err.value)


def test_image_and_label_counts_must_match(tmp_path):
    images_path, labels_path = tmp_path / "images.gz", tmp_path / "labels.gz"
    idx.write(images_path, _images(10))
    idx.write(labels_path, np.zeros(9, dtype=np.uint8))
    with pytest.raises(DatasetError) as err:
        idx.read_images_and_labels(images_path, labels_path)
    message = str(err.value)
    assert str(images_path) in message and str(labels_path) in message
    assert "holds 10 images but" in message and "holds 9 labels" in message
