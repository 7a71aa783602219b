"""The backend registry: lookup by name, a clear error when a framework is missing, the shared contract."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from lenet import backends
from lenet.backends import (
    BACKENDS,
    Backend,
    BackendUnavailable,
    Capabilities,
    available_backends,
    capabilities,
    get_backend,
    is_available,
)


@pytest.mark.parametrize("name", BACKENDS)
def test_every_backend_declares_its_capabilities_without_importing_its_framework(name):
    caps = capabilities(name)
    assert isinstance(caps, Capabilities) and caps.infer_modes and "cpu" in caps.devices
    assert caps.trains == bool(caps.train_modes)
    assert caps.trains or caps.weights_from in BACKENDS and capabilities(caps.weights_from).trains
    # every phase it runs names its tuned mode (docs/tuned-modes.md), one of the modes it declares
    assert set(caps.tuned) == {p for p in ("train", "infer") if caps.modes(p)}
    assert all(caps.tuned_mode(p) == caps.tuned[p] in caps.modes(p) for p in caps.tuned)
    code = (f"import sys, lenet.backends as b; b.capabilities({name!r}); print(sorted(m for m in "
            "('torch', 'tensorflow', 'onnxruntime', 'onnx', 'jax', 'optax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_tuned_mode_must_be_declared_and_a_phase_without_one_runs_its_default():
    caps = Capabilities(framework="numpy", extra=None, infer_modes=("eager", "fast"), train_modes=("eager",),
                        tuned={"infer": "fast"})
    assert (caps.default_mode("infer"), caps.tuned_mode("infer")) == ("eager", "fast")
    assert caps.tuned_mode("train") == caps.default_mode("train") == "eager"
    assert Capabilities(framework="numpy", extra=None, infer_modes=("all",)).tuned_mode("train") is None
    with pytest.raises(ValueError, match=r"tuned infer mode 'xla' is not one of the declared \('eager', 'fast'\)"):
        Capabilities(framework="numpy", extra=None, infer_modes=("eager", "fast"), tuned={"infer": "xla"})


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown backend 'mxnet'.*handcrafted.*torch.*keras.*jax"):
        get_backend("mxnet")
    assert not is_available("mxnet")


@pytest.mark.parametrize("name, framework, extra", [("torch", "torch", "torch"), ("keras", "tensorflow", "tf"),
                                                   ("onnxruntime", "onnxruntime", "onnx"), ("jax", "optax", "jax")])
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
    assert isinstance(module, Backend), f"{backend_name} lacks part of lenet.backends.Backend"
    assert module.NAME == backend_name and module.CAPABILITIES == capabilities(backend_name)
    assert "cpu" in module.devices()
    assert module in backends.loaded_backends()
    versions = module.versions()
    assert isinstance(versions, dict) and versions


@pytest.mark.parametrize("name", ["torch", "keras", "onnxruntime", "jax"])
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


FRAMEWORKS = {"torch": {"torch", "thop"}, "keras": {"tensorflow", "keras", "ai_edge_litert"},
              "onnxruntime": {"onnxruntime", "onnx"}, "jax": {"jax", "jaxlib", "optax"}, "handcrafted": set()}
ALL_FRAMEWORKS = set().union(*FRAMEWORKS.values())


def _imports(path, package: str) -> set:
    import ast

    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
                if node.level else node.module
            imported |= {base} | {f"{base}.{a.name}" for a in node.names}
    return imported


def _is(module: str, names) -> bool:
    return any(module == n or module.startswith(n + ".") for n in names)


def test_backends_import_only_their_own_framework_and_never_each_other():
    """Read from the source, no import needed."""
    from pathlib import Path

    root = Path(backends.__file__).parent
    for name in BACKENDS:
        foreign = (ALL_FRAMEWORKS - FRAMEWORKS[name]) | {f"lenet.backends.{b}" for b in BACKENDS if b != name}
        for path in sorted((root / name).glob("*.py")):
            bad = {m for m in _imports(path, f"lenet.backends.{name}") if _is(m, foreign)}
            assert not bad, f"{name}/{path.name} imports {sorted(bad)}"


def test_nothing_outside_the_backends_imports_a_framework():
    from pathlib import Path

    root = Path(backends.__file__).parents[1]
    for path in sorted(root.rglob("*.py")):
        if (root / "backends") in path.parents:
            continue
        package = ".".join(path.relative_to(root.parent).with_suffix("").parts[:-1])
        bad = {m for m in _imports(path, package) if _is(m, ALL_FRAMEWORKS)}
        assert not bad, f"{path.relative_to(root.parent)} imports {sorted(bad)}"
