"""The backends compute the same function, and those that train (all but onnxruntime) train the same way.

The handcrafted NumPy backend needs nothing but NumPy, so it is the reference
every other backend is compared with (atol 1e-4 in float32, DESIGN.md section 6).
Comparing each framework with it also compares the frameworks with each other.
Each framework's tuned modes (``Capabilities.tuned``, docs/tuned-modes.md) are held to the same: the tuned
inference mode's forward pass gives the same logits, and training runs in both the default and the tuned
mode make the same steps.
"""
from __future__ import annotations

import numpy as np
import pytest

from lenet.backends import BACKENDS, capabilities, get_backend, is_available
from lenet.backends.common import InputShapeError
from lenet.init import init_weights
from lenet.io import weights as wio
from lenet.io.weights import WeightsError
from lenet.metrics import evaluate
from lenet.spec import build_arch, lenet5, lenet5_modified, mlp
from lenet.testing import require_backend
from lenet.training import TrainConfig

ATOL = 1e-4
REFERENCE = "handcrafted"
FRAMEWORKS = [b for b in BACKENDS if b != REFERENCE]
TRAINING = [b for b in FRAMEWORKS if capabilities(b).trains]
# (backend, mode): every trainer's default mode, and its tuned one where that differs
TRAIN_CASES = [(b, m) for b in TRAINING for m in dict.fromkeys((capabilities(b).default_mode("train"),
                                                                 capabilities(b).tuned_mode("train")))]

ARCHS = {
    "lenet5-tanh-max": lambda: lenet5(activation="tanh", pool="max"),
    "lenet5-relu-avg": lambda: lenet5(activation="relu", pool="avg"),
    "mlp": lambda: mlp(hidden=(100,), input_shape=(1, 32, 32)),
    "lenet5-modified": lambda: lenet5_modified(),  # pool padding, swish, an extra 3x3 conv
}


@pytest.fixture(scope="module")
def digits():
    from lenet.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(params=FRAMEWORKS)
def framework(request):
    require_backend(request.param)
    return request.param


@pytest.fixture(params=TRAIN_CASES, ids=[f"{b}-{m}" for b, m in TRAIN_CASES])
def training_case(request):
    """(backend, training mode)."""
    require_backend(request.param[0])
    return request.param


def _move_weights(backend, model, x, y) -> None:
    """Weights away from the init: one SGD step, or (an inference-only backend) other seeded weights."""
    if capabilities(model.backend).trains:
        backend.trainer(model, x, y, TrainConfig(optimizer="sgd", lr=0.1)).step(np.arange(len(y)), 0.1)
    else:
        backend.set_weights(model, init_weights(model.arch, 99))


def _batch(digits, n=32, start=0):
    return digits.x_train[start:start + n], digits.y_train[start:start + n]


def _max_diff(a: dict, b: dict) -> dict:
    return {k: float(np.abs(a[k] - b[k]).max()) for k in a}


def _logits(framework: str, out) -> np.ndarray:
    """What a ``make_forward`` call returned, as NumPy: ORT's IO binding holds its output, the others give a
    tensor or array that NumPy reads."""
    return out.copy_outputs_to_cpu()[0] if framework == "onnxruntime" else np.asarray(out)


# --------------------------------------------------------------------------- same function


@pytest.mark.parametrize("arch_name", ARCHS)
def test_same_logits_from_the_same_weights(framework, arch_name, digits):
    arch = ARCHS[arch_name]()
    weights = init_weights(arch, seed=11)
    x, _ = _batch(digits, 48)
    x = np.concatenate([x, 3 * np.random.default_rng(0).standard_normal(x.shape, dtype=np.float32)])
    logits = {}
    for name in (REFERENCE, framework):
        backend = get_backend(name)
        model = backend.build(arch, seed=0)  # other weights, replaced below
        backend.set_weights(model, weights)
        logits[name] = backend.predict(model, x, batch_size=40)
    assert logits[framework].dtype == np.float32 and logits[framework].shape == (len(x), arch.num_classes)
    np.testing.assert_allclose(logits[framework], logits[REFERENCE], rtol=0, atol=ATOL,
                               err_msg=f"{framework} and {REFERENCE} disagree on {arch.name}")


@pytest.mark.parametrize("arch_name", ARCHS)
def test_tuned_inference_mode_gives_the_same_logits(framework, arch_name, digits):
    """The tuned mode's timed forward pass (every conversion made by ``make_forward``), at two batch sizes,
    called twice (TorchScript optimizes on its second call)."""
    arch = ARCHS[arch_name]()
    mode = capabilities(framework).tuned_mode("infer")
    weights = init_weights(arch, seed=11)
    x, _ = _batch(digits, 40)
    x = np.concatenate([x, 3 * np.random.default_rng(0).standard_normal(x.shape, dtype=np.float32)])
    ref = get_backend(REFERENCE).build(arch)
    get_backend(REFERENCE).set_weights(ref, weights)
    backend = get_backend(framework)
    model = backend.build(arch, seed=0)
    backend.set_weights(model, weights)
    for n in (len(x), 1):
        expected = get_backend(REFERENCE).predict(ref, x[:n])
        forward = backend.make_forward(model, x[:n], mode=mode)
        for call in range(2):
            got = _logits(framework, forward())
            assert got.shape == (n, arch.num_classes)
            np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL,
                                       err_msg=f"{framework} {mode} and {REFERENCE}, batch {n}, call {call + 1}")


# --------------------------------------------------------------------------- same training


STEP_CONFIGS = {
    "sgd-momentum-wd": TrainConfig(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4),
    "adam-wd": TrainConfig(optimizer="adam", lr=1e-3, weight_decay=5e-4),
}


@pytest.mark.parametrize("arch_name", ["lenet5-tanh-max", "lenet5-modified"])
@pytest.mark.parametrize("config_name", STEP_CONFIGS)
def test_same_weights_after_one_and_a_few_steps(training_case, config_name, arch_name, digits):
    """One step, then five more (batch sizes vary, lr changes mid-run), from the same weights and batches, in
    the framework's default and tuned training modes."""
    framework, mode = training_case
    arch, config = ARCHS[arch_name](), STEP_CONFIGS[config_name]
    x, y = _batch(digits, 64)
    rng = np.random.default_rng(1)
    batches = [rng.permutation(64)[:n] for n in (32, 32, 17, 32, 8, 32)]
    lrs = [config.lr, config.lr, config.lr, config.lr / 4, config.lr / 4, config.lr * 2]
    results = {}
    for name in (REFERENCE, framework):
        backend = get_backend(name)
        model = backend.build(arch, seed=4)
        trainer = backend.trainer(model, x, y, config, mode=None if name == REFERENCE else mode)
        loss, logits = trainer.step(batches[0], lrs[0])
        first = backend.get_weights(model)
        for idx, lr in zip(batches[1:], lrs[1:]):
            trainer.step(idx, lr)
        results[name] = (loss, logits, first, backend.get_weights(model))
    ref, got = results[REFERENCE], results[framework]
    assert got[0] == pytest.approx(ref[0], abs=ATOL)
    np.testing.assert_allclose(got[1], ref[1], rtol=0, atol=ATOL)
    for when, i in (("one step", 2), ("six steps", 3)):
        diff = _max_diff(got[i], ref[i])
        assert max(diff.values()) < ATOL, f"{framework} ({mode}) vs {REFERENCE} after {when}: {diff}"
    moved = _max_diff(ref[3], init_weights(arch, 4))
    assert min(moved.values()) > ATOL, moved  # every tensor moved by more than the tolerance


@pytest.mark.parametrize("backend_name", [REFERENCE, *TRAINING])
def test_hflip_indices_past_the_training_set_are_its_mirror_images(backend_name, digits):
    """With ``hflip``, sample ``n + i`` of every trainer is sample ``i`` mirrored left to right."""
    require_backend(backend_name)
    backend = get_backend(backend_name)
    arch = ARCHS["lenet5-tanh-max"]()
    x, y = _batch(digits, 16)
    model = backend.build(arch, seed=3)
    mirrored = backend.predict(model, np.ascontiguousarray(x[..., ::-1]))
    assert np.abs(mirrored - backend.predict(model, x)).max() > 10 * ATOL  # digits are not mirror-symmetric
    trainer = backend.trainer(model, x, y, TrainConfig(hflip=True))
    _, logits = trainer.step(np.arange(16, 32), 1e-3)  # the logits before the update
    np.testing.assert_allclose(logits, mirrored, rtol=0, atol=ATOL)


def test_same_accuracy_after_training_on_digits(digits):
    """Same init, data order and config: every backend ends within 1 point of test top-1."""
    available = [b for b in BACKENDS if is_available(b) and capabilities(b).trains]
    if len(available) < 2:
        pytest.skip(f"only {available} installed; need two backends to compare")
    arch = build_arch("lenet5", digits.num_classes, digits.input_shape)
    config = TrainConfig(epochs=4, batch_size=32, optimizer="adam", lr=2e-3, seed=3)
    scores = {}
    for name in available:
        backend = get_backend(name)
        model = backend.build(arch, seed=config.seed)
        history = backend.train(model, digits, config, progress=False)
        assert len(history.epochs) == config.epochs
        scores[name] = evaluate(backend.predict(model, digits.x_test), digits.y_test)["top1"]
    assert min(scores.values()) > 0.9, scores
    assert max(scores.values()) - min(scores.values()) <= 0.01, scores


# --------------------------------------------------------------------------- weights on disk


def test_save_load_round_trips_exactly(backend_name, tmp_path, digits):
    backend = get_backend(backend_name)
    arch = lenet5_modified()
    model = backend.build(arch, seed=8)
    path = tmp_path / f"{backend_name}.npz"
    backend.save(model, path)
    _, _, meta = wio.load(path)
    assert meta["backend"] == backend_name
    again = backend.load(path)
    assert again.arch == arch and again.backend == backend_name
    before, after = backend.get_weights(model), backend.get_weights(again)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    x, _ = _batch(digits)
    np.testing.assert_array_equal(backend.predict(again, x), backend.predict(model, x))


@pytest.mark.parametrize("source, target", [(s, t) for s in BACKENDS for t in BACKENDS if s != t])
def test_weights_saved_by_one_backend_run_in_another(source, target, tmp_path, digits):
    require_backend(source)
    require_backend(target)
    arch = lenet5()
    x, y = _batch(digits)
    src = get_backend(source)
    model = src.build(arch, seed=2)
    _move_weights(src, model, x, y)  # not the init
    path = tmp_path / "w.npz"
    src.save(model, path)
    dst = get_backend(target)
    loaded = dst.load(path, arch=arch)
    got = dst.get_weights(loaded)
    assert all(np.array_equal(got[k], v) for k, v in src.get_weights(model).items())
    np.testing.assert_allclose(dst.predict(loaded, x), src.predict(model, x), rtol=0, atol=ATOL)


def test_get_weights_returns_copies(backend_name, digits):
    backend = get_backend(backend_name)
    model = backend.build(lenet5(), seed=1)
    snapshot = backend.get_weights(model)
    kept = {k: v.copy() for k, v in snapshot.items()}
    x, y = _batch(digits)
    _move_weights(backend, model, x, y)
    assert all(np.array_equal(snapshot[k], kept[k]) for k in kept), "changing the model changed an earlier snapshot"
    trained = backend.get_weights(model)
    for v in trained.values():
        v[...] = 0
    assert not all(np.array_equal(v, 0) for v in backend.get_weights(model).values())


# --------------------------------------------------------------------------- clear errors


def test_weights_of_another_architecture_are_refused(backend_name, tmp_path):
    backend = get_backend(backend_name)
    wide = lenet5(num_classes=50)
    path = tmp_path / "fifty.npz"
    wio.save(path, wide, init_weights(wide, 0))
    model = backend.build(lenet5(num_classes=10))
    _, weights, _ = wio.load(path)
    with pytest.raises(WeightsError, match=r"'11.weight' has shape \(84, 50\).*expects \(84, 10\)"):
        backend.set_weights(model, weights)
    with pytest.raises(WeightsError, match=r"fifty.npz.*50 classes.*10 classes"):
        backend.load(path, arch=lenet5(num_classes=10))
    with pytest.raises(WeightsError, match="no such weight file"):
        backend.load(tmp_path / "missing.npz")


def test_wrong_input_shape_is_refused(backend_name):
    backend = get_backend(backend_name)
    arch = lenet5()
    model = backend.build(arch)
    good = np.zeros((4, 1, 32, 32), np.float32)
    for bad in (np.zeros((4, 1, 28, 28), np.float32), np.zeros((4, 32, 32, 1), np.float32), good[0]):
        with pytest.raises(InputShapeError, match=r"expects input of shape \(N, 1, 32, 32\)"):
            backend.predict(model, bad)
        if capabilities(backend_name).trains:
            with pytest.raises(InputShapeError, match=r"expects input of shape \(N, 1, 32, 32\)"):
                backend.trainer(model, bad, np.zeros(len(bad), np.int64), TrainConfig())
    if not capabilities(backend_name).trains:
        return
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.9"):
        backend.trainer(model, good, np.array([0, 1, 2, 10]), TrainConfig())
