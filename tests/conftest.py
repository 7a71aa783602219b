"""Unit-test fixtures."""
import pytest

from lenet.backends import BACKENDS
from lenet.testing import require_backend


@pytest.fixture(params=BACKENDS)
def backend_name(request) -> str:
    """Each backend in turn, skipped with the extra to install when its framework is missing."""
    require_backend(request.param)
    return request.param
