"""Seeded weight initialisation shared by every backend.

PyTorch's default for ``Conv2d`` and ``Linear`` is ``kaiming_uniform_(a=sqrt(5))``
for weights, which works out to U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the
same bound for biases.  We draw from that distribution with NumPy so that a
seed gives bit-identical starting weights in every backend.
"""
from __future__ import annotations

import numpy as np

from .spec import Arch


def init_weights(arch: Arch, seed: int = 0) -> dict[str, np.ndarray]:
    """Canonical float32 weights for ``arch``; see :meth:`Arch.weight_shapes`."""
    rng = np.random.default_rng(seed)
    out = {}
    shapes = arch.weight_shapes()
    for name, shape in shapes.items():
        w_shape = shapes[name.replace(".bias", ".weight")]
        # fan_in: conv (in * k * k), dense (in)
        fan_in = int(np.prod(w_shape[1:])) if len(w_shape) == 4 else w_shape[0]
        bound = 1.0 / np.sqrt(fan_in)
        out[name] = rng.uniform(-bound, bound, size=shape).astype(np.float32)
    return out
