"""int8: the handcrafted NumPy engine against a float reference (error bounds from the scales), PyTorch static and
dynamic quantization, TFLite full-integer, and the handcrafted engine against PyTorch's on digits."""
from __future__ import annotations

import numpy as np
import pytest

from lenet.backends import get_backend
from lenet.backends.handcrafted import int8
from lenet.init import init_weights
from lenet.metrics import evaluate
from lenet.spec import Act, Arch, Conv, Dense, Flatten, lenet5, lenet5_modified, mlp
from lenet.testing import require_backend
from lenet.training import TrainConfig

CALIB = 512


@pytest.fixture(scope="module")
def digits():
    from lenet.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="module")
def trained(digits):
    """A relu LeNet-5 trained on digits in torch (fast), and its canonical weights."""
    require_backend("torch")
    tb = get_backend("torch")
    arch = lenet5(activation="relu")
    model = tb.build(arch, seed=0)
    tb.train(model, digits, TrainConfig(epochs=5, batch_size=32, lr=2e-3), progress=False)
    return model, tb.get_weights(model)


def test_dense_layer_error_within_the_bound_from_the_scales():
    """One dense layer, float logits out: |y - y_q| <= s_w/2 sum|x| + s_x/2 sum|w_q| + s_x s_w/2.

    x_q = s_x round(x/s_x) is off by at most s_x/2 (the calibration range covers x: no clipping), each weight
    by s_w[o]/2 (per channel), the int32 bias by s_x s_w[o]/2; the integer sum itself is exact, so
    |w x - w_q x_q| <= |x| |w - w_q| + |w_q| |x - x_q| term by term.
    """
    arch = mlp(hidden=(), input_shape=(1, 8, 8))
    w = init_weights(arch, 0)
    w["1.bias"] *= 10
    x = np.random.default_rng(0).standard_normal((64, 1, 8, 8), dtype=np.float32)
    q = int8.quantize(arch, w, x)
    ref = int8.float_forward(arch, w, x)
    (ql,) = q.qlayers
    s_x, s_w = ql.x_q.scale, ql.w_scale.astype(np.float64)
    w_q = np.abs(ql.wq.astype(np.float64)) * s_w[:, None]  # (out, in)
    ax = np.abs(x.reshape(len(x), -1)).astype(np.float64)
    bound = ax.sum(1, keepdims=True) * s_w / 2 + s_x / 2 * w_q.sum(1) + s_x * s_w / 2
    err = np.abs(q.predict(x) - ref)
    assert np.all(err <= bound + 1e-5 * np.abs(ref) + 1e-6)
    assert err.max() > 0.05 * bound.max()  # the bound is not vacuous


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_conv_layer_with_requantisation_within_the_bound(act):
    """Conv + relu (clamp) or tanh (LUT), int8 out: the dense bound per output, plus half an output step
    (requantisation) and, for the LUT, half a pre-activation step (relu and tanh are 1-Lipschitz)."""
    arch = Arch("c", (2, 10, 10), 10, (Conv(4, 3, padding=1), Act(act), Flatten(), Dense(10)))
    w = init_weights(arch, 1)
    x = np.random.default_rng(1).standard_normal((16, 2, 10, 10), dtype=np.float32)
    q = int8.quantize(arch, w, x)
    ql = q.qlayers[0]
    codes = q._run_param(ql, q.quantize_input(x))  # (O, H, W, N) int8/uint8
    got = codes.astype(np.float64) * ql.out_q.scale
    rec = {}
    int8.float_forward(arch, w, x, rec)
    want = rec[1].astype(np.float64)
    s_x, s_w = ql.x_q.scale, ql.w_scale.astype(np.float64)
    cols, ho, wo = int8._conv_cols(np.abs(x).transpose(1, 2, 3, 0).astype(np.float64), 3, 1, 1)
    sum_x = cols.sum(0).reshape(ho, wo, -1)  # sum |x| over each window
    w_q = (np.abs(ql.wq.astype(np.float64)) * s_w[:, None]).sum(1)
    bound = (s_w[:, None, None, None] / 2 * sum_x[None] + (s_x / 2 * w_q + s_x * s_w / 2)[:, None, None, None]
             + ql.out_q.scale / 2)
    if ql.pre_q is not None:
        bound = bound + ql.pre_q.scale / 2
    assert np.all(np.abs(got - want) <= bound + 1e-6)


def test_both_gemm_paths_agree_bit_for_bit_and_files_round_trip(tmp_path):
    arch = lenet5_modified()  # dense-1 has 800 inputs: the float32 path splits the reduction in blocks
    w = init_weights(arch, 2)
    x = np.random.default_rng(2).standard_normal((8, 1, 32, 32), dtype=np.float32)
    fast = int8.quantize(arch, w, x)
    exact = int8.Int8Model(arch, w, x, gemm="int32")
    np.testing.assert_array_equal(fast.predict(x), exact.predict(x))
    back = int8.Int8Model.load(fast.save(tmp_path / "q.npz"))
    np.testing.assert_array_equal(back.predict(x), fast.predict(x))
    assert fast.param_bytes() < 0.3 * sum(v.nbytes for v in w.values())


def test_fixed_point_multipliers():
    m = np.array([1e-5, 0.003, 0.25, 0.5, 0.9999999999])
    m0, shift = int8.fixed_point(m)
    assert np.all((m0 >= 2**30) & (m0 < 2**31))
    np.testing.assert_allclose(m0 * 2.0 ** -shift.astype(np.float64), m, rtol=2**-30)
    acc = np.array([[-7], [7], [5], [-5], [1000]], np.int32)
    out = int8.requantize(acc, m0, shift, -127, 127)
    np.testing.assert_array_equal(out[:, 0], np.clip(np.floor(acc[:, 0] * m + 0.5), -127, 127))


def test_handcrafted_int8_close_to_float_and_to_torch_int8(digits, trained):
    from lenet.backends.torch import quant as torch_quant

    model, w = trained
    arch = model.arch
    calib = digits.x_train[:CALIB]
    float_top1 = evaluate(int8.float_forward(arch, w, digits.x_test), digits.y_test)["top1"]
    ours = evaluate(int8.quantize(arch, w, calib).predict(digits.x_test), digits.y_test)["top1"]
    torch_q = evaluate(torch_quant.predict(torch_quant.static_int8(model.net, calib), digits.x_test),
                       digits.y_test)["top1"]
    assert float_top1 > 0.9
    assert abs(ours - torch_q) <= 0.005, (ours, torch_q)
    assert abs(ours - float_top1) <= 0.02


def test_torch_static_and_dynamic_int8_run_close_to_float(digits, trained, tmp_path):
    from torch import nn

    from lenet.backends.torch import quant as torch_quant

    model, w = trained
    tb = get_backend("torch")
    ref = tb.predict(model, digits.x_test)
    float_top1 = evaluate(ref, digits.y_test)["top1"]
    static = torch_quant.static_int8(model.net, digits.x_train[:CALIB])
    dynamic = torch_quant.dynamic_int8(model.net)
    kinds = {f"{type(m).__module__}.{type(m).__name__}" for m in static.modules()}
    fused = "torch.ao.nn.intrinsic.quantized.modules."
    assert {fused + "conv_relu.ConvReLU2d", fused + "linear_relu.LinearReLU"} <= kinds  # conv+relu fused, int8
    assert not any(isinstance(m, nn.Flatten) for m in static.modules())  # flattening stays int8
    assert "torch.ao.nn.quantized.dynamic.modules.linear.Linear" in {
        f"{type(m).__module__}.{type(m).__name__}" for m in dynamic.modules()}
    for kind, qnet in (("static", static), ("dynamic", dynamic)):
        logits = torch_quant.predict(qnet, digits.x_test)
        assert abs(evaluate(logits, digits.y_test)["top1"] - float_top1) <= 0.02, kind
        path = tmp_path / f"{kind}.pt"
        size = torch_quant.save(qnet, path)
        assert size < 0.4 * 4 * sum(v.size for v in w.values())  # int8 weights: about a quarter
        again = torch_quant.load(kind, model.net, path, model.arch.input_shape)
        np.testing.assert_array_equal(torch_quant.predict(again, digits.x_test), logits)
        forward = torch_quant.make_forward(qnet, digits.x_test[:4])
        assert tuple(forward().shape) == (4, 10)
    assert torch_quant.int8_macs(model.arch, "dynamic") == 400 * 120 + 120 * 84 + 84 * 10


def test_tflite_full_integer_runs_close_to_float(digits, trained):
    require_backend("keras")
    from lenet.backends.keras import tflite

    _, w = trained
    kb = get_backend("keras")
    km = kb.build(lenet5(activation="relu"), seed=0)
    kb.set_weights(km, w)
    float_top1 = evaluate(kb.predict(km, digits.x_test), digits.y_test)["top1"]
    content = tflite.convert_int8(km.net, km.arch.input_shape, digits.x_train[:CALIB])
    tm = tflite.TFLiteModel(content, km.arch.input_shape)
    assert tm.in_dtype == np.int8 and tm.out_dtype == np.int8  # full integer: int8 in and out
    assert len(content) < 0.4 * 4 * sum(v.size for v in w.values())
    logits = tm.predict(digits.x_test, batch_size=100)  # several batches: the interpreter is resized
    assert abs(evaluate(logits, digits.y_test)["top1"] - float_top1) <= 0.02
    assert tm.make_forward(digits.x_test[:1])().shape == (1, 10)
