"""Execution modes: eager, traced (tf.function, XLA, model.fit / model.predict, jax.jit) and compiled
(torch.compile).

Every mode computes the same function and trains the same algorithm from the same weights: checked against
the eager mode of the same backend.  Tolerances, with the differences measured on the 2-core CPU box:

- forward outputs and the loss and logits of a step (before the update): 1e-5 in every mode (measured at most
  1.5e-7, XLA; graph and fit 5e-8);
- weights after one and after six SGD-momentum steps with weight decay (an update linear in the gradient):
  1e-5 in every mode, XLA included (measured at most 2.2e-8 after six steps);
- weights after one Adam step: 1e-4.  Adam's first step moves a weight by lr * g / (|g| + eps), whose slope
  near g = 0 is about lr / (4 eps) = 2.5e4 at lr 1e-3: float-rounding differences of the gradient (1e-10) of
  the weights whose gradient is almost zero come out at 1e-6..1e-5 (measured 3.9e-6 graph and fit, 9.4e-6
  XLA), in every traced mode alike, so no tighter bound means anything.

Trajectories beyond a few steps are not compared at 1e-5: with max pooling, a rounding difference can flip
the argmax of a near-tied window, after which the runs differ by O(lr * g) (measured 6e-6 after two steps on
random N(0, 1) images for XLA; with average pooling the same run stays at 3e-8).

torch.compile is checked on a tiny MLP: compiling LeNet-5 takes 20-30 s per graph on 2 cores (the bench
measures it), a 16-unit MLP 2-7 s, and the equivalence it shows is the same.
"""
from __future__ import annotations

import numpy as np
import pytest

from lenet.backends import get_backend, is_available
from lenet.spec import lenet5, lenet5_modified, mlp
from lenet.testing import require_backend
from lenet.training import TrainConfig, run_epoch

ATOL = 1e-5
ADAM_WEIGHTS_ATOL = 1e-4  # see the module docstring

SGD = TrainConfig(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4, batch_size=64)
ADAM = TrainConfig(optimizer="adam", lr=1e-3, weight_decay=5e-4, batch_size=64)


@pytest.fixture(scope="module")
def digits():
    from lenet.data import load_dataset

    return load_dataset("digits")


def _max_diff(a: dict, b: dict) -> float:
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


# --------------------------------------------------------------------------- keras


@pytest.fixture(scope="module")
def kb():
    if not is_available("keras"):
        pytest.skip("backend 'keras' not installed: pip install 'lenet-bench[tf]'")
    return get_backend("keras")


@pytest.mark.parametrize("arch", [lenet5(), lenet5_modified()], ids=["lenet5", "lenet5-modified"])
def test_keras_inference_modes_match_eager(kb, arch, digits):
    x = np.concatenate([digits.x_test[:7], 3 * np.random.default_rng(0).standard_normal((2, *arch.input_shape),
                                                                                       dtype=np.float32)])
    model = kb.build(arch, seed=2)
    eager = np.asarray(kb.make_forward(model, x, mode="eager")())
    np.testing.assert_allclose(eager, kb.predict(model, x), rtol=0, atol=ATOL)
    for mode in kb.CAPABILITIES.infer_modes:
        for n in (9, 1, 4):  # several batch sizes through the same functions
            out = np.asarray(kb.make_forward(model, x[:n], mode=mode)())
            assert out.shape == (n, arch.num_classes)
            np.testing.assert_allclose(out, eager[:n], rtol=0, atol=ATOL, err_msg=f"{mode} at batch {n}")
    # the traced functions traced once for all three batch sizes
    assert model.net._lenet_forward.experimental_get_tracing_count() == 1
    assert model.net._lenet_forward_xla.experimental_get_tracing_count() == 1
    with pytest.raises(ValueError, match=r"unknown inference mode 'jit'.*'graph', 'eager', 'xla', 'predict'"):
        kb.make_forward(model, x, mode="jit")


@pytest.fixture(params=["keras", "jax"])
def traced(request):
    """A backend whose training modes trace or compile beside its eager one (torch.compile: a slow test below)."""
    require_backend(request.param)
    return get_backend(request.param)


@pytest.mark.parametrize("config", [SGD, ADAM], ids=["sgd-momentum-wd", "adam-wd"])
def test_training_modes_make_the_same_steps(traced, config, digits):
    """One step, then (SGD) five more with a partial batch and lr changes, from the same weights, in every mode
    of a backend that traces (keras; jax, whose eager mode is the reference here as keras').

    Adam makes one step only: beyond it its weights are not compared (see the module docstring)."""
    arch = lenet5()
    x, y = digits.x_train[:64], digits.y_train[:64]
    rng = np.random.default_rng(1)
    batches = [rng.permutation(64)[:n] for n in (32, 32, 17, 32, 17, 32)]  # two shapes: two XLA compilations
    lrs = [config.lr] * 4 + [config.lr / 4, config.lr * 2]
    results = {}
    for mode in traced.CAPABILITIES.train_modes:
        model = traced.build(arch, seed=4)
        trainer = traced.trainer(model, x, y, config, mode=mode)
        assert trainer.mode == mode
        loss, logits = trainer.step(batches[0], lrs[0])
        first = traced.get_weights(model)
        if config.optimizer == "sgd":
            for idx, lr in zip(batches[1:], lrs[1:]):
                trainer.step(idx, lr)
        results[mode] = (loss, logits, first, traced.get_weights(model))
    ref = results["eager"]
    weights_atol = ATOL if config.optimizer == "sgd" else ADAM_WEIGHTS_ATOL
    for mode, got in results.items():
        assert got[0] == pytest.approx(ref[0], abs=ATOL), mode
        np.testing.assert_allclose(got[1], ref[1], rtol=0, atol=ATOL, err_msg=mode)
        assert _max_diff(got[2], ref[2]) < weights_atol, (mode, "one step", _max_diff(got[2], ref[2]))
        if config.optimizer == "sgd":
            assert _max_diff(got[3], ref[3]) < ATOL, (mode, "six steps", _max_diff(got[3], ref[3]))
    assert _max_diff(ref[3], traced.get_weights(traced.build(arch, seed=4))) > 5 * weights_atol  # the steps moved it


def test_keras_steady_state_steps_never_retrace(kb, digits):
    """Two epochs of 150 samples at batch 64 (the last batch partial: 22), then batch 1 and an lr change.

    (An MLP on the same images: what is counted does not depend on the layers, and XLA compiles it fast.)"""
    arch = mlp(hidden=(32,), input_shape=(1, 32, 32))
    x, y = digits.x_train[:150], digits.y_train[:150]
    config = TrainConfig(optimizer="sgd", lr=0.05, momentum=0.9, batch_size=64, schedule=((1, 0.01),))
    for mode in ("eager", "graph", "xla", "fit"):
        trainer = kb.trainer(kb.build(arch), x, y, config, mode=mode)
        run_epoch(trainer, y, config, 0)
        after_first_epoch = trainer.tracing_count()
        run_epoch(trainer, y, config, 1)
        for n, lr in ((1, 0.02), (64, 0.02), (22, 0.02)):
            trainer.step(np.arange(n), lr)
        count = trainer.tracing_count()
        if mode == "eager":
            assert count == 0 and trainer.optimizer.python_calls == 3 * 2 + 3  # Python ran every step
        elif mode in ("graph", "xla"):  # one trace for every batch size: the input signature is fixed
            assert after_first_epoch == count == 1, (mode, after_first_epoch, count)
            assert trainer.optimizer.python_calls == 1
        else:  # Keras' train step: a second trace at the second batch shape relaxes it, then never again
            assert after_first_epoch == count == 2, (mode, after_first_epoch, count)


@pytest.mark.parametrize("hflip", [False, True])
def test_keras_fit_trains_like_the_shared_loop(kb, digits, hflip):
    """One model.fit call over 2 epochs (last batch partial, lr change, SGD momentum + weight decay, with and
    without mirroring) equals the shared loop in graph mode: same batches in the same order, same updates,
    same history."""
    from lenet.data.base import Dataset
    from lenet.training import fit

    n = 150
    data = Dataset("digits[:150]", digits.x_train[:n], digits.y_train[:n], digits.x_val[:40], digits.y_val[:40],
                   digits.x_test[:40], digits.y_test[:40], 10)
    config = TrainConfig(epochs=2, optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4, batch_size=64,
                         schedule=((1, 0.01),), hflip=hflip)
    graph = kb.build(lenet5(), seed=3)
    expected = fit(kb.trainer(graph, data.x_train, data.y_train, config), lambda v: kb.predict(graph, v), data,
                   config, progress=False)
    model = kb.build(lenet5(), seed=3)
    trainer = kb.trainer(model, data.x_train, data.y_train, config, mode="fit")
    history = trainer.fit(data, progress=False)
    assert _max_diff(kb.get_weights(model), kb.get_weights(graph)) < ATOL
    assert len(history.epochs) == 2 and history.last()["fit_seconds"] > 0
    for got, ref in zip(history.epochs, expected.epochs):
        assert got["lr"] == ref["lr"]
        for key in ("train_loss", "train_top1", "train_top5", "val_loss", "val_top1", "val_top5"):
            assert got[key] == pytest.approx(ref[key], abs=ATOL), key
    assert trainer.tracing_count() == 1  # the dataset's batches have an unknown size: one trace
    assert trainer.jit_compile is False  # Keras' "auto" on the CPU


def test_keras_train_function_by_mode_and_unknown_mode(kb, digits):
    x, y = digits.x_train[:32], digits.y_train[:32]
    model = kb.build(lenet5())
    history = kb.train(model, _tiny(digits), TrainConfig(epochs=1, batch_size=16), progress=False, mode="eager")
    assert len(history.epochs) == 1
    step = kb.trainer(model, x, y, TrainConfig(), mode="xla").make_step(np.arange(8), 1e-3)
    assert np.isfinite(step())
    with pytest.raises(ValueError, match=r"unknown training mode 'compile'.*'graph', 'eager', 'xla', 'fit'"):
        kb.trainer(model, x, y, TrainConfig(), mode="compile")


def _tiny(digits, n=48):
    from lenet.data.base import Dataset

    return Dataset(f"digits[:{n}]", digits.x_train[:n], digits.y_train[:n], digits.x_val[:16], digits.y_val[:16],
                   digits.x_test[:16], digits.y_test[:16], 10)


# --------------------------------------------------------------------------- torch


@pytest.fixture(scope="module")
def tb():
    if not is_available("torch"):
        pytest.skip("backend 'torch' not installed: pip install 'lenet-bench[torch]'")
    return get_backend("torch")


@pytest.fixture(scope="module")
def torch_modes(tb):
    from lenet.backends.torch import modes

    return modes


def test_torch_compile_unavailable_names_the_missing_piece(torch_modes, monkeypatch):
    import torch._dynamo
    from torch._inductor import cpp_builder, exc

    def no_compiler():
        raise exc.InvalidCxxCompiler()

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", no_compiler)
    assert "needs a C++ compiler" in torch_modes.compile_unavailable("cpu")
    monkeypatch.setattr(torch._dynamo, "is_dynamo_supported", lambda: False)
    reason = torch_modes.compile_unavailable("cpu")
    assert "not supported by torch" in reason and "Python" in reason


def test_torch_modes_are_checked(tb):
    model = tb.build(lenet5())
    x = np.zeros((2, 1, 32, 32), np.float32)
    with pytest.raises(ValueError, match=r"unknown inference mode 'graph'.*'eager', 'compile'"):
        tb.make_forward(model, x, mode="graph")
    with pytest.raises(ValueError, match=r"unknown training mode 'xla'.*'eager', 'compile'"):
        tb.trainer(model, x, np.zeros(2, np.int64), TrainConfig(), mode="xla")


@pytest.mark.slow
def test_torch_compile_matches_eager_and_does_not_recompile_in_steady_state(tb, torch_modes):
    """torch.compile (inductor) on a tiny MLP: same logits, same steps; no recompile once both batch shapes
    of an epoch (full and partial) have been seen."""
    import torch

    reason = torch_modes.compile_unavailable("cpu")
    if reason:
        pytest.skip(reason)
    arch = mlp(hidden=(16,), input_shape=(1, 4, 4), num_classes=3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 1, 4, 4), dtype=np.float32)
    y = rng.integers(0, 3, 40)
    steps = [(np.arange(16), 0.05), (np.arange(16, 32), 0.05), (np.arange(32, 40), 0.05), (np.arange(16), 0.01)]
    results = {}
    torch_modes.warm_compiler()  # also resets dynamo: nothing compiled earlier counts against its recompile limit
    for mode in tb.CAPABILITIES.train_modes:
        model = tb.build(arch, seed=1)
        forward = np.asarray(tb.make_forward(model, x[:16], mode=mode)())
        trainer = tb.trainer(model, x, y, SGD, mode=mode)
        out = [trainer.step(idx, lr) for idx, lr in steps]
        results[mode] = (forward, out, tb.get_weights(model))
        if mode == "compile":  # steady state: every shape seen, learning rate changing
            with torch.compiler.set_stance("fail_on_recompile"):
                for idx, lr in steps + [(np.arange(8), 0.02)]:
                    trainer.step(idx, lr)
                with pytest.raises(RuntimeError, match="recompil"):  # the stance does catch one: dynamo
                    trainer.step(np.arange(1), 0.02)  # specialises batch 1, which would need a new graph
    ref, got = results["eager"], results["compile"]
    np.testing.assert_allclose(got[0], ref[0], rtol=0, atol=ATOL)
    for (loss_c, logits_c), (loss_e, logits_e) in zip(got[1], ref[1]):
        assert loss_c == pytest.approx(loss_e, abs=ATOL)
        np.testing.assert_allclose(logits_c, logits_e, rtol=0, atol=ATOL)
    assert _max_diff(got[2], ref[2]) < ATOL


# --------------------------------------------------------------------------- the bench's break-even


def test_break_even_calls():
    from lenet.study.graph_modes import break_even_calls

    # graph: 0.5 s first call against eager's 0.06 s, then 10 ms a step against 70 ms: 0.44 / 0.06 -> 8 steps
    assert break_even_calls(first=0.5, steady=0.010, first_eager=0.06, steady_eager=0.070) == 8
    assert break_even_calls(first=4.5, steady=0.020, first_eager=0.06, steady_eager=0.010) is None  # slower
    assert break_even_calls(first=4.5, steady=0.010, first_eager=0.06, steady_eager=0.010) is None  # no faster
    assert break_even_calls(first=0.05, steady=0.005, first_eager=0.06, steady_eager=0.010) == 0  # cheaper first
