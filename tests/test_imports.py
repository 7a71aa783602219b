"""Each library module imports on its own, first, in a fresh interpreter: no import cycle hides behind import order.

The framework backends' own modules are left out (their imports are torch's and TF's, seconds each); the
registry ``lenet.backends`` is in.
"""
import pkgutil
import subprocess
import sys

import pytest

import lenet

MODULES = [m.name for m in pkgutil.walk_packages(lenet.__path__, "lenet.")
           if not m.name.startswith("lenet.backends.") and not m.name.endswith("__main__")]


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_first_in_a_fresh_process(name):
    proc = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
