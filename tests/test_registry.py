"""The backend registry: lookup by name, a clear error when a framework is missing, the shared contract."""
from __future__ import annotations

import importlib.util
import sys

import pytest

from lenet import backends
from lenet.backends import BACKENDS, BackendUnavailable, available_backends, get_backend, is_available

CONTRACT = ("build", "trainer", "train", "predict", "get_weights", "set_weights", "save", "load",
            "set_threads", "thread_counts", "versions", "devices")
MEASUREMENT = ("make_forward", "count_flops", "reset_peak_memory", "peak_memory")


@pytest.mark.parametrize("name", ["handcrafted", "torch", "keras"])
def test_backend_offers_the_measurement_hooks(name):
    """make_forward, count_flops, reset_peak_memory, peak_memory: used by lenet.measure.probe and bench/."""
    from lenet.testing import require_backend

    require_backend(name)
    module = get_backend(name)
    missing = [f for f in MEASUREMENT if not callable(getattr(module, f, None))]
    assert not missing, f"{name} lacks {missing}"


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown backend 'jax'.*handcrafted.*torch.*keras"):
        get_backend("jax")
    assert not is_available("jax")


@pytest.mark.parametrize("name, framework, extra", [("torch", "torch", "torch"), ("keras", "tensorflow", "tf")])
def test_missing_framework_via_find_spec(monkeypatch, name, framework, extra):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda mod, *a, **k: None if mod == framework else real(mod, *a, **k))
    assert not is_available(name)
    assert name not in available_backends()
    with pytest.raises(BackendUnavailable, match=rf"needs {framework}.*pip install 'lenet-bench\[{extra}\]'"):
        get_backend(name)


@pytest.mark.parametrize("name, framework, extra", [("torch", "torch", "torch"), ("keras", "tensorflow", "tf")])
def test_missing_framework_via_sys_modules(monkeypatch, name, framework, extra):
    # a None entry in sys.modules is how Python marks a module as not importable
    monkeypatch.setitem(sys.modules, framework, None)
    with pytest.raises(BackendUnavailable, match=rf"pip install 'lenet-bench\[{extra}\]'") as info:
        get_backend(name)
    assert isinstance(info.value, ImportError)  # callers may catch ImportError


def test_handcrafted_needs_no_extra():
    assert is_available("handcrafted")


def test_backend_offers_the_contract(backend_name):
    module = get_backend(backend_name)
    missing = [f for f in CONTRACT if not callable(getattr(module, f, None))]
    assert not missing, f"{backend_name} lacks {missing}"
    assert "cpu" in module.devices()
    assert module in backends.loaded_backends()
    versions = module.versions()
    assert isinstance(versions, dict) and versions


@pytest.mark.parametrize("name", ["torch", "keras"])
def test_thread_knob_reports_values_in_force(name):
    from lenet.testing import require_backend

    require_backend(name)
    module = get_backend(name)
    counts = module.thread_counts()
    assert counts and all(isinstance(v, int) and v >= 1 for v in counts.values()), counts
    # asking again, or for a count the framework can no longer change, never crashes
    module.set_threads(1)
    module.set_threads(max(counts.values()) + 1)
    module.set_threads(counts[next(iter(counts))])
    assert all(v >= 1 for v in module.thread_counts().values())
    with pytest.raises(ValueError, match="thread count"):
        module.set_threads(0)


def test_backends_do_not_import_each_other():
    """Each backend module imports only its own framework (read from the source, no import needed)."""
    import ast
    from pathlib import Path

    root = Path(backends.__file__).parent
    files = {"torch": [root / "torch_backend.py"], "keras": [root / "keras_backend.py"],
             "handcrafted": sorted((root / "handcrafted").glob("*.py"))}
    foreign = {"torch": {"tensorflow", "keras", "lenet.backends.keras_backend", "lenet.backends.handcrafted"},
               "keras": {"torch", "lenet.backends.torch_backend", "lenet.backends.handcrafted"},
               "handcrafted": {"torch", "tensorflow", "keras"}}
    for name in BACKENDS:
        package = "lenet.backends.handcrafted" if name == "handcrafted" else "lenet.backends"
        for path in files[name]:
            imported = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imported |= {a.name for a in node.names}
                elif isinstance(node, ast.ImportFrom):
                    base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
                        if node.level else node.module
                    imported |= {base} | {f"{base}.{a.name}" for a in node.names}
            bad = {m for m in imported for f in foreign[name] if m == f or m.startswith(f + ".")}
            assert not bad, f"{path.name} imports {sorted(bad)}"
