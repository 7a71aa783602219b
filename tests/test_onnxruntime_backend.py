"""The ONNX Runtime backend: graph from the spec, same logits as the handcrafted reference, threads, int8.

The figures: logits within 1e-4 of the handcrafted backend for every registry architecture and for the odd
layer options (strided conv, overlapping and padded pools, swish); weights trained by every trainable backend
run in it; the ONNX graph passes ``onnx.checker``; ORT's static int8 stays within a stated bound of the float
logits and keeps accuracy on digits; training is refused with a clear error; and the bench never generates a
training case for it.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lenet.backends import BACKENDS, InferenceOnly, capabilities, get_backend
from lenet.metrics import evaluate
from lenet.spec import ARCHITECTURES, Act, Arch, Conv, Dense, Flatten, Pool, build_arch
from lenet.testing import require_backend
from lenet.training import TrainConfig

require_backend("onnxruntime")
onnx = pytest.importorskip("onnx")

ATOL = 1e-4
# int8 against float logits, as fractions of the float logits' range: mean and worst absolute error; and top-1
# within 2 points on digits (measured: mean 1.5%, worst 10% of the range, top-1 95.3% -> 94.4%)
INT8_MEAN_ERROR = 0.03
INT8_MAX_ERROR = 0.15
INT8_TOP1_DROP = 0.02


@pytest.fixture(scope="module")
def ort_backend():
    return get_backend("onnxruntime")


@pytest.fixture(scope="module")
def hc():
    return get_backend("handcrafted")


@pytest.fixture(scope="module")
def digits():
    from lenet.data import load_dataset

    return load_dataset("digits")


ODD = Arch("odd-options", (2, 13, 13), 4, (
    Conv(5, 3, stride=2, padding=1), Act("swish"), Pool("avg", 3, 1, 1), Act("sigmoid"),
    Pool("max", 3, 2, 1), Conv(3, 2), Act("relu"), Flatten(), Dense(7), Act("tanh"), Dense(4)))


@pytest.mark.parametrize("arch", [*(build_arch(n, 10, (1, 32, 32)) for n in ARCHITECTURES), ODD],
                         ids=[*ARCHITECTURES, "odd-options"])
def test_same_logits_as_handcrafted(ort_backend, hc, arch):
    x = np.random.default_rng(3).standard_normal((19, *arch.input_shape), dtype=np.float32)
    ref = hc.build(arch, seed=5)
    model = ort_backend.build(arch, seed=5)
    np.testing.assert_allclose(ort_backend.predict(model, x, batch_size=8), hc.predict(ref, x), rtol=0, atol=ATOL)
    forward = ort_backend.make_forward(model, x, mode="disabled")
    forward()  # the timed path (IO binding) gives the same logits
    np.testing.assert_allclose(forward().copy_outputs_to_cpu()[0], hc.predict(ref, x), rtol=0, atol=ATOL)


def test_graph_passes_the_checker(ort_backend):
    model = ort_backend.build(build_arch("lenet5-modified", 10, (1, 32, 32)), seed=0)
    proto = model.net.onnx_model
    onnx.checker.check_model(proto, full_check=True)
    assert {n.op_type for n in proto.graph.node} >= {"Conv", "MaxPool", "Sigmoid", "Mul", "Flatten", "Gemm"}


@pytest.mark.parametrize("source", [b for b in BACKENDS if capabilities(b).trains])
def test_runs_weights_trained_by_another_backend(ort_backend, source, digits, tmp_path):
    require_backend(source)
    src = get_backend(source)
    arch = build_arch("lenet5", 10, digits.input_shape)
    model = src.build(arch, seed=1)
    x, y = digits.x_train[:64], digits.y_train[:64]
    src.trainer(model, x, y, TrainConfig(optimizer="sgd", lr=0.1)).step(np.arange(64), 0.1)
    src.save(model, tmp_path / "w.npz")
    loaded = ort_backend.load(tmp_path / "w.npz", arch=arch)
    np.testing.assert_allclose(ort_backend.predict(loaded, x), src.predict(model, x), rtol=0, atol=ATOL)


def test_thread_knob_sets_the_sessions(ort_backend):
    model = ort_backend.build(build_arch("mlp", 10, (1, 28, 28)), seed=0)
    before = ort_backend.thread_counts()
    try:
        assert ort_backend.set_threads(1) == {"ort_intra": 1, "ort_inter": 1}
        opts = model.net.session("all").get_session_options()  # a live model's sessions follow the knob
        assert (opts.intra_op_num_threads, opts.inter_op_num_threads) == (1, 1)
        with pytest.raises(ValueError, match="thread count"):
            ort_backend.set_threads(0)
    finally:
        ort_backend.set_threads(before["ort_intra"])


def test_training_is_refused_as_declared(ort_backend, digits):
    caps = capabilities("onnxruntime")
    assert not caps.trains and caps.train_modes == () and caps.weights_from == "handcrafted"
    model = ort_backend.build(build_arch("lenet5", 10, digits.input_shape))
    with pytest.raises(InferenceOnly, match="onnxruntime backend is inference-only.*'handcrafted'"):
        ort_backend.trainer(model, digits.x_train[:8], digits.y_train[:8], TrainConfig())
    with pytest.raises(InferenceOnly, match="inference-only"):
        ort_backend.train(model, digits, TrainConfig(), progress=False)
    with pytest.raises(ValueError, match="unknown inference mode 'graph'.*'all', 'basic', 'disabled'"):
        ort_backend.make_forward(model, digits.x_test[:2], mode="graph")


def test_bench_never_generates_training_cases_for_it():
    out = subprocess.run([sys.executable, "-m", "pytest", "bench/", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "--backends", "onnxruntime,handcrafted"], capture_output=True, text=True, timeout=300)
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    ort = [i for i in ids if "onnxruntime" in i]
    assert any("test_inference" in i for i in ort) and any("test_memory" in i for i in ort)
    assert any("test_flops" in i for i in ort) and any("test_compression" in i for i in ort)
    assert not [i for i in ort if "test_train_epoch" in i or "test_graph" in i]
    assert any("test_train_epoch" in i and "handcrafted" in i for i in ids)


def test_static_int8_within_its_bound_and_keeps_accuracy(ort_backend, hc, digits, tmp_path):
    from lenet.backends.onnxruntime import quant

    arch = build_arch("lenet5", 10, digits.input_shape)
    trained = hc.build(arch, seed=0)
    hc.train(trained, digits, TrainConfig(epochs=3, batch_size=32, optimizer="adam", lr=2e-3), progress=False)
    model = ort_backend.build(arch)
    ort_backend.set_weights(model, hc.get_weights(trained))
    path = quant.quantize(model.net.onnx_model, digits.x_train[:256], tmp_path / "q.onnx")
    onnx.checker.check_model(onnx.load(path))
    q = quant.Int8Session(path)
    fl, qq = ort_backend.predict(model, digits.x_test), q.predict(digits.x_test)
    err, span = np.abs(qq - fl), fl.max() - fl.min()
    assert err.mean() <= INT8_MEAN_ERROR * span and err.max() <= INT8_MAX_ERROR * span
    top1_float, top1_int8 = evaluate(fl, digits.y_test)["top1"], evaluate(qq, digits.y_test)["top1"]
    assert top1_float > 0.9 and top1_int8 >= top1_float - INT8_TOP1_DROP, (top1_float, top1_int8)
