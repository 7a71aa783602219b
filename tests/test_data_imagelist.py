"""Image-list datasets on disk: formats and modes, the contract, the cache, every bad input, 50 classes, training."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lenet.data import PATH_DATASETS, DatasetError, imagelist, load_dataset
from lenet.data.imagelist import cache_path, decode_image, load_imagelist, read_imagelist
from lenet.io.paths import CacheWarning


@pytest.fixture(autouse=True)
def isolated_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("LENET_CACHE", str(tmp_path / "cache"))


def save(path: Path, pixels: np.ndarray, mode: str | None = None, **kw) -> Path:
    """Write ``pixels`` (H, W) or (H, W, C) uint8 as an image, converted to ``mode``, format from the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(pixels)
    if mode == "P":
        im = im.convert("RGB").quantize(16)
    elif mode:
        im = im.convert(mode)
    im.save(path, **kw)
    return path


def write_lists(root: Path, splits: dict[str, list[tuple[str, object]]]) -> Path:
    """``splits``: split name -> (relative path, label) rows, written as ``<split>.txt``."""
    root.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        (root / f"{split}.txt").write_text("".join(f"{p} {label}\n" for p, label in rows))
    return root


# Mixed sizes, modes and formats: each class is a brightness level, so labels can be checked from pixels.
MIXED = [  # (relative path, size (w, h), mode, format suffix)
    ("a/img0.png", (40, 30), "L", ".png"),
    ("a/img1.jpg", (50, 60), "RGB", ".JPEG"),
    ("b/img2.png", (20, 20), "RGBA", ".png"),
    ("b/img3.bmp", (33, 17), "RGB", ".bmp"),
    ("c/img4.png", (64, 64), "P", ".png"),
    ("c/with space 5.bmp", (9, 70), "L", ".bmp"),
]
LEVELS = (40, 130, 220)


@pytest.fixture
def mixed(tmp_path) -> Path:
    """A 3-class list: 6 training images of mixed formats, 3 validation, 3 test."""
    root = tmp_path / "mixed set"
    rng = np.random.default_rng(0)
    rows = {"train": [], "val": [], "test": []}
    for i, (rel, (w, h), mode, suffix) in enumerate(MIXED):
        label = i // 2
        pixels = np.clip(LEVELS[label] + rng.integers(-10, 10, (h, w, 3)), 0, 255).astype(np.uint8)
        rel = rel.rsplit(".", 1)[0] + suffix
        save(root / rel, pixels, mode)
        rows["train"].append((rel, label))
    for split in ("val", "test"):
        for label, level in enumerate(LEVELS):
            rel = f"{split}/{label}.png"
            save(root / rel, np.full((24, 24, 3), level, np.uint8), "RGB")
            rows[split].append((rel, label))
    return write_lists(root, rows)


# --- the contract ---------------------------------------------------------------------------------

def test_mixed_formats_load_as_the_dataset_contract(mixed):
    data = load_dataset(f"imagelist:{mixed}", progress=False)
    assert data.name == "imagelist:mixed_set" and data.info["root"] == str(mixed.resolve())
    assert data.num_classes == 3 and data.sizes() == {"train": 6, "val": 3, "test": 3}
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val), (data.x_test, data.y_test)):
        assert x.dtype == np.float32 and x.flags.c_contiguous and x.shape[1:] == (1, 32, 32)
        assert y.dtype == np.int64
    assert data.y_train.tolist() == [0, 0, 1, 1, 2, 2] and data.y_val.tolist() == [0, 1, 2]
    # Normalised with training statistics only: train is standard, val/test use the same mean and std.
    np.testing.assert_allclose(data.x_train.mean(dtype=np.float64), 0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(dtype=np.float64), 1, atol=1e-5)
    mean, std = data.mean[0] * 255, data.std[0] * 255
    raw_val = np.stack([decode_image(mixed / "val" / f"{c}.png", 32) for c in range(3)]).astype(np.float32)
    np.testing.assert_allclose(data.x_val, (raw_val - mean) / std, rtol=1e-5, atol=1e-5)
    # Each class's brightness survives decoding, whatever the file's mode and format.
    brightness = data.x_train.mean(axis=(1, 2, 3)) * std + mean
    np.testing.assert_allclose(brightness, np.repeat(LEVELS, 2), atol=6)


def test_rgb_kind_and_input_size(mixed):
    rgb = load_dataset(f"imagelist-rgb:{mixed}", input_size=16, progress=False)
    assert rgb.name == "imagelist-rgb:mixed_set" and rgb.input_shape == (3, 16, 16) and len(rgb.mean) == 3
    np.testing.assert_allclose(rgb.x_train.mean(axis=(0, 2, 3), dtype=np.float64), 0, atol=1e-5)
    same = load_imagelist(mixed, input_size=16, channels=3, progress=False)
    np.testing.assert_array_equal(rgb.x_test, same.x_test)


def test_a_relative_path_is_taken_from_data_dir(mixed):
    data = load_dataset("imagelist:mixed set", data_dir=mixed.parent, progress=False)
    assert data.info["root"] == str(mixed.resolve())


def test_conversions_of_modes_are_the_usual_ones(tmp_path):
    colour = np.zeros((6, 8, 3), np.uint8)
    colour[:] = (200, 100, 50)
    luma = round(200 * 0.299 + 100 * 0.587 + 50 * 0.114)  # ITU-R 601-2, as Pillow and OpenCV
    assert (decode_image(save(tmp_path / "c.png", colour), 4) == luma).all()
    assert decode_image(save(tmp_path / "c.bmp", colour), 4, 3)[:, 0, 0].tolist() == [200, 100, 50]
    rgba = np.dstack([colour, np.zeros((6, 8), np.uint8)])  # fully transparent: alpha is dropped
    assert decode_image(save(tmp_path / "a.png", rgba), 4, 3)[:, 1, 2].tolist() == [200, 100, 50]
    assert decode_image(save(tmp_path / "p.gif", colour, "P"), 4, 3)[:, 0, 0].tolist() == [200, 100, 50]
    cmyk = decode_image(save(tmp_path / "k.jpg", colour, "CMYK", quality=100), 4, 3)
    np.testing.assert_allclose(cmyk[:, 0, 0], [200, 100, 50], atol=3)
    # 16-bit grayscale is scaled to 8 bits (Pillow's own conversion would clip it to white).
    wide = Image.fromarray(np.full((5, 5), 32896, np.uint16))
    wide.save(tmp_path / "w.png")
    with Image.open(tmp_path / "w.png") as im:
        assert im.mode == "I;16"
    assert (decode_image(tmp_path / "w.png", 3) == 128).all()


def test_lines_allow_spaces_comments_blank_lines_crlf_and_a_bom(tmp_path):
    root = tmp_path / "odd"
    for name in ("my cat.png", "dog.png"):
        save(root / "pics" / name, np.full((4, 4), 9, np.uint8))
    text = "\ufeff# a comment\r\n\r\n  pics/my cat.png \t 1  \r\npics/dog.png 0\r\n"
    for split in ("train", "val", "test"):
        (root / f"{split}.txt").write_text(text, encoding="utf-8")
    data = load_dataset(f"imagelist:{root}", progress=False)
    assert data.y_train.tolist() == [1, 0] and data.num_classes == 2


def test_classes_file_sets_the_class_count(mixed):
    (mixed / "classes.txt").write_text("\n".join(f"n0{i} thing {i}" for i in range(5)) + "\n")
    data = load_dataset(f"imagelist:{mixed}", progress=False)
    assert data.num_classes == 5 and data.info["classes"][4] == "n04 thing 4"


def test_fifty_classes_flow_through(tmp_path):
    root = tmp_path / "fifty"
    rows = {"train": [], "val": [], "test": []}
    rng = np.random.default_rng(1)
    for label in range(50):
        for split, count in (("train", 2), ("val", 1), ("test", 1)):
            for k in range(count):
                rel = f"n{label:02d}/{split}{k}.png"
                save(root / rel, rng.integers(0, 256, (6 + k, 7, 3), dtype=np.uint8))
                rows[split].append((rel, label))
    write_lists(root, rows)
    data = load_dataset(f"imagelist:{root}", progress=False)
    assert data.num_classes == 50
    assert data.x_train.shape == (100, 1, 32, 32) and data.x_val.shape == (50, 1, 32, 32)
    assert data.x_test.dtype == np.float32 and data.y_test.dtype == np.int64
    assert np.array_equal(np.bincount(data.y_train), np.full(50, 2))
    assert data.y_test.tolist() == list(range(50))


def test_threads_decode_what_one_worker_decodes(mixed):
    one = read_imagelist(mixed, workers=1, cache=False, progress=False)
    many = read_imagelist(mixed, workers=3, cache=False, progress=False)
    np.testing.assert_array_equal(one.x_train, many.x_train)
    assert one.x_train.dtype == np.uint8


# --- cache ----------------------------------------------------------------------------------------

@pytest.fixture
def decodes(monkeypatch):
    """Counts the images decoded (the cache is bypassed only when this grows)."""
    count = []
    real = imagelist.decode_entries

    def counting(entries, *args, **kw):
        count.append(len(entries))
        return real(entries, *args, **kw)

    monkeypatch.setattr(imagelist, "decode_entries", counting)
    return count


def test_second_load_hits_the_cache(mixed, decodes, monkeypatch):
    first = load_dataset(f"imagelist:{mixed}", progress=False)
    path = cache_path(mixed, 32, 1)
    assert decodes == [12] and path.is_file() and first.info["cache"] == str(path)
    assert path.parent == Path(os.environ["LENET_CACHE"]) / "imagelist"

    def broken(*args, **kw):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(imagelist, "decode_entries", broken)
    second = load_dataset(f"imagelist:{mixed}", progress=False)
    assert second.info["cached"] and not first.info["cached"]
    for a, b in ((first.x_train, second.x_train), (first.x_val, second.x_val), (first.x_test, second.x_test)):
        np.testing.assert_array_equal(a, b)


def test_cache_is_per_size_and_channels_and_optional(mixed, decodes):
    for size, kind in ((32, "imagelist"), (16, "imagelist"), (32, "imagelist-rgb"), (32, "imagelist")):
        load_dataset(f"{kind}:{mixed}", input_size=size, progress=False)
    assert len(decodes) == 3 and len(list(cache_path(mixed, 32, 1).parent.iterdir())) == 3
    read_imagelist(mixed, cache=False, progress=False)
    assert len(decodes) == 4


def test_editing_a_list_invalidates_the_cache(mixed, decodes):
    load_dataset(f"imagelist:{mixed}", progress=False)
    text = (mixed / "test.txt").read_text().splitlines()
    (mixed / "test.txt").write_text("\n".join(text[::-1]) + "\n")  # same images, another order
    data = load_dataset(f"imagelist:{mixed}", progress=False)
    assert len(decodes) == 2 and data.y_test.tolist() == [2, 1, 0]
    assert not data.info["cached"]


def test_replacing_an_image_invalidates_the_cache(mixed, decodes):
    before = load_dataset(f"imagelist:{mixed}", progress=False)
    image = mixed / "test" / "0.png"
    st = image.stat()
    save(image, np.full((24, 24, 3), 255, np.uint8), "RGB")
    os.utime(image, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a distinct mtime even on coarse clocks
    after = load_dataset(f"imagelist:{mixed}", progress=False)
    assert len(decodes) == 2
    assert after.x_test[0].mean() > before.x_test[0].mean() + 1


def test_an_image_swapped_for_one_of_the_same_size_and_mtime_invalidates_the_cache(mixed, decodes):
    # As `cp -p` or a tar archive unpacked over another leaves it: only the bytes differ.
    before = load_dataset(f"imagelist:{mixed}", progress=False)
    image = mixed / "b" / "img3.bmp"  # an uncompressed BMP: other pixels, the same file size
    st = image.stat()
    save(image, np.full((17, 33, 3), 255, np.uint8), "RGB")
    os.utime(image, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (image.stat().st_size, image.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    after = load_dataset(f"imagelist:{mixed}", progress=False)
    assert len(decodes) == 2 and not after.info["cached"]
    assert after.x_train[3].mean() > before.x_train[3].mean() + 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "npy not npz", "wrong shape", "no key",
                                    "pixels altered", "no digest"])
def test_a_corrupt_cache_is_rebuilt_with_a_warning(mixed, decodes, damage):
    good = load_dataset(f"imagelist:{mixed}", progress=False)
    path = cache_path(mixed, 32, 1)
    if damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "npy not npz":
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    else:
        with np.load(path) as f:
            arrays = dict(f)
        if damage == "wrong shape":
            arrays["x_val"] = arrays["x_val"][:, :, :16]
        elif damage == "pixels altered":  # format, key and shapes intact: only the digest can tell
            arrays["x_val"] = 255 - arrays["x_val"]
        else:
            del arrays["key" if damage == "no key" else "digest"]
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    with pytest.warns(CacheWarning, match=re.escape(str(path)) + r" is unusable .*; rebuilding it"):
        again = load_dataset(f"imagelist:{mixed}", progress=False)
    assert len(decodes) == 2
    np.testing.assert_array_equal(good.x_val, again.x_val)
    assert load_dataset(f"imagelist:{mixed}", progress=False).info["cached"]  # repaired, no warning


# --- bad input ------------------------------------------------------------------------------------

def corrupt(root: Path, case: str) -> str:
    """Damage the ``mixed`` list as ``case`` says; return the start of the expected message (a regex)."""
    train = root / "train.txt"
    lines = train.read_text().splitlines()
    if case == "missing image":
        lines[2] = "b/gone.png 1"
        train.write_text("\n".join(lines) + "\n")
        return re.escape(f"{train}, line 3: image 'b/gone.png' not found at {root / 'b' / 'gone.png'}")
    if case == "corrupt image":
        (root / "b" / "img2.png").write_bytes(b"\x89PNG\r\n\x1a\n but then rubbish")
        return re.escape(f"{train}, line 3: cannot decode image {root / 'b' / 'img2.png'} (")
    if case == "truncated image":
        jpeg = root / "a" / "img1.JPEG"
        jpeg.write_bytes(jpeg.read_bytes()[:300])
        return re.escape(f"{train}, line 2: cannot decode image {jpeg} (")
    if case == "label not an integer":
        lines[1] = "a/img1.JPEG 1.0"
        train.write_text("\n".join(lines) + "\n")
        return re.escape(f"{train}, line 2: label '1.0' of 'a/img1.JPEG' is not an integer")
    if case == "negative label":
        lines[0] = "a/img0.png -1"
        train.write_text("\n".join(lines) + "\n")
        return re.escape(f"{train}, line 1: label -1 of 'a/img0.png' is outside 0..C-1")
    if case == "no label":
        lines[4] = "c/img4.png"
        train.write_text("\n".join(lines) + "\n")
        return re.escape(f"{train}, line 5: expected '<relative/path> <label>', got 'c/img4.png' (no label)")
    if case == "missing list":
        (root / "val.txt").unlink()
        return re.escape(f"image list {root}: missing list file val.txt")
    if case == "empty split":
        (root / "test.txt").write_text("# nothing yet\n\n")
        return re.escape(f"{root / 'test.txt'}: lists no images (the test split is empty)")
    if case == "unseen classes":
        (root / "val.txt").write_text("val/0.png 0\nval/1.png 7\nval/2.png 4\nval/0.png 7\n")
        return re.escape(f"{root / 'val.txt'}: 2 class(es) that {train} lacks: 4 (first at line 3), "
                         f"7 (first at line 2)")
    if case == "label beyond classes.txt":
        (root / "classes.txt").write_text("zero\none\n")
        return re.escape(f"{train}, line 5: label 2 of 'c/img4.png' is outside 0..1 "
                         f"({root / 'classes.txt'} names 2 classes)")
    if case == "not utf-8":
        train.write_bytes(b"a/img0.png 0\na/\xff.png 1\n")
        return re.escape(f"{train}, line 2: not UTF-8 text")
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing image", "corrupt image", "truncated image", "label not an integer",
                                  "negative label", "no label", "missing list", "empty split", "unseen classes",
                                  "label beyond classes.txt", "not utf-8"])
def test_bad_input_is_named_with_file_and_line(mixed, case):
    expected = corrupt(mixed, case)
    with pytest.raises(DatasetError, match="^(1 (missing|unreadable) image\\(s\\): )?" + expected) as info:
        load_dataset(f"imagelist:{mixed}", progress=False)
    error = info.value  # raised afresh: no traceback from inside Pillow or NumPy comes with it
    assert error.__cause__ is None and (error.__suppress_context__ or error.__context__ is None)


def test_many_missing_images_are_counted_not_all_listed(mixed):
    (mixed / "train.txt").write_text("".join(f"gone/{i}.png {i % 3}\n" for i in range(8)))
    with pytest.raises(DatasetError, match=r"^8 missing image\(s\): .*line 5: .*; and 3 more$"):
        load_dataset(f"imagelist:{mixed}", progress=False)


def test_bad_names_and_options(tmp_path, mixed):
    assert PATH_DATASETS == ("imagelist", "imagelist-rgb", "imagelist-hist")
    with pytest.raises(DatasetError, match=re.escape("dataset 'imagelist' needs a folder: imagelist:PATH")):
        load_dataset("imagelist")
    with pytest.raises(DatasetError, match=re.escape("image list folder " + str(tmp_path / "nowhere"))):
        load_dataset(f"imagelist-rgb:{tmp_path / 'nowhere'}")
    with pytest.raises(DatasetError, match="the validation split is the list's val.txt"):
        load_dataset(f"imagelist:{mixed}", val_fraction=0.1)
    with pytest.raises(DatasetError, match="channels must be 1 .grayscale. or 3 .RGB., got 2"):
        read_imagelist(mixed, channels=2)
    with pytest.raises(DatasetError, match="choose from .*imagelist:PATH, imagelist-rgb:PATH, imagelist-hist:PATH"):
        load_dataset("imagelists:x")


# --- end to end -----------------------------------------------------------------------------------

def test_handcrafted_lenet5_trains_on_an_image_list(tmp_path):
    from lenet.backends import get_backend
    from lenet.spec import lenet5
    from lenet.training import TrainConfig

    root = tmp_path / "bars"
    rng = np.random.default_rng(2)
    rows = {"train": [], "val": [], "test": []}
    for split, per_class in (("train", 24), ("val", 4), ("test", 4)):
        for i in range(per_class * 3):
            label = i % 3  # horizontal bars, vertical bars, or a blob; sizes and formats vary
            h, w = rng.integers(24, 48, 2)
            pixels = rng.integers(0, 60, (h, w), dtype=np.uint8)
            if label == 0:
                pixels[::6] = 250
            elif label == 1:
                pixels[:, ::6] = 250
            else:
                pixels[h // 4:3 * h // 4, w // 4:3 * w // 4] = 250
            rel = f"{split}/{i}" + (".png", ".bmp", ".JPEG")[i % 3 // 2 + (i % 2)]
            save(root / rel, pixels)
            rows[split].append((rel, label))
    data = load_dataset(f"imagelist:{write_lists(root, rows)}", progress=False)

    backend = get_backend("handcrafted")
    model = backend.build(lenet5(num_classes=data.num_classes, activation="relu"), seed=0)
    history = backend.train(model, data, TrainConfig(epochs=2, batch_size=8, optimizer="adam", lr=3e-3),
                            progress=False)
    assert len(history.epochs) == 2 and np.isfinite(history.last()["train_loss"])
    logits = backend.predict(model, data.x_test)
    assert logits.shape == (12, 3)
    assert (logits.argmax(1) == data.y_test).mean() >= 0.75
