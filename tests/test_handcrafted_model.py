"""The handcrafted network as a whole: gradients, PyTorch oracle, optimizers, training, the backend contract."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lenet.backends import Model, get_backend
from lenet.backends.common import InputShapeError
from lenet.backends.handcrafted import backend as hc
from lenet.backends.handcrafted.conv_pool import ConvPool2D
from lenet.backends.handcrafted.optim import SGD, Adam
from lenet.io.weights import WeightsError
from lenet.spec import lenet5, lenet5_modified, mlp
from lenet.training import TrainConfig

try:
    import torch
except ImportError:
    torch = None
requires_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed: pip install 'lenet-bench[torch]'")

F64 = np.float64
ARCHS = {
    "lenet5-tanh-max": lambda: lenet5(activation="tanh", pool="max"),
    "lenet5-relu-max": lambda: lenet5(activation="relu", pool="max"),  # pools before its relus (model.py)
    "lenet5-relu-avg": lambda: lenet5(activation="relu", pool="avg"),
    "lenet5-modified": lambda: lenet5_modified(),  # swish, padded conv and pool, an extra 3x3 conv
    "mlp": lambda: mlp(hidden=(20,), input_shape=(1, 8, 8), activation="sigmoid"),
}


def rel_err(a, b) -> float:
    a, b = np.asarray(a, F64), np.asarray(b, F64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-30))


def _batch(arch, n=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *arch.input_shape)), rng.integers(0, arch.num_classes, n)


# --------------------------------------------------------------------------- whole-network gradients


@pytest.mark.parametrize("name, fused", [("lenet5-tanh-max", [0, 3]), ("lenet5-relu-max", [0, 3]),
                                         ("lenet5-relu-avg", []), ("lenet5-modified", []), ("mlp", [])])
def test_a_conv_runs_with_the_max_pool_after_it_as_one_product(name, fused):
    """Fused: a conv that a 2x2 pool follows once a monotonic activation has moved after the pool.

    relu then an average pool, and swish then a max-pool, stay apart: neither pair commutes.
    """
    net = hc.build(ARCHS[name](), seed=0).net
    got = [i for i in net.arch.param_layers() for layer in net.layers
           if isinstance(layer, ConvPool2D) and layer.params["weight"] is net.weights[f"{i}.weight"]]
    assert got == fused


@pytest.mark.parametrize("name", ARCHS)
def test_network_gradients_finite_differences(name):
    """float64 central differences on a sample of every weight tensor and of the input."""
    arch = ARCHS[name]()
    net = hc.build(arch, seed=1, dtype=F64).net
    x, y = _batch(arch)
    xb = net.to_internal(x).copy()

    def loss():
        return net.loss.forward(net.forward(xb), y)

    loss()
    net.backward(net.loss.backward())
    grads = {k: g.copy() for k, g in net.grads.items()}
    loss()
    dx = net.backward(net.loss.backward(), need_input_grad=True).copy()
    rng = np.random.default_rng(2)
    # input gradients are ~1e-5, so a step of 1e-6 would drown them in the loss's rounding (~1e-16 * 2.3 / eps)
    checks = [*((k, net.weights[k], grads[k], 1e-6) for k in net.weights), ("input", xb, dx, 1e-4)]
    for name_, arr, analytic, eps in checks:
        flat, ana = arr.reshape(-1), analytic.reshape(-1)
        picks = rng.choice(flat.size, size=min(flat.size, 12), replace=False)
        num = np.empty(len(picks))
        for j, i in enumerate(picks):
            old = flat[i]
            flat[i] = old + eps
            fp = loss()
            flat[i] = old - eps
            fm = loss()
            flat[i] = old
            num[j] = (fp - fm) / (2 * eps)
        assert rel_err(ana[picks], num) < 1e-6, name_


@requires_torch
@pytest.mark.parametrize("name", ARCHS)
def test_network_matches_torch_autograd(name):
    """Same weights, same batch: logits, loss, every weight gradient and the input gradient (float64)."""
    arch = ARCHS[name]()
    net = hc.build(arch, seed=3, dtype=F64).net
    tnet = _torch_sequential(arch, net.weights)
    x, y = _batch(arch, n=5, seed=4)
    xt = torch.tensor(x, requires_grad=True)
    out = tnet(xt)
    ref = torch.nn.functional.cross_entropy(out, torch.tensor(y))
    ref.backward()
    xb = net.to_internal(x)
    loss, logits = net.loss_and_grads(xb, y)
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(logits.T, out.detach().numpy(), rtol=1e-11, atol=1e-12)
    for key, p in tnet.named_parameters():
        g = p.grad.numpy()
        np.testing.assert_allclose(net.grads[key], g.T if g.ndim == 2 else g, rtol=1e-10, atol=1e-14, err_msg=key)
    loss, logits = net.loss_and_grads(xb, y)
    dx = net.backward(net.loss.backward(), need_input_grad=True)
    np.testing.assert_allclose(dx.transpose(3, 0, 1, 2), xt.grad.numpy(), rtol=1e-10, atol=1e-15)


def _torch_sequential(arch, weights):
    nn = torch.nn
    mods = []
    for i, (layer, shape) in enumerate(zip(arch.layers, arch.input_shapes())):
        if layer.kind == "conv":
            m = nn.Conv2d(shape[0], layer.out_channels, layer.kernel, layer.stride, layer.padding, dtype=torch.float64)
        elif layer.kind == "dense":
            m = nn.Linear(shape[0], layer.units, dtype=torch.float64)
        elif layer.kind == "pool":
            m = (nn.MaxPool2d(layer.size, layer.step, layer.padding) if layer.op == "max"
                 else nn.AvgPool2d(layer.size, layer.step, layer.padding, count_include_pad=True))
        elif layer.kind == "act":
            m = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "swish": nn.SiLU}[layer.fn]()
        else:
            m = nn.Flatten()
        if layer.kind in ("conv", "dense"):
            w = weights[f"{i}.weight"]
            with torch.no_grad():
                m.weight.copy_(torch.tensor(w.T if layer.kind == "dense" else w))
                m.bias.copy_(torch.tensor(weights[f"{i}.bias"]))
        mods.append(m)
    return nn.Sequential(*mods)


# --------------------------------------------------------------------------- optimizers


@requires_torch
@pytest.mark.parametrize("kind", ["sgd", "sgd-nomomentum", "adam"])
def test_optimizer_steps_match_torch(kind):
    rng = np.random.default_rng(5)
    params = [rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal((2, 1, 3, 3))]
    grads = [np.zeros_like(p) for p in params]
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    wd = 0.01
    if kind == "adam":
        ours, theirs = Adam(params, grads, weight_decay=wd), torch.optim.Adam(tparams, lr=1.0, weight_decay=wd)
    else:
        m = 0.9 if kind == "sgd" else 0.0
        ours = SGD(params, grads, momentum=m, weight_decay=wd)
        theirs = torch.optim.SGD(tparams, lr=1.0, momentum=m, weight_decay=wd)
    for step, lr in enumerate([1e-2, 1e-2, 5e-3, 5e-3, 1e-3]):
        for g, tp in zip(grads, tparams):
            g[...] = rng.standard_normal(g.shape)
            tp.grad = torch.tensor(g.copy())
        for group in theirs.param_groups:
            group["lr"] = lr
        theirs.step()
        ours.step(lr)
        for p, tp in zip(params, tparams):
            np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-13, atol=1e-15, err_msg=f"step {step}")


def test_optimizer_leaves_gradients_alone_and_rejects_mismatches():
    p, g = np.ones(3), np.full(3, 2.0)
    SGD([p], [g], momentum=0.9, weight_decay=0.5).step(0.1)
    np.testing.assert_array_equal(g, 2.0)
    np.testing.assert_allclose(p, 1 - 0.1 * (2 + 0.5))
    with pytest.raises(ValueError, match="differ"):
        Adam([np.ones(3)], [np.ones(4)])


# --------------------------------------------------------------------------- trainer and training


def test_trainer_step_is_one_forward_backward_and_update():
    arch = lenet5()
    rng = np.random.default_rng(6)
    x = rng.standard_normal((40, 1, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, 40)
    model = hc.build(arch, seed=0)
    before = hc.get_weights(model)
    tr = hc.trainer(model, x, y, TrainConfig(optimizer="sgd", lr=0.1, momentum=0.0))
    idx = np.array([3, 17, 0, 39, 8])
    expected = hc.predict(model, x[idx])
    loss, logits = tr.step(idx, 0.1)
    assert logits.shape == (5, 10) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
    from lenet.metrics import cross_entropy

    assert loss == pytest.approx(cross_entropy(expected, y[idx]), rel=1e-5)
    after = hc.get_weights(model)
    net = model.net
    for k in before:  # plain SGD: w1 = w0 - lr * grad
        np.testing.assert_allclose(after[k], before[k] - 0.1 * net.grads[k], rtol=1e-5, atol=1e-7)
    with pytest.raises(IndexError):
        tr.step(np.array([40]), 0.1)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_micro_batches_make_the_same_step_as_the_whole_batch(optimizer):
    """A batch split into chunks (gradients summed, one update) trains exactly like the whole batch."""
    arch = lenet5_modified()
    rng = np.random.default_rng(11)
    x = rng.standard_normal((30, *arch.input_shape), dtype=np.float32)
    y = rng.integers(0, 10, 30)
    config = TrainConfig(optimizer=optimizer, lr=1e-2, weight_decay=1e-3)
    whole, split = hc.build(arch, seed=5, dtype=F64), hc.build(arch, seed=5, dtype=F64)
    t_whole, t_split = hc.trainer(whole, x, y, config, chunk=64), hc.trainer(split, x, y, config, chunk=7)
    for idx in (rng.permutation(30)[:23], rng.permutation(30)[:23], np.arange(7)):
        loss_w, logits_w = t_whole.step(idx, 1e-2)
        loss_s, logits_s = t_split.step(idx, 1e-2)
        assert loss_s == pytest.approx(loss_w, rel=1e-12)
        np.testing.assert_allclose(logits_s, logits_w, rtol=1e-6)  # float32 on the way out
        np.testing.assert_allclose(split.net.flat_params, whole.net.flat_params, rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module")
def digits():
    from lenet.data import load_dataset

    return load_dataset("digits")


def test_lenet5_learns_digits(digits):
    """The handcrafted LeNet-5 must learn: >= 97% test top-1 on digits in a few seconds."""
    model = hc.build(lenet5(num_classes=digits.num_classes, in_channels=digits.input_shape[0],
                            input_size=digits.input_shape[1]), seed=1)
    # The study's digits recipe (lenet.study.profiles).  On digits' 359 test images LeNet-5 lands at 96.4-97.8%
    # depending on the seed (mean 97.2% over seeds 0-5, as measured), so 97% is near its ceiling here;
    # seed 1 gives 97.5%.  Everything is seeded, so the result is reproducible.
    config = TrainConfig(epochs=20, batch_size=32, optimizer="adam", lr=2e-3, seed=1)
    history = hc.train(model, digits, config, progress=False)
    assert len(history.epochs) == 20
    assert history.epochs[-1]["train_loss"] < history.epochs[0]["train_loss"]
    logits = hc.predict(model, digits.x_test)
    accuracy = float((logits.argmax(axis=1) == digits.y_test).mean())
    assert accuracy >= 0.97, history.format()


# --------------------------------------------------------------------------- backend contract


def test_build_uses_the_shared_initial_weights_and_cpu_only():
    from lenet.init import init_weights

    arch = lenet5()
    model = hc.build(arch, seed=7)
    assert isinstance(model, Model) and model.backend == "handcrafted" and model.device == "cpu"
    w = hc.get_weights(model)
    ref = init_weights(arch, 7)
    assert set(w) == set(arch.weight_shapes())
    assert all(w[k].dtype == np.float32 and np.array_equal(w[k], ref[k]) for k in ref)
    w["0.weight"][...] = 0  # get_weights returns copies
    assert np.array_equal(hc.get_weights(model)["0.weight"], ref["0.weight"])
    with pytest.raises(ValueError, match="CPU only.*'cuda'"):
        hc.build(arch, device="cuda")
    assert hc.devices() == ["cpu"]


def test_predict_shapes_batches_and_errors():
    arch = lenet5()
    model = hc.build(arch, seed=0)
    x = np.random.default_rng(8).standard_normal((37, 1, 32, 32), dtype=np.float32)
    full = hc.predict(model, x)
    assert full.shape == (37, 10) and full.dtype == np.float32
    np.testing.assert_allclose(hc.predict(model, x, batch_size=5), full, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hc.predict(model, x[:1]), full[:1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hc.predict(model, x.astype(F64)), full, rtol=1e-5, atol=1e-6)
    assert hc.predict(model, x[:0]).shape == (0, 10)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        hc.predict(model, x[:1], batch_size=0)
    with pytest.raises(InputShapeError, match=r"expects input of shape \(N, 1, 32, 32\).*got \(37, 32, 32\)"):
        hc.predict(model, x[:, 0])
    with pytest.raises(InputShapeError, match="got \\(2, 1, 28, 28\\)"):
        hc.predict(model, np.zeros((2, 1, 28, 28), np.float32))


def test_float64_model_agrees_with_float32():
    arch = lenet5_modified()
    x, _ = _batch(arch, n=4, seed=9)
    p32 = hc.predict(hc.build(arch, seed=2), x)
    m64 = hc.build(arch, seed=2, dtype=F64)
    assert m64.net.dtype == F64
    np.testing.assert_allclose(hc.predict(m64, x), p32, rtol=1e-4, atol=1e-5)


def test_save_load_round_trip_is_exact(tmp_path):
    arch = lenet5(activation="relu", pool="avg")
    model = hc.build(arch, seed=4)
    x, _ = _batch(arch, n=6, seed=10)
    hc.save(model, tmp_path / "m.npz")
    loaded = hc.load(tmp_path / "m.npz")
    assert loaded.arch == arch and loaded.backend == "handcrafted"
    w0, w1 = hc.get_weights(model), hc.get_weights(loaded)
    assert all(np.array_equal(w0[k], w1[k]) for k in w0)
    np.testing.assert_array_equal(hc.predict(loaded, x), hc.predict(model, x))
    with pytest.raises(ValueError, match="CPU only"):
        hc.load(tmp_path / "m.npz", device="gpu")


def test_set_weights_checks_names_and_shapes():
    arch = lenet5()
    model = hc.build(arch, seed=0)
    w = hc.get_weights(model)
    bad = dict(w, **{"3.weight": np.zeros((16, 6, 3, 3), np.float32)})
    with pytest.raises(WeightsError, match=r"'3.weight' has shape \(16, 6, 3, 3\).*expects \(16, 6, 5, 5\)"):
        hc.set_weights(model, bad)
    with pytest.raises(WeightsError, match=r"missing \['11.bias'\]"):
        hc.set_weights(model, {k: v for k, v in w.items() if k != "11.bias"})
    assert all(np.array_equal(hc.get_weights(model)[k], w[k]) for k in w)  # nothing half-applied
    new = {k: v + 1 for k, v in w.items()}
    hc.set_weights(model, new)
    assert all(np.array_equal(hc.get_weights(model)[k], new[k]) for k in w)


def test_environment_functions():
    assert hc.versions() == {"numpy": np.__version__}
    from lenet.measure.threads import requested

    # the BLAS limit lenet.measure.threads would apply, and as many worker threads
    assert hc.set_threads(requested()) == hc.thread_counts() == {"handcrafted_workers": requested()}
    with pytest.raises(ValueError, match="positive integer"):
        hc.set_threads(0)
    assert get_backend("handcrafted") is hc


def test_importing_the_backend_imports_no_framework():
    code = ("import sys, lenet.backends.handcrafted.backend as hc, lenet.spec as s; hc.build(s.lenet5()); "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_make_forward_matches_predict_across_chunks():
    """The timed forward pass (input converted beforehand) gives predict's logits, chunk buffers included."""
    from lenet.backends import get_backend

    hc = get_backend("handcrafted")
    model = hc.build(lenet5(), seed=1)
    x = np.random.default_rng(0).standard_normal((300, 1, 32, 32), dtype=np.float32)
    forward = hc.make_forward(model, x)
    np.testing.assert_array_equal(forward(), hc.predict(model, x))
    assert hc.count_flops(model, 8) == {} and hc.peak_memory(model) is None


@pytest.fixture
def workers():
    """Set the backend's thread count; the one in force comes back afterwards."""
    from lenet.measure.threads import requested

    yield hc.set_threads
    hc.set_threads(requested())


@pytest.mark.parametrize("arch_name", ["lenet5-tanh-max", "lenet5-relu-max"])
def test_worker_threads_give_the_logits_and_the_step_of_one_thread(arch_name, workers):
    """Batch chunks on 2 or 3 threads, odd batches that split unevenly, several micro-batches per thread:
    the logits and one training step are those of one thread running each batch whole."""
    arch = ARCHS[arch_name]()
    rng = np.random.default_rng(12)
    x = rng.standard_normal((301, *arch.input_shape), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    idx = rng.permutation(len(x))[:77]
    config = TrainConfig(optimizer="sgd", lr=0.1)  # linear in the gradient (Adam's first step divides by |g|)
    runs = {}
    for threads, chunk in ((1, 256), (2, 256), (2, 16), (3, 16)):
        workers(threads)
        model = hc.build(arch, seed=3)
        logits, forward = hc.predict(model, x), hc.make_forward(model, x[:77])().copy()
        loss, step_logits = hc.trainer(model, x, y, config, chunk=chunk).step(idx, 0.1)
        runs[threads, chunk] = logits, forward, loss, step_logits, model.net.flat_params.copy()
    whole = runs.pop((1, 256))
    for split in runs.values():
        for a, b in zip(split[:2] + split[3:], whole[:2] + whole[3:]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        assert split[2] == pytest.approx(whole[2], rel=1e-6)


def test_batches_write_the_fused_placements_once_and_see_every_update(workers, monkeypatch):
    """The fused conv-pools write their filters' placements once per replica while the weights stay the
    same, and anew after every training step: the logits are those of a fresh net with the same weights."""
    arch = ARCHS["lenet5-tanh-max"]()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, *arch.input_shape), dtype=np.float32)  # 10 inference chunks
    y = rng.integers(0, 10, len(x))
    steps = [rng.permutation(len(x))[:64] for _ in range(3)]
    writes = []
    write = ConvPool2D._write_placements
    monkeypatch.setattr(ConvPool2D, "_write_placements", lambda self: (writes.append(self), write(self))[1])
    runs = {}
    for threads, chunk in ((1, 256), (2, 16)):  # 16: two micro-batches per worker and step
        workers(threads)
        model = hc.build(arch, seed=3)
        writes.clear()
        before = hc.predict(model, x)
        assert len(writes) == 2 * threads  # two fused layers, in each replica, for ten chunks
        np.testing.assert_array_equal(hc.predict(model, x), before)
        assert len(writes) == 2 * threads
        tr = hc.trainer(model, x, y, TrainConfig(optimizer="sgd", lr=0.1), chunk=chunk)
        for idx in steps:
            tr.step(idx, 0.1)
        runs[threads] = before, hc.predict(model, x), model.net.flat_params.copy()
        ref = hc.build(arch, seed=0)  # a fresh net given the trained weights: nothing stale was used
        hc.set_weights(ref, hc.get_weights(model))
        np.testing.assert_array_equal(hc.predict(ref, x), runs[threads][1])
    one, two = runs[1], runs[2]
    assert np.abs(one[1] - one[0]).max() > 1e-2  # the steps changed the logits
    for a, b in zip(two, one):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
