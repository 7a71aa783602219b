"""The JAX backend: every layer option against the handcrafted reference in both modes, gradients, no retrace
in steady state, buffer donation, FLOPs reconciled with XLA's cost analysis, devices and threads.

Its equivalence with every other backend (logits, SGD and Adam steps, weights to and from each, accuracy on
digits, save/load, bad input) is in tests/test_equivalence.py, which runs for every registry backend; jit
against eager training steps in tests/test_graph_modes.py.  Tolerance: 1e-4 against the handcrafted backend
(DESIGN.md section 6).
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from lenet.backends import DeviceError, capabilities, get_backend
from lenet.counting import count, layer_counts
from lenet.init import init_weights
from lenet.spec import ARCHITECTURES, Act, Arch, Conv, Dense, Flatten, Pool, build_arch, mlp
from lenet.testing import require_backend
from lenet.training import TrainConfig, run_epoch

require_backend("jax")

ATOL = 1e-4

# strided and padded conv, overlapping and padded max and average pools, every activation
ODD = Arch("odd-jax", (3, 11, 11), 5, (
    Conv(4, 3, stride=2, padding=2), Act("sigmoid"), Pool("max", 3, 2, 1), Act("swish"),
    Conv(6, 2, padding=1), Pool("avg", 2, 1, 1), Act("relu"), Flatten(), Dense(9), Act("tanh"), Dense(5)))
ARCHS = [*(build_arch(n, 10, (1, 32, 32)) for n in ARCHITECTURES), ODD]
ARCH_IDS = [*ARCHITECTURES, "odd-options"]


@pytest.fixture(scope="module")
def jb():
    return get_backend("jax")


@pytest.fixture(scope="module")
def digits():
    from lenet.data import load_dataset

    return load_dataset("digits")


@pytest.mark.parametrize("arch", ARCHS, ids=ARCH_IDS)
def test_same_logits_as_handcrafted_in_both_modes(jb, arch):
    hc = get_backend("handcrafted")
    x = 2 * np.random.default_rng(3).standard_normal((19, *arch.input_shape), dtype=np.float32)
    ref = hc.build(arch, seed=5)
    model = jb.build(arch, seed=5)  # the shared init: same weights without set_weights
    expected = hc.predict(ref, x)
    np.testing.assert_allclose(jb.predict(model, x, batch_size=8), expected, rtol=0, atol=ATOL)
    for mode in capabilities("jax").infer_modes:
        out = np.asarray(jb.make_forward(model, x, mode=mode)())
        np.testing.assert_allclose(out, expected, rtol=0, atol=ATOL, err_msg=mode)


@pytest.mark.parametrize("arch", ARCHS, ids=ARCH_IDS)
def test_xla_cost_analysis_reconciles_with_the_analytic_count(jb, arch):
    """XLA's flops equal ``flops_xla`` times the batch; its transcendentals are one per tanh, sigmoid or swish."""
    batch = 8
    got = jb.count_flops(jb.build(arch), batch)
    assert set(got) == set(capabilities("jax").flop_counters)
    c = got["xla_cost_analysis"]
    assert (c["convention"], c["per"], c["batch_size"]) == ("flops_xla", "batch", batch)
    assert c["value"] == count(arch).flops_xla * batch
    transcendental = sum(r.act_elements for r, layer in zip(layer_counts(arch), arch.layers)
                         if isinstance(layer, Act) and layer.fn != "relu")
    assert c["transcendentals"] == transcendental * batch


def test_flops_xla_of_lenet5():
    """2 x 416,520 MACs + 6,518 bias adds + 3 comparisons for each of 1,576 max-pool outputs; tanh is free."""
    assert count(build_arch("lenet5", 10, (1, 32, 32))).flops_xla == 833_040 + 6_518 + 3 * 1_576 == 844_286


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_gradient_matches_finite_differences(jb, layout):
    """jax.grad of the loss against central differences, on the odd-options network (float32, so loose), in
    each layout: in NHWC the gradient flows back through the weights' layout to the canonical ones."""
    import jax
    from jax.test_util import check_grads

    from lenet.backends.jax import network

    x = np.random.default_rng(0).standard_normal((4, *ODD.input_shape), dtype=np.float32)
    y = np.array([0, 3, 1, 4], np.int32)
    params = jax.tree.map(jax.numpy.asarray, init_weights(ODD, 2))
    x = network.to_layout(x, layout)
    check_grads(lambda p: network.loss(ODD, layout, p, x, y)[0], (params,), order=1, modes=("rev",), eps=1e-2,
                atol=2e-2, rtol=2e-2)


def test_steady_state_steps_never_retrace_and_donate(jb, digits):
    """Two epochs at batch 64 of 150 samples (the last batch 22), a schedule and extra lr changes: two traces,
    one per batch shape.  The donated weights are replaced, and a forward made before training runs the new."""
    arch = mlp(hidden=(32,), input_shape=(1, 32, 32))
    x, y = digits.x_train[:150], digits.y_train[:150]
    config = TrainConfig(optimizer="sgd", lr=0.05, momentum=0.9, batch_size=64, schedule=((1, 0.01),))
    model = jb.build(arch, seed=1)
    forward = jb.make_forward(model, x[:5])
    before = model.net.params["1.weight"]
    trainer = jb.trainer(model, x, y, config)
    assert trainer.mode == "jit"
    run_epoch(trainer, y, config, 0)
    run_epoch(trainer, y, config, 1)
    for n, lr in ((64, 0.02), (22, 0.03)):
        trainer.step(np.arange(n), lr)
    assert trainer.tracing_count() == 2
    assert before.is_deleted()  # donated to the step, which updated it in place
    np.testing.assert_allclose(np.asarray(forward()), jb.predict(model, x[:5]), rtol=0, atol=0)
    eager = jb.trainer(model, x, y, config, mode="eager")
    eager.step(np.arange(8), 0.01)
    assert eager.tracing_count() == 0


def test_modes_are_checked_and_train_runs_in_each(jb, digits):
    from lenet.data.base import Dataset

    model = jb.build(build_arch("lenet5", 10, (1, 32, 32)))
    x = digits.x_train[:4]
    with pytest.raises(ValueError, match=r"unknown inference mode 'compile'.*'jit', 'eager'"):
        jb.make_forward(model, x, mode="compile")
    with pytest.raises(ValueError, match=r"unknown training mode 'xla'.*'jit', 'eager'"):
        jb.trainer(model, x, digits.y_train[:4], TrainConfig(), mode="xla")
    n = 24
    tiny = Dataset(f"digits[:{n}]", digits.x_train[:n], digits.y_train[:n], digits.x_val[:8], digits.y_val[:8],
                   digits.x_test[:8], digits.y_test[:8], 10)
    model = jb.build(mlp(hidden=(8,), input_shape=(1, 32, 32)))  # eager compiles each op per shape: keep it small
    for mode in ("jit", "eager"):
        history = jb.train(model, tiny, TrainConfig(epochs=1, batch_size=16), progress=False, mode=mode)
        assert len(history.epochs) == 1 and np.isfinite(history.last()["train_loss"])
    assert np.isfinite(jb.trainer(model, x, digits.y_train[:4], TrainConfig()).make_step(np.arange(4), 1e-3)())


def test_devices_and_clear_device_errors(jb):
    assert jb.devices()[0] == "cpu" and set(jb.devices()) <= {"cpu", "gpu"}
    assert jb.build(mlp(hidden=(4,))).device == "cpu"
    with pytest.raises(DeviceError, match="unknown device 'tpu'.*choose one of"):
        jb.build(mlp(hidden=(4,)), device="tpu")
    if "gpu" not in jb.devices():
        with pytest.raises(DeviceError, match="JAX sees no GPU.*use device='cpu'"):
            jb.build(mlp(hidden=(4,)), device="gpu")
    assert jb.peak_memory(jb.build(mlp(hidden=(4,)))) is None  # host memory is measured as RSS


@pytest.mark.skipif("gpu" not in get_backend("jax").devices(), reason="no GPU visible to JAX")
def test_gpu_matches_cpu(jb):
    arch = build_arch("lenet5", 10, (1, 32, 32))
    x = np.random.default_rng(0).standard_normal((16, *arch.input_shape), dtype=np.float32)
    gpu = jb.build(arch, seed=3, device="gpu")
    np.testing.assert_allclose(jb.predict(gpu, x), jb.predict(jb.build(arch, seed=3), x), rtol=0, atol=ATOL)
    assert jb.peak_memory(gpu) > 0


@pytest.mark.parametrize("threads, eigen", [("1", 1), ("2", None)])
def test_thread_knob_acts_before_xla_starts_and_reports_what_is_in_force(threads, eigen):
    """In a fresh process: LENET_THREADS=1 makes Eigen single-threaded; after XLA started nothing changes."""
    code = ("import os; from lenet.backends import get_backend; from lenet.spec import mlp; b = get_backend('jax'); "
            "print(os.environ.get('XLA_FLAGS', '')); print(b.thread_counts()['xla_cpu_eigen']); "
            "b.build(mlp(hidden=(4,))); b.set_threads(3 - int(os.environ['LENET_THREADS'])); "
            "print(b.thread_counts()['xla_cpu_eigen'])")
    env = {**os.environ, "LENET_THREADS": threads, "XLA_FLAGS": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    flags, before, after = out.stdout.split("\n")[:3]
    from lenet.measure.threads import usable_cores

    assert ("--xla_cpu_multi_thread_eigen=false" in flags) == (eigen == 1)
    assert int(before) == int(after) == (eigen or usable_cores())


def test_bench_generates_jax_in_every_group():
    out = subprocess.run([sys.executable, "-m", "pytest", "bench/", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "--backends", "jax"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    for test in ("test_accuracy", "test_inference", "test_train_epoch", "test_memory", "test_flops",
                 "test_compression", "test_single_stream", "test_multi_stream", "test_server", "test_offline",
                 "test_mlp_sweep"):
        assert any(test in i for i in ids), test
    graph = [i for i in ids if "test_graph" in i]
    for case in (f"[lenet5-jax-{phase}-b64-{mode}-" for phase in ("train", "infer") for mode in ("eager", "jit")):
        assert any(case in i for i in graph), (case, graph)
