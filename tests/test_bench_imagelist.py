"""A user's own image list through the bench, end to end: decode, train, gate, time, save."""
import numpy as np
import pytest
from PIL import Image

from lenet.io.history import load_run

pytestmark = pytest.mark.slow

FORMATS = (("L", ".png"), ("RGB", ".JPEG"), ("RGBA", ".png"), ("RGB", ".bmp"))


def make_imagelist(root, per_class=(100, 10, 10), levels=(40, 130, 220)):
    """Three classes told apart by brightness, images of mixed sizes, modes and formats."""
    rng = np.random.default_rng(0)
    for split, n in zip(("train", "val", "test"), per_class):
        lines = []
        for label, level in enumerate(levels):
            for i in range(n):
                mode, suffix = FORMATS[i % len(FORMATS)]
                h, w = rng.integers(12, 60, size=2)
                pixels = np.clip(level + rng.integers(-25, 25, (h, w, 3)), 0, 255).astype(np.uint8)
                rel = f"{split}/c{label}/img{i}{suffix}"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).convert(mode).save(root / rel)
                lines.append(f"{rel} {label}\n")
        (root / f"{split}.txt").write_text("".join(lines))
    return root


def test_quick_bench_runs_on_an_image_list(tmp_path, bench, monkeypatch):
    monkeypatch.setenv("LENET_CACHE", str(tmp_path / "cache"))
    root = make_imagelist(tmp_path / "my images")
    proc = bench(tmp_path, "--dataset", f"imagelist:{root}", "--backends", "handcrafted", "--epochs", "10",
                 "--benchmark-autosave", "-k", "accuracy or inference")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    run = load_run(next((tmp_path / "storage").rglob("*.json")))
    acc = [b for b in run.benchmarks if b["group"] == "accuracy"]
    assert len(acc) == 1 and acc[0]["extra_info"]["dataset"].startswith("imagelist:my_images")
    assert acc[0]["extra_info"]["num_classes"] == 3
    assert acc[0]["extra_info"]["test_top1"] >= 2 / 3  # the gate for a dataset without a table entry
    assert {b["extra_info"]["batch_size"] for b in run.benchmarks if b["group"].startswith("inference")} == {
        1, 64, 1024}
