"""Image-list datasets: a folder with ``train.txt``, ``val.txt`` and ``test.txt`` naming images and labels.

The layout the reference studies used for their 50-class ImageNet subset::

    ROOT/train.txt      one image per line: ``relative/path/to/image.JPEG <label>``
    ROOT/val.txt        (paths relative to ROOT; an absolute path is taken as is)
    ROOT/test.txt
    ROOT/classes.txt    optional: one class name per line, line i naming label i-1

Lines are split on their *last* run of whitespace, so paths may contain
spaces; blank lines and lines starting with ``#`` are skipped.  Labels are
plain decimal integers from 0, in ASCII digits (``1_0``, ``+1`` and other
scripts' digits are refused).  The class count is the number of names in
``classes.txt`` when it exists, otherwise the largest training label + 1,
which may not exceed the number of training images (a label of 100,000,000
in a list of 50 images is a typo, not 100,000,001 classes).  The validation
split is ``val.txt`` itself, never a hold-out, and every class that appears in
``val.txt`` or ``test.txt`` must appear in ``train.txt``.  A relative path
that leaves ROOT through ``..`` is refused unless ``allow_outside_root`` is
given (``--allow-outside-root``); an absolute path is the user's explicit
choice and is taken as is.  List files must be regular files (a FIFO is
refused, never waited on).

Decoding.  Any format and mode Pillow reads (JPEG, PNG, BMP, GIF's first
frame, TIFF...; L, RGB, RGBA, P, CMYK, 16-bit...) is decoded in full, converted
to 8-bit grayscale (``channels=1``: Pillow's ITU-R 601-2 luma, the weights
OpenCV uses too) or RGB (``channels=3``), then resized to ``input_size`` x
``input_size`` with Pillow's bilinear filter, which antialiases when it shrinks
(its support widens with the scale, as torchvision's ``antialias=True``).  The
aspect ratio is not kept: images are squashed to a square, as in the studies.
Alpha is dropped (torchvision's loader does the same); 16-bit images (``I;16``,
and 32-bit integer ``I`` images whose values lie in 0..65535) are scaled
65535 -> 255, where Pillow's own conversion would clip them to white; other
``I`` images (negative or larger values: no standard white) are refused by
name, as are floating-point (``F``) images outside 0..1, which are scaled
1.0 -> 255.  EXIF orientation is not applied.  An image above Pillow's
decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``) is decoded with an
:class:`ImageWarning` naming the file (twice the limit is refused by Pillow,
also named).  Images are decoded by a pool of
threads, one per available core: Pillow releases the GIL while it decodes,
converts and resizes.  On 2 cores, 800 JPEGs of about 400x300 decoded to 32x32
grayscale at ~1,750-1,850 images/s with 2 threads, ~1,550-1,850 with 2
processes and ~850-990 serially (RGB: ~1,500-1,560 threads, ~1,540-1,690
processes, ~790 serial; a shared machine, so +-10%): the same rate within the
noise.  Threads use both cores (1.9 CPU-seconds per second) and need no
process start-up or pickling, so they are the default.  (OpenCV's
``INTER_LINEAR``, which some studies may have used, does not antialias: its
32x32 images of large photos alias and differ from these.)

Cache.  The decoded uint8 arrays are kept in
``$LENET_CACHE/imagelist/<folder>-<hash of ROOT>-<size>px-<gray|rgb>.npz``
(default ``~/.cache/lenet-bench/imagelist/``), written atomically, with a key
inside hashing the list files' content, ``classes.txt``, the preprocessing
(size, channels, resampling, format version) and the bytes of every image
(blake2b, read by a pool of threads: hashlib and file reads release the GIL),
so that editing a list or replacing an image rebuilds it, even an image swapped
for one of the same size and modification time (``cp -p``, a tar archive
unpacked over another).  Beside the arrays the file holds their own digest,
checked on load, so a cache file altered on disk is caught too.
Normalisation is not cached: it is done on every load, with training
statistics only (:func:`lenet.data.prepare.finish`).  A cache file that cannot
be read, does not hold what its key promises or no longer matches its digest
is rebuilt with a :class:`CacheWarning`, never trusted.

Names.  ``load_dataset("imagelist:PATH")`` gives grayscale ``(N, 1, S, S)``,
``"imagelist-rgb:PATH"`` RGB ``(N, 3, S, S)``; ``"imagelist-hist:PATH"`` is the
64-bin colour histogram of :mod:`lenet.data.features`.  The Dataset is named
``imagelist:<folder name>`` (``imagelist-rgb:...``), short for reports; the
full path is in ``Dataset.info["root"]``.
"""
from __future__ import annotations

import hashlib
import numbers
import os
import re
import warnings
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..io.atomic import atomic_path
from ..io.memory_budget import human
from ..io.paths import CacheWarning, cache_dir
from ..io.regular_file import NotRegularFile, open_regular, read_regular
from ..measure.threads import usable_cores
from .base import Dataset, DatasetError
from .prepare import finish, require_images_fit

SPLITS = ("train", "val", "test")
LIST_FILES = {split: f"{split}.txt" for split in SPLITS}
CLASSES_FILE = "classes.txt"
KINDS = {"imagelist": 1, "imagelist-rgb": 3}  # name prefix -> channels
CHANNEL_TAGS = {1: "gray", 3: "rgb"}
RESAMPLE = "bilinear"
# Bump when decoding changes in a way that alters pixels, so old caches are rebuilt.
FORMAT_VERSION = 1
HASH = "blake2b"  # of the images' bytes and of the cached arrays
# Images per pool task: large enough that task overhead is noise next to ~1-2 ms per decode,
# small enough that the progress bar moves and both workers stay busy to the end.
CHUNK = 32
# Problems listed in full in one error; the rest are counted.
MAX_LISTED = 5
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class ImageWarning(UserWarning):
    """An image that decodes, but deserves a note (a size above Pillow's decompression-bomb limit)."""


@dataclass(frozen=True)
class Entry:
    """One image of a list: its path as written, its resolved path, its label, and where it was listed."""

    text: str
    path: Path
    label: int
    list_file: Path
    line: int

    @property
    def where(self) -> str:
        return f"{self.list_file}, line {self.line}"


@dataclass(frozen=True)
class ImageList:
    """The parsed, checked lists of a root folder (no image read yet)."""

    root: Path
    entries: dict  # split -> list[Entry]
    num_classes: int
    classes: tuple | None  # names from classes.txt, or None
    contents: dict  # file name -> bytes of every list file read (train/val/test and classes.txt)


@dataclass(frozen=True)
class RawImages:
    """Decoded, unnormalised images of an image list: uint8 ``(N, C, S, S)`` splits and int64 labels.

    ``name`` is the short folder name; :meth:`finish` and the features in
    :mod:`lenet.data.features` turn it into a :class:`Dataset`.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    info: dict = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return self.x_train.shape[1]

    def finish(self, name: str | None = None) -> Dataset:
        """Normalise with the training split's per-channel statistics (reported on the 0..1 scale)."""
        kind = {c: k for k, c in KINDS.items()}[self.channels]
        return finish(name or f"{kind}:{self.name}", self.x_train, self.y_train, self.x_val, self.y_val,
                      self.x_test, self.y_test, num_classes=self.num_classes, max_value=255, info=self.info)


# --- lists ----------------------------------------------------------------------------------------

def short_name(root: str | os.PathLike) -> str:
    """The root folder's name, with anything but letters, digits, ``.``, ``_`` and ``-`` replaced by ``_``."""
    name = Path(os.path.abspath(root)).name or "root"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _read_text(path: Path, what: str) -> tuple[bytes, str]:
    try:
        data = read_regular(path)
    except FileNotFoundError:
        raise DatasetError(f"image list {path.parent}: missing {what} {path.name} (expected "
                           f"{', '.join(LIST_FILES.values())}, each line '<relative/path> <label>')") from None
    except OSError as e:
        raise DatasetError(f"image list: cannot read {path}: {e.strerror or e}") from None
    try:
        return data, data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise DatasetError(f"{path}, line {line}: not UTF-8 text ({e.reason})") from None


_LABEL = re.compile(r"[0-9]+")  # not int(): it takes "1_0", "+1", " 1" and every script's digits


def _leaves_root(text_path: str) -> bool:
    """Whether a relative list path climbs out of its root through ``..`` (checked on the text: no symlinks)."""
    if os.path.isabs(text_path):
        return False
    parts = os.path.normpath(text_path).split(os.sep)
    return parts[0] == ".."


def parse_list(path: Path, root: Path, *, allow_outside_root: bool = False) -> tuple[bytes, list[Entry]]:
    """The file's bytes and its entries; a malformed line, a label that is not a plain decimal integer, or
    (unless ``allow_outside_root``) a relative path leaving ``root`` through ``..``, is an error."""
    data, text = _read_text(path, "list file")
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.rsplit(None, 1)
        if len(parts) < 2:
            raise DatasetError(f"{path}, line {number}: expected '<relative/path> <label>', got {line!r} "
                               f"(no label)")
        text_path, label_text = parts[0].rstrip(), parts[1]
        if label_text.startswith("-") and _LABEL.fullmatch(label_text[1:]):
            raise DatasetError(f"{path}, line {number}: label {label_text} of {text_path!r} is outside 0..C-1 "
                               f"(labels start at 0)")
        if not _LABEL.fullmatch(label_text):
            raise DatasetError(f"{path}, line {number}: label {label_text!r} of {text_path!r} is not an "
                               f"integer written in the digits 0-9 (expected e.g. 0, 7, 42)")
        label = int(label_text)
        if not allow_outside_root and _leaves_root(text_path):
            raise DatasetError(f"{path}, line {number}: image path {text_path!r} leaves the dataset folder {root} "
                               f"through '..'; move the image inside it, or allow paths outside it explicitly "
                               f"(allow_outside_root=True, --allow-outside-root)")
        entries.append(Entry(text_path, root / text_path, label, path, number))
    return data, entries


def _lines_of(entries: list[Entry], labels: set) -> str:
    first = {}
    for e in entries:
        if e.label in labels:
            first.setdefault(e.label, e.line)
    return ", ".join(f"{label} (first at line {first[label]})" for label in sorted(labels))


def read_lists(root: str | os.PathLike, *, allow_outside_root: bool = False) -> ImageList:
    """Parse and check ``train.txt``, ``val.txt``, ``test.txt`` (and ``classes.txt``) of ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"image list folder {root} does not exist or is not a folder (it should hold "
                           f"{', '.join(LIST_FILES.values())})")
    contents, entries = {}, {}
    for split, filename in LIST_FILES.items():
        contents[filename], entries[split] = parse_list(root / filename, root,
                                                        allow_outside_root=allow_outside_root)
        if not entries[split]:
            raise DatasetError(f"{root / filename}: lists no images (the {split} split is empty)")

    classes = None
    classes_path = root / CLASSES_FILE
    if classes_path.exists():
        contents[CLASSES_FILE], text = _read_text(classes_path, "classes file")
        classes = tuple(line.strip() for line in text.splitlines() if line.strip())
        if not classes:
            raise DatasetError(f"{classes_path}: names no classes")
        num_classes = len(classes)
        for split in SPLITS:
            for e in entries[split]:
                if e.label >= num_classes:
                    raise DatasetError(f"{e.where}: label {e.label} of {e.text!r} is outside 0..{num_classes - 1} "
                                       f"({classes_path} names {num_classes} classes)")
    else:
        top = max(entries["train"], key=lambda e: e.label)
        num_classes = top.label + 1
        if num_classes > len(entries["train"]):
            raise DatasetError(f"{top.where}: label {top.label} of {top.text!r} implies {num_classes:,} classes "
                               f"(labels 0..{top.label}), more than the {len(entries['train']):,} training images "
                               f"listed; labels must run 0..C-1 (to declare classes without images, name them in "
                               f"{classes_path})")

    # One class is refused here, naming the file, rather than later by the network's spec.
    if num_classes < 2 and classes is not None:
        raise DatasetError(f"{classes_path}: names only 1 class ({classes[0]!r}); a classifier needs at least 2")
    if num_classes < 2:
        raise DatasetError(f"{root / LIST_FILES['train']}: every image has label 0, so there is only 1 class; a "
                           f"classifier needs at least 2 (labels 0..C-1)")

    trained = {e.label for e in entries["train"]}
    for split in ("val", "test"):
        lacking = {e.label for e in entries[split]} - trained
        if lacking:
            raise DatasetError(f"{root / LIST_FILES[split]}: {len(lacking)} class(es) that "
                               f"{root / LIST_FILES['train']} lacks: {_lines_of(entries[split], lacking)}")
    return ImageList(root, entries, num_classes, classes, contents)


# --- decoding -------------------------------------------------------------------------------------

def _scaled_to_eight_bits(im) -> np.ndarray:
    """uint8 pixels of a 16-bit, 32-bit integer or float image (see the module docstring), or a ValueError."""
    values = np.asarray(im)
    if im.mode == "F":
        if not np.isfinite(values).all():
            raise ValueError("a floating-point image (mode F) holding NaN or infinite values")
        if values.min() < 0 or values.max() > 1:
            raise ValueError(f"a floating-point image (mode F) with values {values.min():g}..{values.max():g}; "
                             f"only 0..1 (1 = white) is understood: rescale it, or save it as 8 or 16 bits")
        return np.rint(values * 255).astype(np.uint8)
    wide = values.astype(np.int64)
    if wide.min() < 0 or wide.max() > 65535:
        raise ValueError(f"a 32-bit integer image (mode {im.mode}) with values {wide.min()}..{wide.max()}; only "
                         f"0..65535 (16-bit data) is understood: save it as 8 or 16 bits")
    return ((wide * 255 + 32767) // 65535).astype(np.uint8)


def _eight_bit(im, mode: str):
    """``im`` converted to 8-bit ``mode`` ("L" or "RGB"), scaling wide images instead of clipping them."""
    from PIL import Image

    if im.mode in _SIXTEEN_BIT or im.mode == "F":
        im = Image.fromarray(_scaled_to_eight_bits(im), "L")
    elif im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")  # the direct P -> L/RGB route warns about byte transparency
    return im if im.mode == mode else im.convert(mode)


def decode_image(path: str | os.PathLike, size: int, channels: int = 1) -> np.ndarray:
    """One image as uint8 ``(channels, size, size)``: decoded, converted (see the module docstring), resized."""
    from PIL import Image

    with Image.open(path) as im:
        pixels = im.width * im.height
        if Image.MAX_IMAGE_PIXELS and pixels > Image.MAX_IMAGE_PIXELS:
            warnings.warn(f"{path}: {im.width}x{im.height} = {pixels:,} pixels, above Pillow's decompression-bomb "
                          f"limit of {Image.MAX_IMAGE_PIXELS:,} (PIL.Image.MAX_IMAGE_PIXELS); decoding it anyway "
                          f"({human(pixels * 4)} at 32 bits a pixel)", ImageWarning, stacklevel=2)
        im = _eight_bit(im, "L" if channels == 1 else "RGB")
        im = im.resize((size, size), Image.Resampling.BILINEAR)
    pixels = np.asarray(im, dtype=np.uint8)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def _decode_chunk(paths: list, size: int, channels: int) -> tuple[np.ndarray, list]:
    """Decode ``paths``; returns the stacked images and ``(index, message)`` for those that failed.

    Runs in a worker: it never raises, so the caller can name the list line of each failure.
    """
    out = np.zeros((len(paths), channels, size, size), dtype=np.uint8)
    failed = []
    for i, path in enumerate(paths):
        try:
            out[i] = decode_image(path, size, channels)
        except Exception as e:  # anything Pillow raises on a broken file: OSError, SyntaxError, ValueError...
            failed.append((i, f"{type(e).__name__}: {e}"))
    return out, failed


def decode_entries(entries: list[Entry], size: int, channels: int, *, workers: int | None = None,
                   progress: bool = True, desc: str = "decode", executor: type[Executor] = ThreadPoolExecutor
                   ) -> np.ndarray:
    """All ``entries`` as uint8 ``(N, channels, size, size)``, decoded ``CHUNK`` at a time by ``workers``.

    Every image is tried; then one :class:`DatasetError` names each image that
    could not be decoded with its list file and line.  Pillow's own
    decompression-bomb warning, which names no file, is silenced here:
    :func:`decode_image` issues one that does.
    """
    from PIL import Image

    out = np.empty((len(entries), channels, size, size), dtype=np.uint8)
    starts = range(0, len(entries), CHUNK)
    chunks = [[str(e.path) for e in entries[s:s + CHUNK]] for s in starts]
    workers = max(1, min(workers or usable_cores(), len(chunks)))
    failed = []
    with (warnings.catch_warnings(), tqdm(total=len(entries), unit="img", desc=desc, disable=not progress) as bar):
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        def take(start, result):
            images, errors = result
            out[start:start + len(images)] = images
            failed.extend((start + i, message) for i, message in errors)
            bar.update(len(images))

        if workers == 1:
            for start, paths in zip(starts, chunks):
                take(start, _decode_chunk(paths, size, channels))
        else:
            pool = executor(max_workers=workers)
            try:
                futures = [pool.submit(_decode_chunk, paths, size, channels) for paths in chunks]
                for start, future in zip(starts, futures):
                    take(start, future.result())
            finally:  # on Ctrl-C, drop the chunks not yet started instead of decoding them all
                pool.shutdown(wait=True, cancel_futures=True)
    if failed:
        failed.sort()
        listed = "; ".join(f"{entries[i].where}: cannot decode image {entries[i].path} ({message})"
                           for i, message in failed[:MAX_LISTED])
        more = f"; and {len(failed) - MAX_LISTED} more" if len(failed) > MAX_LISTED else ""
        raise DatasetError(f"{len(failed)} unreadable image(s): {listed}{more}")
    return out


# --- cache ----------------------------------------------------------------------------------------

def _image_digest(entry: Entry) -> tuple[bytes, str]:
    """``(digest of the image's bytes, "")``, or ``(b"", why it cannot be read)`` naming its list line."""
    try:
        with open_regular(entry.path) as f:
            return hashlib.file_digest(f, HASH).digest(), ""
    except NotRegularFile:
        return b"", f"{entry.where}: image {entry.text!r} at {entry.path} is not a file"
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        why = "" if isinstance(err, FileNotFoundError) else f" ({getattr(err, 'strerror', None) or err})"
        return b"", f"{entry.where}: image {entry.text!r} not found at {entry.path}{why}"


def image_digests(lists: ImageList, *, workers: int | None = None, progress: bool = False) -> bytes:
    """The digests of every listed image's bytes, in list order, concatenated; a missing image is an error."""
    everything = [e for split in SPLITS for e in lists.entries[split]]
    with (ThreadPoolExecutor(max(1, workers or usable_cores())) as pool,
          tqdm(total=len(everything), unit="img", desc=f"hash {short_name(lists.root)}", disable=not progress) as bar):
        results = []
        for result in pool.map(_image_digest, everything):
            results.append(result)
            bar.update()
    missing = [why for _, why in results if why]
    if missing:
        more = f"; and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
        raise DatasetError(f"{len(missing)} missing image(s): " + "; ".join(missing[:MAX_LISTED]) + more)
    return b"".join(digest for digest, _ in results)


def cache_key(lists: ImageList, size: int, channels: int, *, workers: int | None = None,
              progress: bool = False) -> str:
    """sha256 of the list files' content, the preprocessing, and every image's bytes (:func:`image_digests`)."""
    h = hashlib.sha256()
    h.update(f"imagelist v{FORMAT_VERSION} size={size} channels={channels} resample={RESAMPLE}\n".encode())
    for filename in sorted(lists.contents):
        data = lists.contents[filename]
        h.update(f"{filename} {len(data)}\n".encode())
        h.update(data)
    h.update(image_digests(lists, workers=workers, progress=progress))
    return h.hexdigest()


def arrays_digest(arrays: dict) -> str:
    """Digest of the decoded splits (their shapes and pixels), stored beside them and checked on load."""
    h = hashlib.new(HASH)
    for split in sorted(arrays):
        h.update(f"{split} {arrays[split].shape}\n".encode())
        h.update(np.ascontiguousarray(arrays[split]).data)
    return h.hexdigest()


def cache_path(root: str | os.PathLike, size: int, channels: int) -> Path:
    """Where the decoded arrays of ``root`` at ``size`` and ``channels`` are cached (one file per root)."""
    where = hashlib.sha256(os.path.abspath(root).encode()).hexdigest()[:12]
    return cache_dir("imagelist") / f"{short_name(root)}-{where}-{size}px-{CHANNEL_TAGS[channels]}.npz"


def _read_cache(path: Path, key: str, counts: dict, size: int, channels: int) -> dict | None:
    """The cached arrays if ``path`` holds them for ``key``; None if absent or stale; warns if corrupt."""
    if not path.exists():
        return None
    try:
        # Open the file ourselves: np.load leaks its handle when the zip is unreadable.
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            if str(f["key"][()]) != key:
                return None  # stale: a list or an image changed; rebuilt without fuss
            arrays = {split: f[f"x_{split}"] for split in SPLITS}
            digest = str(f["digest"][()])
        for split, x in arrays.items():
            if x.dtype != np.uint8 or x.shape != (counts[split], channels, size, size):
                raise ValueError(f"x_{split} is {x.dtype} {x.shape}, expected uint8 "
                                 f"{(counts[split], channels, size, size)}")
        if arrays_digest(arrays) != digest:
            raise ValueError("its pixels do not match their recorded digest (altered after it was written)")
        return arrays
    except Exception as e:  # whatever is wrong with it, a cache is rebuilt, never trusted
        warnings.warn(f"image-list cache {path} is unusable ({type(e).__name__}: {e}); rebuilding it",
                      CacheWarning, stacklevel=4)
        return None


def _write_cache(path: Path, key: str, arrays: dict) -> None:
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, key=np.array(key), digest=np.array(arrays_digest(arrays)),
                     **{f"x_{split}": x for split, x in arrays.items()})
    except OSError as e:
        warnings.warn(f"cannot write image-list cache {path} ({e.strerror or e}); continuing without it",
                      CacheWarning, stacklevel=4)


# --- loading --------------------------------------------------------------------------------------

def read_imagelist(root: str | os.PathLike, *, input_size: int = 32, channels: int = 1, cache: bool = True,
                   progress: bool = True, workers: int | None = None, allow_outside_root: bool = False
                   ) -> RawImages:
    """The image list at ``root`` decoded to uint8 ``(N, channels, input_size, input_size)``, unnormalised.

    ``channels`` is 1 (grayscale) or 3 (RGB).  With ``cache``, the arrays are
    read from or written to the cache described in the module docstring.
    ``workers`` decoding threads (default: one per available core).  ``allow_outside_root`` admits
    relative paths that leave ``root`` through ``..``.  The arrays must fit in memory (checked before decoding).
    """
    if channels not in CHANNEL_TAGS:
        raise DatasetError(f"image list {root}: channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    if isinstance(input_size, bool) or not isinstance(input_size, numbers.Integral) or input_size < 1:
        raise DatasetError(f"image list {root}: input_size must be a positive integer, got {input_size!r}")
    input_size = int(input_size)
    root = Path(root).expanduser()
    lists = read_lists(root, allow_outside_root=allow_outside_root)
    counts = {split: len(lists.entries[split]) for split in SPLITS}
    # uint8 pixels now, float32 once normalised: 5 bytes a pixel at the peak.
    require_images_fit(f"image list {root} at {input_size}x{input_size}", sum(counts.values()),
                       channels * input_size ** 2, 5)
    key = cache_key(lists, input_size, channels, workers=workers, progress=progress)  # a missing image fails here
    path = cache_path(root, input_size, channels)
    arrays = _read_cache(path, key, counts, input_size, channels) if cache else None
    cached = arrays is not None
    if not cached:
        everything = [e for split in SPLITS for e in lists.entries[split]]
        pixels = decode_entries(everything, input_size, channels, workers=workers, progress=progress,
                                desc=f"decode {short_name(root)} ({CHANNEL_TAGS[channels]}, {input_size}px)")
        bounds = np.cumsum([0] + [counts[split] for split in SPLITS])
        arrays = {split: pixels[bounds[i]:bounds[i + 1]] for i, split in enumerate(SPLITS)}
        if cache:
            _write_cache(path, key, arrays)

    labels = {split: np.array([e.label for e in lists.entries[split]], dtype=np.int64) for split in SPLITS}
    info = {"root": str(root.resolve()), "input_size": input_size, "channels": channels, "resample": RESAMPLE,
            "lists": {split: str(root / LIST_FILES[split]) for split in SPLITS},
            "cache": str(path) if cache else None, "cached": cached}
    if lists.classes is not None:
        info["classes"] = list(lists.classes)
    return RawImages(short_name(root), arrays["train"], labels["train"], arrays["val"], labels["val"],
                     arrays["test"], labels["test"], lists.num_classes, info)


def load_imagelist(root: str | os.PathLike, *, input_size: int = 32, channels: int = 1, cache: bool = True,
                   progress: bool = True, workers: int | None = None, allow_outside_root: bool = False) -> Dataset:
    """The image list at ``root`` as a :class:`Dataset`: float32 ``(N, channels, input_size, input_size)``
    normalised per channel with the training split's statistics; validation is ``val.txt``.
    """
    return read_imagelist(root, input_size=input_size, channels=channels, cache=cache, progress=progress,
                          workers=workers, allow_outside_root=allow_outside_root).finish()
