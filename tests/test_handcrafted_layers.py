"""Every handcrafted layer, three ways: float64 finite differences, naive loop references, PyTorch autograd.

Layers work batch-innermost, ``(C, H, W, N)`` for images and ``(F, N)`` for
features; the references here are written in NCHW, so tests transpose at
the edges with :func:`chwn` / :func:`nchw`.
"""
from __future__ import annotations

import numpy as np
import pytest

from lenet.backends.handcrafted import layers as L
from lenet.backends.handcrafted.conv_pool import ConvPool2D, fuses
from lenet.backends.handcrafted.losses import SoftmaxCrossEntropy

F64 = np.float64


def chwn(x):
    """NCHW -> (C, H, W, N), contiguous."""
    return np.ascontiguousarray(x.transpose(1, 2, 3, 0))


def nchw(x):
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2))


def rel_err(a, b) -> float:
    a, b = np.asarray(a, F64), np.asarray(b, F64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-30))


# --------------------------------------------------------------------------- naive references (loops)


def conv_naive(x, w, b, stride, pad):
    """Cross-correlation by four nested loops, NCHW."""
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    y = np.zeros((n, o, ho, wo))
    for i in range(n):
        for f in range(o):
            for r in range(ho):
                for s in range(wo):
                    patch = xp[i, :, r * stride:r * stride + k, s * stride:s * stride + k]
                    y[i, f, r, s] = np.sum(patch * w[f]) + b[f]
    return y


def conv_naive_backward(x, w, stride, pad, dy):
    """``(dx, dw, db)`` of :func:`conv_naive` by the same loops."""
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    _, _, ho, wo = dy.shape
    for i in range(n):
        for f in range(o):
            for r in range(ho):
                for s in range(wo):
                    win = (i, slice(None), slice(r * stride, r * stride + k), slice(s * stride, s * stride + k))
                    dw[f] += dy[i, f, r, s] * xp[win]
                    dxp[win] += dy[i, f, r, s] * w[f]
    return dxp[:, :, pad:pad + h, pad:pad + wd], dw, dy.sum(axis=(0, 2, 3))


def pool_naive(x, op, size, stride, pad, dy=None):
    """Pooling by loops, NCHW; with ``dy`` also the input gradient (max: first maximum in row-major order)."""
    n, c, h, wd = x.shape
    fill = -np.inf if op == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)
    ho, wo = (h + 2 * pad - size) // stride + 1, (wd + 2 * pad - size) // stride + 1
    y = np.zeros((n, c, ho, wo))
    dxp = np.zeros_like(xp)
    for i in range(n):
        for ch in range(c):
            for r in range(ho):
                for s in range(wo):
                    r0, s0 = r * stride, s * stride
                    win = xp[i, ch, r0:r0 + size, s0:s0 + size]
                    if op == "max":
                        best = (0, 0)
                        for a in range(size):
                            for b in range(size):
                                if win[a, b] > win[best]:
                                    best = (a, b)
                        y[i, ch, r, s] = win[best]
                        if dy is not None:
                            dxp[i, ch, r0 + best[0], s0 + best[1]] += dy[i, ch, r, s]
                    else:
                        y[i, ch, r, s] = win.sum() / size ** 2
                        if dy is not None:
                            dxp[i, ch, r0:r0 + size, s0:s0 + size] += dy[i, ch, r, s] / size ** 2
    return y, dxp[:, :, pad:pad + h, pad:pad + wd]


# --------------------------------------------------------------------------- finite differences


def numeric_grad(f, arr, eps=1e-6):
    """Central differences of the scalar ``f()`` with respect to every entry of ``arr`` (perturbed in place)."""
    grad = np.zeros(arr.shape)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        arr[idx] = old + eps
        fp = f()
        arr[idx] = old - eps
        fm = f()
        arr[idx] = old
        grad[idx] = (fp - fm) / (2 * eps)
    return grad


def check_layer_gradients(layer, x, tol=1e-7):
    """``sum(g * layer(x))`` against finite differences, for the input and every parameter."""
    rng = np.random.default_rng(1)
    g = rng.standard_normal(layer.forward(x).shape)
    loss = lambda: float(np.sum(g * layer.forward(x)))  # noqa: E731
    layer.forward(x)
    dx = layer.backward(g).copy()
    grads = {k: v.copy() for k, v in layer.grads.items()}
    assert rel_err(dx, numeric_grad(loss, x)) < tol
    for name, p in layer.params.items():
        assert rel_err(grads[name], numeric_grad(loss, p)) < tol, name


def _init_params(layer, seed=0):
    rng = np.random.default_rng(seed)
    for p in layer.params.values():
        p[...] = rng.standard_normal(p.shape) * 0.5


CONV_CASES = [  # (in, out, kernel, stride, padding, H, W)
    (2, 3, 3, 1, 0, 7, 7),
    (2, 3, 3, 2, 1, 7, 9),
    (1, 4, 5, 1, 2, 8, 8),
    (3, 2, 2, 3, 0, 8, 7),
    (2, 2, 1, 1, 0, 4, 5),
    (1, 2, 3, 1, 1, 3, 3),
]
POOL_CASES = [  # (size, stride, padding, H, W)
    (2, 2, 0, 8, 8),     # LeNet-5: disjoint windows that tile the input
    (2, 2, 1, 6, 6),     # lenet5_modified's padded pool
    (3, 2, 1, 7, 9),     # overlapping windows with padding
    (2, 1, 0, 5, 6),     # overlapping, stride 1
    (3, 3, 0, 8, 8),     # disjoint, leaves a border no window covers
    (3, 4, 1, 9, 9),     # gaps between windows
]


def _conv(case, dtype=F64):
    c, o, k, s, p, h, w = case
    layer = L.Conv2D(c, o, k, stride=s, padding=p, dtype=dtype)
    _init_params(layer)
    x = np.random.default_rng(2).standard_normal((c, h, w, 3)).astype(dtype)
    return layer, x


def _pool(op, case, dtype=F64):
    size, stride, pad, h, w = case
    x = np.random.default_rng(3).standard_normal((2, h, w, 3)).astype(dtype)
    return L.Pool2D(op, size, stride, pad, dtype=dtype), x


# --------------------------------------------------------------------------- finite-difference checks


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_gradients_finite_differences(case):
    check_layer_gradients(*_conv(case))


@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_gradients_finite_differences(op, case):
    check_layer_gradients(*_pool(op, case))  # continuous random input: no ties


def test_dense_gradients_finite_differences():
    layer = L.Dense(5, 4, dtype=F64)
    _init_params(layer)
    check_layer_gradients(layer, np.random.default_rng(4).standard_normal((5, 3)))


@pytest.mark.parametrize("fn", sorted(L.ACTIVATIONS))
@pytest.mark.parametrize("shape", [(2, 3, 4, 3), (6, 3)])
def test_activation_gradients_finite_differences(fn, shape):
    x = np.random.default_rng(5).standard_normal(shape) * 2
    x[np.abs(x) < 0.05] = 0.5  # keep relu's kink out of reach of the differences
    check_layer_gradients(L.ACTIVATIONS[fn](dtype=F64), x)


def test_flatten_gradients_finite_differences():
    check_layer_gradients(L.Flatten(dtype=F64), np.random.default_rng(6).standard_normal((2, 3, 4, 5)))


def test_loss_gradient_finite_differences():
    rng = np.random.default_rng(7)
    logits, labels = rng.standard_normal((5, 4)) * 3, np.array([0, 4, 2, 2])
    loss = SoftmaxCrossEntropy()
    loss.forward(logits, labels)
    grad = loss.backward().copy()
    assert rel_err(grad, numeric_grad(lambda: loss.forward(logits, labels), logits)) < 1e-8


def test_loss_is_stable_for_huge_logits():
    logits = np.array([[1e4, -1e4], [0.0, 3e4]], np.float32)  # (K=2, N=2)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(logits, np.array([1, 0]))  # the wrong class wins by 1e4 and by 4e4
    assert value == pytest.approx((1e4 + 4e4) / 2, rel=1e-6)
    assert np.isfinite(loss.backward()).all()


# --------------------------------------------------------------------------- fast vs naive loops


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_matches_naive_loops(case):
    layer, x = _conv(case)
    s, p = case[3], case[4]
    w, b = layer.params["weight"], layer.params["bias"]
    y = layer.forward(x)
    ref = conv_naive(nchw(x), w, b, s, p)
    np.testing.assert_allclose(nchw(y), ref, rtol=1e-12, atol=1e-12)
    dy = np.random.default_rng(8).standard_normal(y.shape)
    dx = layer.backward(dy)
    rdx, rdw, rdb = conv_naive_backward(nchw(x), w, s, p, nchw(dy))
    np.testing.assert_allclose(nchw(dx), rdx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["weight"], rdw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["bias"], rdb, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("ties", [False, True])
def test_pool_matches_naive_loops(op, case, ties):
    layer, x = _pool(op, case)
    if ties:
        x = np.maximum(np.round(x), 0)  # relu'd integers: many equal values and all-zero windows
    y = layer.forward(x)
    dy = np.random.default_rng(9).standard_normal(y.shape)
    ref_y, ref_dx = pool_naive(nchw(x), op, *case[:3], dy=nchw(dy))
    np.testing.assert_allclose(nchw(y), ref_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nchw(layer.backward(dy)), ref_dx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size, stride", [(1, 1), (3, 1), (2, 2), (5, 1), (3, 2), (6, 2)])
@pytest.mark.parametrize("contiguous", [True, False])
def test_patch_windows_is_a_view_of_every_window_tap(size, stride, contiguous):
    base = np.random.default_rng(0).standard_normal((2, 11, 13, 6))
    src = base if contiguous else base[:, :, :, ::2]  # batch stride 2: the view still reads src itself
    h, w = src.shape[1:3]
    oh, ow = (h - size) // stride + 1, (w - size) // stride + 1
    win = L.patch_windows(src, size, stride, oh, ow)
    assert win.shape == (2, size, size, oh, ow, src.shape[3]) and np.shares_memory(win, src)
    for i in range(size):
        for j in range(size):
            np.testing.assert_array_equal(win[:, i, j], src[:, i:i + stride * (oh - 1) + 1:stride,
                                                           j:j + stride * (ow - 1) + 1:stride])
    with pytest.raises(ValueError, match="do not fit a 11x13 input"):
        L.patch_windows(src, size, stride, oh + 1, ow)


# --------------------------------------------------------------------------- conv + pool as one product

CONV_POOL_CASES = [  # (in, out, kernel, padding, H, W): even convolution outputs
    (1, 4, 5, 2, 8, 8),     # LeNet-5's conv1 (padded), its pool after
    (3, 5, 5, 0, 10, 12),   # LeNet-5's conv2 shape, several channels, not square
    (2, 3, 3, 1, 6, 4),
    (2, 2, 1, 0, 4, 6),     # 1x1 filters: 2x2 patches
    (2, 3, 2, 0, 5, 7),     # 2x2 filters: odd 3x3 patches, an odd input
]


def _conv_pool(case, op, dtype=F64, integers=False):
    c, o, k, p, h, w = case
    conv, pool = L.Conv2D(c, o, k, padding=p, dtype=dtype), L.Pool2D(op, 2, dtype=dtype)
    _init_params(conv)
    x = np.random.default_rng(11).standard_normal((c, h, w, 3))
    if integers:  # exact sums in any order: equal outputs tie exactly, in both computations
        for arr in conv.params.values():
            arr[...] = np.round(arr * 2)
        x = np.round(x)
        x[:, :h // 2] = 0  # zero rows: whole blocks equal to the bias
    return ConvPool2D(conv, pool, (c, h, w)), x.astype(dtype)


def _conv_pool_naive(layer, x, dy):
    """Output, input gradient, weight and bias gradients of conv then pool, by the naive loops."""
    w, b, p = layer.params["weight"], layer.params["bias"], layer.conv.padding
    y_conv = conv_naive(nchw(x), w, b, 1, p)
    y, dy_conv = pool_naive(y_conv, layer.pool.op, 2, 2, 0, dy=nchw(dy))
    return (y, *conv_naive_backward(nchw(x), w, 1, p, dy_conv))


@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("case", CONV_POOL_CASES)
def test_conv_pool_gradients_finite_differences(op, case):
    check_layer_gradients(*_conv_pool(case, op))


@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("case", CONV_POOL_CASES)
@pytest.mark.parametrize("integers", [False, True])
def test_conv_pool_matches_naive_loops(op, case, integers):
    layer, x = _conv_pool(case, op, integers=integers)
    y = layer.forward(x)
    dy = np.random.default_rng(12).standard_normal(y.shape)
    dx = layer.backward(dy)
    ref_y, ref_dx, ref_dw, ref_db = _conv_pool_naive(layer, x, dy)
    if integers and op == "max":
        assert (np.diff(np.sort(ref_y.reshape(-1))) == 0).any()  # the case has ties to route
    np.testing.assert_allclose(nchw(y), ref_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nchw(dx), ref_dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["weight"], ref_dw, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(layer.grads["bias"], ref_db, rtol=1e-12, atol=1e-11)


def test_conv_pool_float32_matches_float64_and_shares_the_conv_arrays():
    layer64, x = _conv_pool(CONV_POOL_CASES[1], "max")
    layer32, _ = _conv_pool(CONV_POOL_CASES[1], "max", dtype=np.float32)
    assert layer32.params is layer32.conv.params and layer32.grads is layer32.conv.grads
    y32 = layer32.forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, layer64.forward(x), rtol=1e-5, atol=1e-5)
    layer32.params["bias"][...] += 1  # an in-place update, as the optimizer makes, is seen by the next call
    np.testing.assert_allclose(layer32.forward(x.astype(np.float32)), layer64.forward(x) + 1, rtol=1e-5, atol=1e-5)


def test_conv_pool_writes_the_placements_only_when_the_weights_changed(monkeypatch):
    layer, x = _conv_pool(CONV_POOL_CASES[1], "max")
    writes = []
    write = ConvPool2D._write_placements
    monkeypatch.setattr(ConvPool2D, "_write_placements", lambda self: (writes.append(1), write(self))[1])
    y0 = layer.forward(x).copy()
    for _ in range(3):
        np.testing.assert_array_equal(layer.forward(x), y0)
    assert len(writes) == 1
    layer.params["bias"][...] += 1  # written in place, as the optimizer does
    np.testing.assert_allclose(layer.forward(x), y0 + 1, rtol=1e-12, atol=1e-12)
    layer.params["weight"][0, 0, 0, 0] += 0.5
    layer.forward(x)
    assert len(writes) == 3
    ref, _ = _conv_pool(CONV_POOL_CASES[1], "max")  # a fresh layer, given the weights as they are now
    for name, value in layer.params.items():
        np.copyto(ref.params[name], value)
    np.testing.assert_array_equal(layer.forward(x), ref.forward(x))


def test_conv_pool_refuses_what_it_cannot_fuse_and_stale_backward():
    conv, max2 = L.Conv2D(2, 3, 3), L.Pool2D("max", 2)
    for other, shape, why in [(max2, (2, 7, 7), "5x5 output"), (L.Pool2D("max", 3), (2, 8, 8), "3x3 stride-3"),
                              (L.Pool2D("max", 2, padding=1), (2, 8, 8), "padded by 1")]:
        assert not fuses(conv, other, shape)
        with pytest.raises(ValueError, match=why):
            ConvPool2D(conv, other, shape)
    assert not fuses(L.Conv2D(2, 3, 3, stride=2), max2, (2, 9, 9))
    layer, x = _conv_pool(CONV_POOL_CASES[2], "max")
    with pytest.raises(ValueError, match="expects 2 input channels"):
        layer.forward(x[:1])
    y = layer.forward(x)
    with pytest.raises(ValueError, match="dy has shape"):
        layer.backward(y[..., :1])


# --------------------------------------------------------------------------- float32 path and buffers


def test_float32_conv_matches_float64():
    layer64, x = _conv(CONV_CASES[1])
    layer32 = L.Conv2D(*CONV_CASES[1][:3], stride=2, padding=1, dtype=np.float32)
    for k in layer64.params:
        layer32.params[k][...] = layer64.params[k]
    y32 = layer32.forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, layer64.forward(x), rtol=1e-5, atol=1e-5)


def test_buffers_are_reused_and_shapes_may_change():
    layer, x = _conv(CONV_CASES[0])
    y1 = layer.forward(x)
    first = y1.copy()
    y2 = layer.forward(x * 2)
    assert y2 is y1  # same workspace for the same input shape
    x_small = x[..., :1].copy()
    y3 = layer.forward(x_small)  # another batch size gets its own workspace
    np.testing.assert_allclose(y3, conv_naive(nchw(x_small), layer.params["weight"], layer.params["bias"], 1, 0)
                               .transpose(1, 2, 3, 0), atol=1e-12)
    np.testing.assert_allclose(layer.forward(x), first, atol=1e-12)


def test_conv_rejects_wrong_channels_and_stale_backward():
    layer, x = _conv(CONV_CASES[0])
    with pytest.raises(ValueError, match="expects 2 input channels"):
        layer.forward(x[:1])
    y = layer.forward(x)
    with pytest.raises(ValueError, match="dy has shape"):
        layer.backward(y[..., :1])


# --------------------------------------------------------------------------- PyTorch oracle

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the oracle tests skip; everything above still runs
    torch = TF = None
_no_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed: pip install 'lenet-bench[torch]'")


def requires_torch(fn):
    return pytest.mark.requires_torch(_no_torch(fn))


IMAGE = (chwn, nchw)  # batch-first <-> internal for (N, C, H, W)
FEATURES = (lambda a: np.ascontiguousarray(a.T), lambda a: np.ascontiguousarray(a.T))  # (N, F) <-> (F, N)


def _t(a, grad=False):
    return torch.tensor(np.ascontiguousarray(a), dtype=torch.float64, requires_grad=grad)


def _oracle(layer, x, torch_fn, params=(), x_layout=IMAGE, y_layout=IMAGE):
    """Run ``layer`` and ``torch_fn`` on the same batch-first input and upstream gradient.

    Compares the output and the input gradient (tight, float64) and returns
    torch's parameter gradients for the caller to compare.
    """
    xt = _t(x, grad=True)
    pts = [_t(p, grad=True) for p in params]
    yt = torch_fn(xt, *pts)
    g = np.random.default_rng(10).standard_normal(tuple(yt.shape))
    yt.backward(_t(g))
    y = layer.forward(x_layout[0](x))
    np.testing.assert_allclose(y_layout[1](y), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    dx = layer.backward(y_layout[0](g))
    np.testing.assert_allclose(x_layout[1](dx), xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    return [p.grad.numpy() for p in pts]


@requires_torch
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_matches_torch(case):
    layer, x = _conv(case)
    s, p = case[3], case[4]
    dw, db = _oracle(layer, nchw(x), lambda xt, w, b: TF.conv2d(xt, w, b, stride=s, padding=p),
                     (layer.params["weight"], layer.params["bias"]))
    np.testing.assert_allclose(layer.grads["weight"], dw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["bias"], db, rtol=1e-12, atol=1e-12)


@requires_torch
@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("case", CONV_POOL_CASES)
def test_conv_pool_matches_torch(op, case):
    layer, x = _conv_pool(case, op, integers=True)  # ties too: torch routes them to the first maximum
    p = case[3]
    dw, db = _oracle(layer, nchw(x), lambda xt, w, b: _torch_pool(op, 2, 2, 0)(TF.conv2d(xt, w, b, padding=p)),
                     (layer.params["weight"], layer.params["bias"]))
    np.testing.assert_allclose(layer.grads["weight"], dw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["bias"], db, rtol=1e-12, atol=1e-12)


def _torch_pool(op, size, stride, pad):
    if op == "max":
        return lambda xt: TF.max_pool2d(xt, size, stride, pad)
    return lambda xt: TF.avg_pool2d(xt, size, stride, pad, count_include_pad=True)


@requires_torch
@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_matches_torch(op, case):
    layer, x = _pool(op, case)
    _oracle(layer, nchw(x), _torch_pool(op, *case[:3]))


@requires_torch
@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool_routes_ties_to_the_first_maximum_like_torch(case):
    """Ties are common after relu (all-zero windows): the gradient goes to the FIRST maximum, as in torch."""
    layer, x = _pool("max", case)
    x = np.maximum(np.round(x * 1.5), 0)  # relu'd integers: all-zero windows and equal positive values
    x_nchw = nchw(x)
    assert (pool_naive(x_nchw, "max", *case[:3])[0] == 0).any()
    _oracle(layer, x_nchw, _torch_pool("max", *case[:3]))


class _Chain:
    """Layers in sequence, as one layer."""

    def __init__(self, *layers):
        self.layers = layers

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy


@requires_torch
@pytest.mark.parametrize("case", POOL_CASES)
def test_relu_then_max_pool_matches_torch(case):
    layer, x = _pool("max", case)
    x = np.round(x * 1.5)  # integers: relu leaves exact zeros and ties
    _oracle(_Chain(L.ReLU(dtype=F64), layer), nchw(x), lambda xt: TF.max_pool2d(TF.relu(xt), *case[:3]))


@requires_torch
def test_dense_matches_torch():
    layer = L.Dense(5, 4, dtype=F64)
    _init_params(layer)
    x = np.random.default_rng(11).standard_normal((3, 5))  # (N, F) for torch
    dw, db = _oracle(layer, x, lambda xt, w, b: TF.linear(xt, w.T, b), (layer.params["weight"], layer.params["bias"]),
                     x_layout=FEATURES, y_layout=FEATURES)
    np.testing.assert_allclose(layer.grads["weight"], dw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["bias"], db, rtol=1e-12, atol=1e-12)


TORCH_ACTS = {"tanh": "tanh", "relu": "relu", "sigmoid": "sigmoid", "swish": "silu"}  # torch.nn.functional names


@requires_torch
@pytest.mark.parametrize("fn", sorted(L.ACTIVATIONS))
def test_activations_match_torch(fn):
    x = np.random.default_rng(12).standard_normal((3, 2, 4, 5)) * 4
    x[0, 0, 0, :2] = 0.0  # relu's gradient at exactly 0 is 0 in both
    x[0, 0, 1, 0] = -40.0  # far into the sigmoid's tail
    _oracle(L.ACTIVATIONS[fn](dtype=F64), x, getattr(TF, TORCH_ACTS[fn]))


@requires_torch
def test_flatten_matches_torch_flatten_order():
    x = np.random.default_rng(13).standard_normal((3, 2, 4, 5))
    _oracle(L.Flatten(dtype=F64), x, lambda xt: torch.flatten(xt, 1), y_layout=FEATURES)


@requires_torch
def test_loss_matches_torch_cross_entropy():
    rng = np.random.default_rng(14)
    logits, labels = rng.standard_normal((6, 10)) * 3, rng.integers(0, 10, 6)  # (N, K) for torch
    lt = _t(logits, grad=True)
    ref = TF.cross_entropy(lt, torch.tensor(labels))
    ref.backward()
    loss = SoftmaxCrossEntropy()
    assert loss.forward(np.ascontiguousarray(logits.T), labels) == pytest.approx(ref.item(), rel=1e-13)
    np.testing.assert_allclose(loss.backward().T, lt.grad.numpy(), rtol=1e-12, atol=1e-14)
