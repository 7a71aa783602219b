"""Test helpers shared by tests/ and bench/ (imports pytest lazily)."""
from __future__ import annotations

from .backends import install_hint, is_available


def require_backend(name: str) -> None:
    """Skip the calling test when ``name``'s framework is not installed, naming the extra to install."""
    if not is_available(name):
        import pytest

        pytest.skip(f"backend {name!r} not installed: {install_hint(name)}")
