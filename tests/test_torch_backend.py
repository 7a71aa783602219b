"""PyTorch backend: translation of the spec, weight layout, inference, training step, devices, threads."""
from __future__ import annotations

import numpy as np
import pytest

from lenet.testing import require_backend

require_backend("torch")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from lenet.backends import DeviceError, get_backend  # noqa: E402
from lenet.backends.common import InputShapeError  # noqa: E402
from lenet.data.base import Dataset  # noqa: E402
from lenet.init import init_weights  # noqa: E402
from lenet.io.weights import WeightsError  # noqa: E402
from lenet.measure import threads  # noqa: E402
from lenet.metrics import cross_entropy  # noqa: E402
from lenet.spec import Arch, Dense, Flatten, Pool, lenet5, lenet5_modified, mlp  # noqa: E402
from lenet.training import TrainConfig  # noqa: E402

tb = get_backend("torch")


def _x(arch, n=6, seed=0):
    return np.random.default_rng(seed).standard_normal((n, *arch.input_shape), dtype=np.float32)


def test_sequential_mirrors_the_spec():
    arch = lenet5_modified()
    model = tb.build(arch)
    assert model.backend == "torch" and model.device == "cpu"
    types = [type(m) for m in model.net]
    assert types == [nn.Conv2d, nn.SiLU, nn.MaxPool2d, nn.Conv2d, nn.SiLU, nn.MaxPool2d, nn.Conv2d, nn.SiLU,
                     nn.Flatten, nn.Linear, nn.SiLU, nn.Linear, nn.SiLU, nn.Linear]
    assert model.net[3].padding == (1, 1) and model.net[5].padding == 1
    assert set(model.net.state_dict()) == set(arch.weight_shapes())


def test_starts_from_the_shared_init_with_dense_transposed():
    arch = lenet5()
    model = tb.build(arch, seed=3)
    expected = init_weights(arch, 3)
    got = tb.get_weights(model)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])
    # torch's Linear keeps (out, in); the canonical layout is (in, out)
    np.testing.assert_array_equal(model.net[7].weight.detach().numpy(), expected["7.weight"].T)
    np.testing.assert_array_equal(model.net[0].weight.detach().numpy(), expected["0.weight"])


def test_mlp_matches_a_numpy_forward():
    arch = mlp(hidden=(20,), input_shape=(1, 6, 6), activation="tanh")
    model = tb.build(arch, seed=1)
    w = tb.get_weights(model)
    x = _x(arch)
    ref = np.tanh(x.reshape(len(x), -1) @ w["1.weight"] + w["1.bias"]) @ w["3.weight"] + w["3.bias"]
    np.testing.assert_allclose(tb.predict(model, x), ref, atol=1e-5)


def test_max_pool_padding_is_minus_infinity_and_avg_counts_zeros():
    pool_max = tb.build(lenet5_modified()).net[5]
    out = pool_max(-torch.ones(1, 1, 4, 4))
    assert (out == -1).all(), "padded max-pool must not see zeros"
    arch = Arch("avgpad", (1, 4, 4), 2, (Pool("avg", 2, padding=1), Flatten(), Dense(2)))
    out = tb.build(arch).net[0](torch.ones(1, 1, 4, 4))
    np.testing.assert_allclose(out[0, 0].numpy(), [[.25, .5, .25], [.5, 1, .5], [.25, .5, .25]])


def test_set_weights_round_trip_and_checks():
    arch = lenet5()
    model = tb.build(arch)
    new = init_weights(arch, 7)
    tb.set_weights(model, new)
    got = tb.get_weights(model)
    assert all(np.array_equal(got[k], new[k]) and got[k].dtype == np.float32 for k in new)
    bad = dict(new, **{"7.weight": new["7.weight"].T})
    with pytest.raises(WeightsError, match=r"'7.weight' has shape \(120, 400\).*expects \(400, 120\)"):
        tb.set_weights(model, bad)
    with pytest.raises(WeightsError, match="NaN"):
        tb.set_weights(model, dict(new, **{"0.bias": np.full(6, np.nan, np.float32)}))
    with pytest.raises(WeightsError, match=r"missing \['0.bias'\]"):
        tb.set_weights(model, {k: v for k, v in new.items() if k != "0.bias"})


def test_predict_batches_validates_and_leaves_no_grad():
    arch = lenet5()
    model = tb.build(arch)
    x = _x(arch, 9)
    full = tb.predict(model, x)
    assert full.dtype == np.float32 and full.shape == (9, 10)
    np.testing.assert_allclose(tb.predict(model, x, batch_size=4), full, atol=1e-6)
    np.testing.assert_allclose(tb.predict(model, x.astype(np.float64)), full, atol=1e-6)
    assert tb.predict(model, x[:0]).shape == (0, 10)
    assert all(p.grad is None for p in model.net.parameters())
    with pytest.raises(InputShapeError, match=r"expects input of shape \(N, 1, 32, 32\).*got \(9, 1, 28, 28\)"):
        tb.predict(model, x[:, :, :28, :28])
    with pytest.raises(InputShapeError):
        tb.predict(model, x[0])
    with pytest.raises(ValueError, match="batch_size"):
        tb.predict(model, x, batch_size=0)


def test_trainer_step_reports_loss_of_its_logits_and_validates():
    arch = lenet5(activation="relu")
    model = tb.build(arch)
    x, y = _x(arch, 8), np.arange(8) % 10
    t = tb.trainer(model, x, y.astype(np.int32), TrainConfig(optimizer="sgd", lr=0.05))
    assert t.y.dtype == torch.int64
    before = tb.predict(model, x[[1, 3, 5]])
    loss, logits = t.step(np.array([1, 3, 5]), 0.05)
    assert logits.shape == (3, 10)
    np.testing.assert_allclose(logits, before, atol=1e-5)  # logits are those of the weights before the step
    assert loss == pytest.approx(cross_entropy(logits, y[[1, 3, 5]]), abs=1e-5)
    assert t.optimizer.param_groups[0]["lr"] == 0.05
    t.step(np.array([0]), 0.01)
    assert t.optimizer.param_groups[0]["lr"] == 0.01
    with pytest.raises(InputShapeError, match=r"labels must lie in 0..9"):
        tb.trainer(model, x, y + 5, TrainConfig())
    with pytest.raises(InputShapeError, match=r"expected 8 labels"):
        tb.trainer(model, x, y[:5], TrainConfig())
    with pytest.raises(InputShapeError, match="expects input of shape"):
        tb.trainer(model, x[:, :, :28, :28], y, TrainConfig())


def test_train_is_deterministic_and_learns():
    arch = mlp(hidden=(16,), input_shape=(1, 4, 4), num_classes=3)
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 1, 4, 4)).astype(np.float32) * 2
    y = rng.integers(0, 3, 240)
    x = centers[y] + 0.3 * rng.standard_normal((240, 1, 4, 4)).astype(np.float32)
    data = Dataset("blobs", x[:200], y[:200], x[200:], y[200:], x[200:], y[200:], 3)
    config = TrainConfig(epochs=3, batch_size=32, optimizer="adam", lr=1e-2)
    runs = []
    for _ in range(2):
        model = tb.build(arch, seed=0)
        history = tb.train(model, data, config, progress=False)
        runs.append(tb.get_weights(model))
    assert len(history.epochs) == 3 and history.last()["val_top1"] > 0.9
    assert history.column("train_loss")[-1] < history.column("train_loss")[0]
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_devices_and_clear_device_errors():
    assert tb.devices()[0] == "cpu"
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        tb.build(lenet5(), device="tpu")
    if not torch.cuda.is_available():
        assert tb.devices() == ["cpu"]
        with pytest.raises(DeviceError, match=r"device 'cuda' requested but .*use device='cpu'"):
            tb.build(lenet5(), device="cuda")
    v = tb.versions()
    assert v["torch"] == torch.__version__ and "cuda" in v


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible")
def test_cuda_matches_cpu():
    arch = lenet5()
    x = _x(arch)
    gpu = tb.build(arch, device="cuda")
    assert gpu.device == "cuda"
    np.testing.assert_allclose(tb.predict(gpu, x), tb.predict(tb.build(arch), x), atol=1e-4)


def test_set_threads_survives_a_fixed_interop_pool(monkeypatch):
    def refuse(n):
        raise RuntimeError("Error: cannot set number of interop threads after parallel work has started")

    monkeypatch.setattr(torch, "set_num_interop_threads", refuse)
    monkeypatch.setattr(torch, "get_num_interop_threads", lambda: 7)
    counts = tb.set_threads(1)
    assert counts == {"torch_intra": 1, "torch_interop": 7}
    monkeypatch.undo()
    tb.set_threads(threads.requested())
    assert tb.thread_counts()["torch_intra"] == threads.requested()


def test_measurement_hooks():
    from lenet.counting import count

    arch = lenet5()
    model = tb.build(arch)
    x = _x(arch, 5)
    forward = tb.make_forward(model, x)
    np.testing.assert_allclose(np.asarray(forward()), tb.predict(model, x), atol=1e-6)
    analytic = count(arch).as_dict()
    counters = tb.count_flops(model, 4)
    assert counters
    for c in counters.values():
        assert c["per"] == "batch" and c["batch_size"] == 4
        assert c["value"] == 4 * analytic[c["convention"]], c
    tb.reset_peak_memory(model)
    assert tb.peak_memory(model) is None  # CPU: no device allocator to ask
