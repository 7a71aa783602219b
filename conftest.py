"""Shared by tests/ and bench/: quiet TensorFlow, and skip by missing framework with a reason."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

from lenet.backends import BACKENDS, is_available  # noqa: E402

_EXTRA = {"torch": "torch", "keras": "tf"}


def require_backend(name: str) -> None:
    """Skip the calling test when ``name``'s framework is not installed, saying which extra is missing."""
    if not is_available(name):
        pytest.skip(f"backend {name!r} not installed: pip install 'lenet-bench[{_EXTRA.get(name, name)}]'")


@pytest.fixture(params=BACKENDS)
def backend_name(request) -> str:
    require_backend(request.param)
    return request.param
