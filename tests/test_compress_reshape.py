"""Compression that changes the spec: structured pruning and low-rank factorisation (smaller Arch, every backend)."""
from __future__ import annotations

import numpy as np
import pytest

from lenet.backends import get_backend
from lenet.compress import lowrank, structured
from lenet.counting import count
from lenet.init import init_weights
from lenet.spec import Conv, Dense, lenet5, lenet5_modified, mlp

ATOL = 1e-4


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).standard_normal((6, 1, 32, 32), dtype=np.float32)


def _logits(backend_name, arch, weights, x):
    backend = get_backend(backend_name)
    model = backend.build(arch, seed=0)
    backend.set_weights(model, weights)
    return backend.predict(model, x)


def test_structured_50_percent_of_lenet5_by_hand():
    arch = lenet5()
    small, w, kept = structured.structured_prune(arch, init_weights(arch, 0), 0.5)
    assert [small.layers[i].out_channels for i in (0, 3)] == [3, 8]
    assert [small.layers[i].units for i in (7, 9, 11)] == [60, 42, 10]
    # conv1 28*28 px * 3 filters * 1*5*5; conv2 10*10 * 8 * 3*5*5; dense 8*5*5=200 -> 60 -> 42 -> 10
    macs = 28 * 28 * 3 * 25 + 10 * 10 * 8 * 3 * 25 + 200 * 60 + 60 * 42 + 42 * 10
    assert macs == 133_740
    assert count(small).macs == macs < count(arch).macs == 416_520
    params = (3 * 25 + 3) + (8 * 75 + 8) + (200 * 60 + 60) + (60 * 42 + 42) + (42 * 10 + 10)
    assert count(small).params == params
    assert w["7.weight"].shape == (200, 60) and w["3.weight"].shape == (8, 3, 5, 5)
    assert all(np.all(np.diff(k) > 0) for k in kept.values())


def test_structured_keeps_the_filters_with_the_largest_l1_norm():
    arch = lenet5()
    w = init_weights(arch, 0)
    _, small, kept = structured.structured_prune(arch, w, 0.5)
    norms = np.abs(w["0.weight"]).sum(axis=(1, 2, 3))
    assert set(kept[0]) == set(np.argsort(-norms)[:3])
    # conv2 keeps its kept filters' weights on the kept input channels only
    np.testing.assert_array_equal(small["3.weight"], w["3.weight"][kept[3]][:, kept[0]])
    # dense-1 keeps the 25 rows (5x5 pixels) of each kept channel, in (C, H, W) order
    rows = (kept[3][:, None] * 25 + np.arange(25)).ravel()
    np.testing.assert_array_equal(small["7.weight"], w["7.weight"][rows][:, kept[7]])


def test_removing_dead_units_is_exact_in_every_backend(backend_name, x):
    """relu units with zero weights and bias output 0: removing them must not change the logits."""
    arch = lenet5(activation="relu")
    w = init_weights(arch, 3)
    rng = np.random.default_rng(1)
    for i in arch.param_layers()[:-1]:
        n = w[f"{i}.bias"].size
        dead = rng.choice(n, n // 2, replace=False)
        if w[f"{i}.weight"].ndim == 4:
            w[f"{i}.weight"][dead] = 0
        else:
            w[f"{i}.weight"][:, dead] = 0
        w[f"{i}.bias"][dead] = 0
    small, sw, kept = structured.structured_prune(arch, w, 0.5)
    ref = _logits("handcrafted", arch, w, x)
    got = _logits(backend_name, small, sw, x)
    np.testing.assert_allclose(got, ref, atol=ATOL)
    np.testing.assert_allclose(_logits("handcrafted", arch, structured.expand_to(small, sw, arch, kept), x), ref,
                               atol=ATOL)


@pytest.mark.parametrize("make", [lenet5, lenet5_modified, lambda: mlp((100, 50), (1, 32, 32))],
                         ids=["lenet5", "lenet5-modified", "mlp"])
def test_structured_spec_runs_with_the_same_logits_in_every_backend(backend_name, make, x):
    arch = make()
    small, w, _ = structured.structured_prune(arch, init_weights(arch, 4), 0.5)
    assert count(small).macs < count(arch).macs
    np.testing.assert_allclose(_logits(backend_name, small, w, x), _logits("handcrafted", small, w, x), atol=ATOL)


@pytest.mark.parametrize("r", [1, 4, 16, 40])
def test_rank_r_factorisation_meets_eckart_young(r):
    arch = lenet5()
    w = init_weights(arch, 5)
    lr_arch, lw = lowrank.factorize(arch, w, {7: r})
    assert [type(layer).__name__ for layer in lr_arch.layers[7:9]] == ["Dense", "Dense"]
    assert lr_arch.layers[7].units == r and lr_arch.layers[8].units == 120
    wr = lowrank.reconstruct(lr_arch, lw, 7)
    assert np.linalg.matrix_rank(wr.astype(np.float64), tol=1e-5) == r
    s = np.linalg.svd(w["7.weight"].astype(np.float64), compute_uv=False)
    diff = (w["7.weight"] - wr).astype(np.float64)
    assert np.linalg.norm(diff, 2) == pytest.approx(s[r], rel=1e-4)  # spectral: s_{r+1}
    assert np.linalg.norm(diff) == pytest.approx(np.sqrt((s[r:] ** 2).sum()), rel=1e-4)  # Frobenius tail
    err = lowrank.truncation_error(w["7.weight"], r)
    assert err["spectral"] == pytest.approx(s[r]) and err["frobenius"] == pytest.approx(np.linalg.norm(diff), 1e-4)
    np.testing.assert_array_equal(lw["8.bias"], w["7.bias"])
    np.testing.assert_array_equal(lw["7.bias"], 0)
    assert count(lr_arch).macs == count(arch).macs - 400 * 120 + r * (400 + 120)


def test_full_rank_factorisation_computes_the_same_function(backend_name, x):
    arch = lenet5()
    w = init_weights(arch, 6)
    lr_arch, lw = lowrank.factorize(arch, w, {3: 16, 7: 120, 9: 84})  # exact ranks: conv2 (16, 150), dense
    np.testing.assert_allclose(_logits(backend_name, lr_arch, lw, x), _logits("handcrafted", arch, w, x), atol=ATOL)


def test_conv_channel_svd_is_conv_then_1x1_and_meets_eckart_young():
    arch = lenet5_modified()  # conv2 has padding 1: the first factor keeps it
    w = init_weights(arch, 7)
    lr_arch, lw = lowrank.factorize(arch, w, {3: 6})
    first, second = lr_arch.layers[3], lr_arch.layers[4]
    assert isinstance(first, Conv) and (first.out_channels, first.kernel, first.padding) == (6, 5, 1)
    assert isinstance(second, Conv) and (second.out_channels, second.kernel, second.padding) == (16, 1, 0)
    wr = lowrank.reconstruct(lr_arch, lw, 3)
    s = np.linalg.svd(w["3.weight"].reshape(16, -1).astype(np.float64), compute_uv=False)
    assert np.linalg.norm((w["3.weight"] - wr).reshape(16, -1), 2) == pytest.approx(s[6], rel=1e-4)
    # per output pixel (12 x 12 of them): 16*150 MACs become 6*150 + 16*6
    assert count(arch).macs - count(lr_arch).macs == 144 * (16 * 150 - 6 * 150 - 16 * 6)


def test_plan_factorises_only_where_the_rank_saves_macs():
    arch = lenet5()
    assert lowrank.plan(arch, 16) == {7: 16, 9: 16}
    assert lowrank.plan(arch, 60) == {7: 60}  # 120 x 84 saves only below rank 49
    assert lowrank.plan(arch, 8, conv=True) == {3: 8, 7: 8, 9: 8}  # conv1 (6 x 25) saves only below 5
    assert lowrank.max_useful_rank(arch, 7) == 92  # 400*120/520 = 92.3
    with pytest.raises(ValueError, match="not a hidden"):
        lowrank.factorize(arch, init_weights(arch, 0), {11: 4})
    lr_arch, _ = lowrank.factorize(arch, init_weights(arch, 0), lowrank.plan(arch, 16))
    assert isinstance(lr_arch.layers[-1], Dense) and lr_arch.num_classes == 10
