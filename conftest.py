"""Shared by tests/ and bench/: quiet TensorFlow, and skip by missing framework with a reason."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

from lenet.testing import require_backend  # noqa: E402

__all__ = ["require_backend"]
