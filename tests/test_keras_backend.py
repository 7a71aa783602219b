"""Keras backend: channels-last translation, exact layout conversion, traced functions, optimizers, devices."""
from __future__ import annotations

import numpy as np
import pytest

from lenet.testing import require_backend

require_backend("keras")

from lenet.backends import get_backend  # noqa: E402

kb = get_backend("keras")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from lenet.backends import DeviceError  # noqa: E402
from lenet.backends.common import InputShapeError  # noqa: E402
from lenet.backends.keras.model import NegInfPadding2D  # noqa: E402
from lenet.backends.keras.optim import TorchFormAdam  # noqa: E402
from lenet.data.base import Dataset  # noqa: E402
from lenet.init import init_weights  # noqa: E402
from lenet.io.weights import WeightsError  # noqa: E402
from lenet.metrics import cross_entropy  # noqa: E402
from lenet.spec import Arch, Conv, Dense, Flatten, Pool, lenet5, lenet5_modified, mlp  # noqa: E402
from lenet.training import TrainConfig  # noqa: E402


def _x(arch, n=6, seed=0):
    return np.random.default_rng(seed).standard_normal((n, *arch.input_shape), dtype=np.float32)


def test_model_is_channels_last_and_mirrors_the_spec():
    model = kb.build(lenet5_modified())
    assert model.backend == "keras" and model.device == "cpu"
    assert tuple(model.net.input_shape) == (None, 32, 32, 1)
    names = [layer.name for layer in model.net.layers]
    # conv padding -> ZeroPadding2D; max-pool padding -> -inf padding; swish -> silu
    assert names[3:7] == ["spec3_pad", "spec3_conv", "spec4_act", "spec5_pad"]
    assert isinstance(model.net.get_layer("spec3_pad"), keras.layers.ZeroPadding2D)
    assert isinstance(model.net.get_layer("spec5_pad"), NegInfPadding2D)
    assert model.net.get_layer("spec1_act").get_config()["activation"] == "silu"


def test_layouts_are_converted_exactly():
    arch = lenet5()
    model = kb.build(arch, seed=5)
    w = init_weights(arch, 5)
    got = kb.get_weights(model)
    assert all(np.array_equal(got[k], w[k]) and got[k].dtype == np.float32 for k in w)
    conv = model.net.get_layer("spec0_conv").kernel.numpy()
    np.testing.assert_array_equal(conv, w["0.weight"].transpose(2, 3, 1, 0))  # (kh, kw, in, out)
    # the first dense after Flatten: Keras flattens (H, W, C); its rows are the canonical (C, H, W) rows permuted
    features = np.random.default_rng(0).standard_normal((3, 16, 5, 5)).astype(np.float32)
    dense = model.net.get_layer("spec7_dense").kernel.numpy()
    nhwc_flat = features.transpose(0, 2, 3, 1).reshape(3, -1)
    np.testing.assert_allclose(nhwc_flat @ dense, features.reshape(3, -1) @ w["7.weight"], rtol=1e-5, atol=1e-5)
    # later dense layers are stored as they are
    np.testing.assert_array_equal(model.net.get_layer("spec9_dense").kernel.numpy(), w["9.weight"])


def test_mlp_matches_a_numpy_forward():
    arch = mlp(hidden=(20,), input_shape=(2, 3, 4), activation="sigmoid")  # C > 1: the flatten order matters
    model = kb.build(arch, seed=1)
    w = kb.get_weights(model)
    x = _x(arch)
    hidden = 1 / (1 + np.exp(-(x.reshape(len(x), -1) @ w["1.weight"] + w["1.bias"])))
    np.testing.assert_allclose(kb.predict(model, x), hidden @ w["3.weight"] + w["3.bias"], atol=1e-5)


def test_padded_pools():
    # max pooling pads with -inf: an all-negative map never yields a padded zero, and gradients stay finite
    arch = Arch("maxpad", (1, 4, 4), 2, (Pool("max", 2, padding=1), Flatten(), Dense(2)))
    net = kb.build(arch).net
    x = -tf.ones((1, 4, 4, 1)) - tf.reshape(tf.range(16, dtype=tf.float32), (1, 4, 4, 1))
    with tf.GradientTape() as tape:
        tape.watch(x)
        pooled = net.get_layer("spec0_pool")(net.get_layer("spec0_pad")(x))
        total = tf.reduce_sum(pooled)
    assert (pooled.numpy() < 0).all()
    assert pooled.shape == (1, 3, 3, 1)
    assert np.isfinite(tape.gradient(total, x).numpy()).all()
    # average pooling counts the zeros of the padding (count_include_pad=True)
    arch = Arch("avgpad", (1, 4, 4), 2, (Pool("avg", 2, padding=1), Flatten(), Dense(2)))
    net = kb.build(arch).net
    out = net.get_layer("spec0_pool")(net.get_layer("spec0_pad")(tf.ones((1, 4, 4, 1))))
    np.testing.assert_allclose(out.numpy()[0, :, :, 0], [[.25, .5, .25], [.5, 1, .5], [.25, .5, .25]])


def test_strided_padded_conv_shape():
    arch = Arch("conv", (3, 9, 9), 4, (Conv(5, 3, stride=2, padding=1), Flatten(), Dense(4)))
    model = kb.build(arch)
    assert model.net.get_layer("spec0_conv").output.shape == (None, 5, 5, 5)
    assert kb.predict(model, _x(arch)).shape == (6, 4)


def test_predict_traces_once_batches_and_validates():
    arch = lenet5()
    model = kb.build(arch)
    x = _x(arch, 9)
    full = kb.predict(model, x)
    assert full.dtype == np.float32 and full.shape == (9, 10)
    np.testing.assert_allclose(kb.predict(model, x, batch_size=4), full, atol=1e-6)
    np.testing.assert_allclose(kb.predict(model, x[:1]), full[:1], atol=1e-6)
    assert kb.predict(model, x[:0]).shape == (0, 10)
    assert model.net._lenet_forward.experimental_get_tracing_count() == 1
    with pytest.raises(InputShapeError, match=r"expects input of shape \(N, 1, 32, 32\).*got \(9, 32, 32, 1\)"):
        kb.predict(model, x.transpose(0, 2, 3, 1))  # NHWC is not accepted: the contract is NCHW


def test_weight_checks():
    model = kb.build(lenet5())
    w = kb.get_weights(model)
    with pytest.raises(WeightsError, match=r"'0.weight' has shape \(5, 5, 1, 6\)"):
        kb.set_weights(model, dict(w, **{"0.weight": w["0.weight"].transpose(2, 3, 1, 0)}))
    with pytest.raises(WeightsError, match=r"unexpected \['12.weight'\]"):
        kb.set_weights(model, dict(w, **{"12.weight": w["0.weight"]}))


def test_train_step_traces_once_and_reports_its_logits():
    arch = lenet5(activation="relu")
    model = kb.build(arch)
    x, y = _x(arch, 8), np.arange(8) % 10
    t = kb.trainer(model, x, y, TrainConfig(optimizer="sgd", lr=0.05, weight_decay=1e-3))
    before = kb.predict(model, x[[1, 3, 5]])
    loss, logits = t.step(np.array([1, 3, 5]), 0.05)
    np.testing.assert_allclose(logits, before, atol=1e-5)
    assert loss == pytest.approx(cross_entropy(logits, y[[1, 3, 5]]), abs=1e-5)
    for n, lr in [(1, 0.05), (8, 0.01), (2, 0.02)]:  # other batch sizes and learning rates
        t.step(np.arange(n), lr)
    assert t.train_step.experimental_get_tracing_count() == 1
    assert float(t.optimizer.learning_rate.numpy()) == pytest.approx(0.02)
    with pytest.raises(InputShapeError, match=r"labels must lie in 0..9"):
        kb.trainer(model, x, y - 1, TrainConfig())


def test_sgd_follows_torch_form_across_lr_changes():
    """Momentum SGD with weight decay and a changing lr equals torch's ``v = m*v + g + wd*p; p -= lr*v``.

    Keras keeps ``v' = -lr * v``; at an lr change the trainer rescales ``v'``.  Checked on a linear
    model, whose cross-entropy gradient has a closed form.
    """
    arch = mlp(hidden=(), input_shape=(2, 2, 2), num_classes=3)
    model = kb.build(arch, seed=2)
    x, y = _x(arch, 5), np.array([0, 1, 2, 1, 0])
    momentum, wd = 0.9, 0.01
    t = kb.trainer(model, x, y, TrainConfig(optimizer="sgd", lr=0.1, momentum=momentum, weight_decay=wd))
    w = {k: v.astype(np.float64) for k, v in kb.get_weights(model).items()}
    velocity = {k: np.zeros_like(v) for k, v in w.items()}
    flat = x.reshape(len(x), -1).astype(np.float64)
    for lr in (0.1, 0.1, 0.03, 0.03, 0.5):
        t.step(np.arange(len(x)), lr)
        z = flat @ w["1.weight"] + w["1.bias"]
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        dz = (p - np.eye(3)[y]) / len(x)
        grads = {"1.weight": flat.T @ dz, "1.bias": dz.sum(0)}
        for k in w:
            velocity[k] = momentum * velocity[k] + grads[k] + wd * w[k]
            w[k] = w[k] - lr * velocity[k]
    got = kb.get_weights(model)
    for k in w:
        np.testing.assert_allclose(got[k], w[k], atol=1e-6)
    assert t.train_step.experimental_get_tracing_count() == 1


def test_torch_form_adam_matches_the_closed_form_first_step():
    """At step 1 torch's Adam moves every weight by lr * g / (|g| + eps), even for tiny gradients."""
    var = keras.Variable(np.zeros(3, np.float32))
    grad = np.array([1.0, 1e-8, -1e-7], np.float32)
    opt = TorchFormAdam(learning_rate=1e-3, epsilon=1e-8)
    opt.apply_gradients([(tf.constant(grad), var)])
    np.testing.assert_allclose(var.numpy(), -1e-3 * grad / (np.abs(grad) + 1e-8), rtol=1e-5)
    # stock Keras Adam would move the 1e-8 gradient's weight about 33x less (eps acts as 1e-8 / sqrt(1 - b2))
    stock = keras.Variable(np.zeros(3, np.float32))
    keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-8).apply_gradients([(tf.constant(grad), stock)])
    assert abs(stock.numpy()[1]) < abs(var.numpy()[1]) / 10


def test_train_learns():
    arch = mlp(hidden=(16,), input_shape=(1, 4, 4), num_classes=3)
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 1, 4, 4)).astype(np.float32) * 2
    y = rng.integers(0, 3, 240)
    x = centers[y] + 0.3 * rng.standard_normal((240, 1, 4, 4)).astype(np.float32)
    data = Dataset("blobs", x[:200], y[:200], x[200:], y[200:], x[200:], y[200:], 3)
    model = kb.build(arch, seed=0)
    history = kb.train(model, data, TrainConfig(epochs=3, batch_size=32, optimizer="adam", lr=1e-2), progress=False)
    assert len(history.epochs) == 3 and history.last()["val_top1"] > 0.9
    assert history.column("train_loss")[-1] < history.column("train_loss")[0]


def test_devices_versions_and_clear_device_errors():
    assert kb.devices()[0] == "cpu"
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        kb.build(lenet5(), device="tpu")
    if not tf.config.list_physical_devices("GPU"):
        for name in ("gpu", "cuda"):
            with pytest.raises(DeviceError, match=rf"device '{name}' requested but TensorFlow .* sees no GPU"):
                kb.build(lenet5(), device=name)
    assert kb.versions() == {"tensorflow": tf.__version__, "keras": keras.__version__}


@pytest.mark.skipif(not tf.config.list_physical_devices("GPU"), reason="TensorFlow sees no GPU")
def test_gpu_matches_cpu():
    arch = lenet5()
    x = _x(arch)
    gpu = kb.build(arch, device="cuda")
    assert gpu.device == "gpu"
    np.testing.assert_allclose(kb.predict(gpu, x), kb.predict(kb.build(arch), x), atol=1e-4)


def test_threads_fixed_at_import_and_later_calls_do_not_crash():
    before = kb.thread_counts()
    assert set(before) == {"tf_intra", "tf_inter"}
    assert before["tf_intra"] == before["tf_inter"] >= 1  # set from lenet.measure.threads.requested() at import
    after = kb.set_threads(before["tf_intra"] + 1)  # the runtime has started: nothing changes, nothing fails
    assert after == before


def test_measurement_hooks():
    from lenet.counting import count

    arch = lenet5()
    model = kb.build(arch)
    x = _x(arch, 5)
    forward = kb.make_forward(model, x)
    np.testing.assert_allclose(np.asarray(forward()), kb.predict(model, x), atol=1e-6)
    analytic = count(arch).as_dict()
    counters = kb.count_flops(model, 4)
    assert counters
    for c in counters.values():
        assert c["per"] == "batch" and c["batch_size"] == 4
        assert c["value"] == 4 * analytic[c["convention"]], c
    kb.reset_peak_memory(model)
    assert kb.peak_memory(model) is None  # CPU: no device allocator to ask
