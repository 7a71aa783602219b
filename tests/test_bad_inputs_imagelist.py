"""Bad image lists: labels, class counts, paths out of the root, wide TIFFs, bombs, FIFOs -- each named."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lenet.data import DatasetError, load_dataset
from lenet.data.imagelist import ImageWarning, decode_image, read_imagelist


def make(root: Path, train: str, val: str = "a.png 0\n", test: str = "a.png 0\n") -> Path:
    root.mkdir(parents=True)
    for i, name in enumerate(("a.png", "b.png")):
        Image.fromarray(np.full((8, 8), 60 * i, np.uint8)).save(root / name)
    for split, text in (("train", train), ("val", val), ("test", test)):
        (root / f"{split}.txt").write_text(text, encoding="utf-8")
    return root


def read(root: Path, **kwargs):
    return read_imagelist(root, input_size=8, cache=False, progress=False, workers=1, **kwargs)


@pytest.mark.parametrize("label", ["1_0", "+1", "\u0663", "\uff11", "1e3", "0x1", "1.0", "\u00b9", "10\u200b"])
def test_labels_are_plain_ascii_decimal_integers(tmp_path, label):
    root = make(tmp_path / "r", f"a.png 0\nb.png {label}\n")
    expected = f"{root / 'train.txt'}, line 2: label {label!r} of 'b.png' is not an integer written in the digits 0-9"
    with pytest.raises(DatasetError) as err:
        read(root)
    assert str(err.value).startswith(expected)


def test_a_negative_label_is_outside_the_range(tmp_path):
    with pytest.raises(DatasetError, match="line 2: label -1 of 'b.png' is outside 0..C-1"):
        read(make(tmp_path / "r", "a.png 0\nb.png -1\n"))


@pytest.mark.parametrize("label", ["100000000", "1" + "0" * 30])
def test_a_huge_label_is_an_error_not_an_allocation(tmp_path, label):
    root = make(tmp_path / "r", f"a.png 0\nb.png {label}\n")
    with pytest.raises(DatasetError, match=rf"train.txt, line 2: label {label} of 'b.png' implies [\d,]+ classes .* "
                                           r"more than the 2 training images listed"):
        read(root)


def test_a_list_of_one_class_is_refused_naming_the_list(tmp_path):
    root = make(tmp_path / "r", "a.png 0\nb.png 0\n")
    with pytest.raises(DatasetError, match=rf"^{root / 'train.txt'}: every image has label 0, so there is only 1 "
                                           r"class; a classifier needs at least 2"):
        read(root)
    (root / "classes.txt").write_text("cat\n")
    with pytest.raises(DatasetError, match=rf"^{root / 'classes.txt'}: names only 1 class \('cat'\)"):
        read(root)


def test_classes_txt_declares_classes_without_images(tmp_path):
    root = make(tmp_path / "r", "a.png 0\nb.png 4\n", val="a.png 4\n", test="b.png 0\n")
    (root / "classes.txt").write_text("".join(f"c{i}\n" for i in range(5)))
    assert read(root).num_classes == 5


@pytest.mark.parametrize("split, path", [("train", "../outside.png"), ("train", "sub/../../outside.png"),
                                         ("val", "../outside.png"), ("test", "./../outside.png")])
def test_paths_leaving_the_root_need_explicit_permission(tmp_path, split, path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "outside.png")
    (tmp_path / "r" / "sub").mkdir(parents=True)
    lines = {"train": "a.png 0\nb.png 1\n", "val": "a.png 0\n", "test": "a.png 0\n"}
    lines[split] = f"{path} 0\n" + lines[split]
    root = tmp_path / "r"
    for i, name in enumerate(("a.png", "b.png")):
        Image.fromarray(np.full((8, 8), 60 * i, np.uint8)).save(root / name)
    for s, text in lines.items():
        (root / f"{s}.txt").write_text(text)
    with pytest.raises(DatasetError, match=rf"{split}.txt, line 1: image path '{path}' leaves the dataset folder .*"
                                           r"allow_outside_root=True, --allow-outside-root"):
        read(root)
    assert read(root, allow_outside_root=True).x_train.shape[0] == len(lines["train"].splitlines())
    name = "imagelist:" + str(root)
    assert load_dataset(name, input_size=8, progress=False, allow_outside_root=True).num_classes == 2


def test_an_absolute_path_is_the_users_explicit_choice(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "outside.png")
    root = make(tmp_path / "r", f"a.png 0\n{tmp_path / 'outside.png'} 1\n")
    assert read(root).num_classes == 2


def _tiff(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def test_float_tiffs_in_0_1_decode_and_others_are_refused(tmp_path):
    ramp = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    with Image.open(_tiff(tmp_path / "f.tif", ramp)) as im:
        assert im.mode == "F"
    np.testing.assert_array_equal(decode_image(tmp_path / "f.tif", 8)[0], np.rint(ramp * 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"floating-point image \(mode F\) with values 300..300; only 0..1"):
        decode_image(_tiff(tmp_path / "big.tif", np.full((8, 8), 300.0, np.float32)), 8)
    with pytest.raises(ValueError, match="NaN or infinite"):
        decode_image(_tiff(tmp_path / "nan.tif", np.full((8, 8), np.nan, np.float32)), 8)


def test_signed_32_bit_tiffs_decode_within_16_bits_and_are_refused_outside(tmp_path):
    with Image.open(_tiff(tmp_path / "i.tif", np.full((8, 8), 32896, np.int32))) as im:
        assert im.mode == "I"
    assert (decode_image(tmp_path / "i.tif", 4) == 128).all()
    for value in (-1000, 2 ** 30):
        with pytest.raises(ValueError, match=rf"32-bit integer image \(mode I\) with values {value}..{value}"):
            decode_image(_tiff(tmp_path / f"i{value}.tif", np.full((8, 8), value, np.int32)), 8)


def test_a_refused_tiff_is_named_with_its_list_line(tmp_path):
    root = make(tmp_path / "r", "a.png 0\nt.tif 1\n")
    _tiff(root / "t.tif", np.full((8, 8), -5, np.int32))
    with pytest.raises(DatasetError, match=r"train.txt, line 2: cannot decode image .*t.tif \(ValueError: a 32-bit"):
        read(root)


def test_the_decompression_bomb_warning_names_the_file(tmp_path, monkeypatch):
    root = make(tmp_path / "r", "a.png 0\nbig.png 1\n")
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(root / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.warns(ImageWarning) as caught:
        read(root)
    assert [str(w.message).split(":")[0] for w in caught] == [str(root / "big.png")]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # twice the limit: Pillow refuses; named too
    with pytest.raises(DatasetError, match=r"line 2: cannot decode image .*big.png \(DecompressionBombError"):
        read(root)


@pytest.mark.parametrize("name", ["val.txt", "classes.txt"])
def test_a_fifo_list_is_refused_never_waited_on(tmp_path, name):
    root = make(tmp_path / "r", "a.png 0\nb.png 1\n")
    (root / name).unlink(missing_ok=True)
    os.mkfifo(root / name)
    with pytest.raises(DatasetError, match=f"cannot read {root / name}: not a regular file but a FIFO"):
        read(root)


def test_the_arrays_must_fit_in_memory(tmp_path, monkeypatch):
    root = make(tmp_path / "r", "a.png 0\nb.png 1\n")
    monkeypatch.setattr("lenet.io.memory_budget.available_bytes", lambda: 500)
    with pytest.raises(DatasetError, match=r"at 8x8 \(4 images of 64 pixels\) would need 1.2 KiB of memory, "
                                           r"but only 500 bytes is available; choose a smaller input_size"):
        read(root)
