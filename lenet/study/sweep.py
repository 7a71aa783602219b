"""Study E's sweep: MLPs of one and two hidden layers against LeNet-5 (MNIST in the study).

The study lists 20 one-hidden-layer widths and 10 two-hidden-layer shapes
(its text says "25 MLPs"; its own lists hold 30, and we run all 30).  MLPs see
the flattened 28x28 image; LeNet-5 sees it zero-padded to 32x32, as in the
study.  ``quick`` is a subset spanning small to large that fits CI.  A profile names its sweep
(:attr:`lenet.study.profiles.Profile.sweep`).
"""
from __future__ import annotations

from ..spec import Arch, lenet5, mlp

ONE_HIDDEN = (30, 60, 90, 100, 120, 150, 180, 200, 210, 240, 270, 300, 400, 512, 1024, 2058, 4096, 8192,
              16384, 32768)  # 2058 (not 2048) is the study's own figure
TWO_HIDDEN = ((100, 30), (200, 70), (300, 100), (400, 130), (512, 256), (1024, 512), (2048, 1024),
              (4096, 2048), (8192, 4096), (16384, 8192))

SWEEPS = {
    "quick": ((30,), (100,), (512,), (100, 30), (512, 256)),
    "full": tuple((h,) for h in ONE_HIDDEN) + TWO_HIDDEN,
}

MLP_INPUT_SIZE = 28
LENET_INPUT_SIZE = 32


def sweep_archs(sweep: str, num_classes: int, channels: int = 1) -> list[tuple[str, Arch]]:
    """``[(label, arch)]``: the sweep's MLPs (28x28 input), then LeNet-5 (32x32)."""
    if sweep not in SWEEPS:
        raise ValueError(f"unknown MLP sweep {sweep!r}; choose one of {sorted(SWEEPS)}")
    out = [(f"mlp-{'x'.join(map(str, h))}", mlp(h, (channels, MLP_INPUT_SIZE, MLP_INPUT_SIZE), num_classes))
           for h in SWEEPS[sweep]]
    out.append(("lenet5", lenet5(num_classes=num_classes, in_channels=channels, input_size=LENET_INPUT_SIZE)))
    return out
