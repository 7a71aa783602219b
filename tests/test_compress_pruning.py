"""Unstructured pruning: exact sparsity (layer-wise, global) kept through fine-tuning; CSR round trip; torch prune."""
from __future__ import annotations

import numpy as np
import pytest

from lenet.backends import capabilities, get_backend
from lenet.compress import pruning, sparse
from lenet.compress.finetune import fine_tune
from lenet.init import init_weights
from lenet.io.weights import save as save_weights
from lenet.spec import lenet5, lenet5_modified
from lenet.testing import require_backend
from lenet.training import TrainConfig


@pytest.fixture(scope="module")
def digits():
    from lenet.data import load_dataset

    return load_dataset("digits").subset(train=128, val=64, test=64)


@pytest.mark.parametrize("s", [0.5, 0.75, 0.9])
def test_layerwise_masks_prune_every_layer_to_the_requested_sparsity(s):
    arch = lenet5()
    w = init_weights(arch, 0)
    masks = pruning.magnitude_masks(w, s, "layer", pruning.prunable_keys(arch))
    pruned = pruning.apply_masks(w, masks)
    for k in pruning.prunable_keys(arch):
        n = w[k].size
        assert np.count_nonzero(pruned[k] == 0) == round(s * n), k
        kept = np.abs(w[k][masks[k]])
        removed = np.abs(w[k][~masks[k]])
        assert removed.max() <= kept.min()  # magnitude order
    for k in w:
        if k.endswith(".bias"):
            np.testing.assert_array_equal(pruned[k], w[k])  # biases untouched


@pytest.mark.parametrize("s", [0.5, 0.75, 0.9])
def test_global_masks_hit_the_overall_sparsity_with_one_threshold(s):
    arch = lenet5()
    w = init_weights(arch, 1)
    keys = pruning.prunable_keys(arch)
    masks = pruning.magnitude_masks(w, s, "global", keys)
    sp = pruning.sparsity_of(pruning.apply_masks(w, masks), keys)
    total = sum(w[k].size for k in keys)
    assert sp["overall"] == round(s * total) / total
    threshold = max(np.abs(w[k][~masks[k]]).max() for k in keys)
    assert all(np.abs(w[k][masks[k]]).min() >= threshold for k in keys)
    # one threshold for all: layers differ (the 1/sqrt(fan_in) init makes dense-1's weights the smallest)
    assert sp["layers"]["7.weight"] > s > sp["layers"]["0.weight"]


def test_ties_are_broken_so_the_count_is_exact():
    w = {"0.weight": np.ones((4, 5), np.float32)}
    masks = pruning.magnitude_masks(w, 0.5, "layer")
    assert np.count_nonzero(~masks["0.weight"]) == 10


def test_bad_sparsity_and_scope_are_refused():
    w = init_weights(lenet5(), 0)
    with pytest.raises(ValueError, match="sparsity"):
        pruning.magnitude_masks(w, 1.0)
    with pytest.raises(ValueError, match="scope"):
        pruning.magnitude_masks(w, 0.5, "row")


def test_fine_tuning_keeps_the_sparsity_in_every_backend(backend_name, digits):
    if not capabilities(backend_name).trains:
        pytest.skip(f"{backend_name} is inference-only: the compression runner fine-tunes in its weights_from")
    arch = lenet5()
    backend = get_backend(backend_name)
    model = backend.build(arch, seed=0)
    w = backend.get_weights(model)
    masks = pruning.magnitude_masks(w, 0.75, "global", pruning.prunable_keys(arch))
    before = pruning.sparsity_of(pruning.apply_masks(w, masks))
    fine_tune(backend, model, digits, TrainConfig(epochs=1, batch_size=32, lr=1e-2), masks=masks)
    after = backend.get_weights(model)
    assert pruning.masks_hold(after, masks)
    assert pruning.sparsity_of(after) == before
    kept = np.concatenate([(after[k] - w[k])[masks[k]] for k in masks])
    assert np.abs(kept).max() > 0  # the surviving weights did train


@pytest.mark.parametrize("arch", [lenet5(), lenet5_modified()], ids=["lenet5", "lenet5-modified"])
def test_sparse_format_round_trips_exactly(tmp_path, arch):
    w = init_weights(arch, 2)
    w["0.weight"][0, 0, 0, 0] = -0.0  # stays 0 either way
    pruned = pruning.apply_masks(w, pruning.magnitude_masks(w, 0.9, "global", pruning.prunable_keys(arch)))
    path = sparse.save(tmp_path / "m.csr.npz", arch, pruned)
    arch2, back = sparse.load(path)
    assert arch2 == arch
    for k in pruned:
        assert back[k].dtype == np.float32
        np.testing.assert_array_equal(back[k], pruned[k])
        assert back[k].tobytes() == (pruned[k] + 0.0).tobytes()  # bit for bit (-0.0 aside)
    dense = save_weights(tmp_path / "m.npz", arch, pruned)
    assert path.stat().st_size < 0.2 * dense.stat().st_size  # 10% of the values, 5 bytes each instead of 4
    assert sparse.stored_values(arch, pruned) == pruning.nonzero_params(pruned) + sum(
        np.count_nonzero(pruned[k] == 0) for k in pruned if k.endswith(".bias"))


def test_csr_of_an_empty_and_a_full_matrix():
    for m in (np.zeros((3, 4), np.float32), np.arange(1, 13, dtype=np.float32).reshape(3, 4)):
        parts = sparse.to_csr(m)
        assert parts["indices"].dtype == np.uint8
        np.testing.assert_array_equal(sparse.from_csr(parts), m)


def test_torch_native_pruning_holds_orig_and_mask_until_removed(digits):
    require_backend("torch")
    from lenet.backends.torch import prune as torch_prune

    tb = get_backend("torch")
    arch = lenet5()
    model = tb.build(arch, seed=0)
    w = tb.get_weights(model)
    dense_bytes = torch_prune.state_dict_bytes(model.net)
    torch_prune.apply(model.net, 0.5, "layer")
    keys = torch_prune.state_dict_keys(model.net)
    assert "0.weight_orig" in keys and "0.weight_mask" in keys and "0.weight" not in keys
    masked_bytes = torch_prune.state_dict_bytes(model.net)
    assert masked_bytes > 1.9 * dense_bytes  # weight_orig + a float mask of the same size: bigger, not smaller
    # torch's L1 masks are the canonical layer-wise masks (random weights: no ties)
    ours = pruning.magnitude_masks(w, 0.5, "layer", pruning.prunable_keys(arch))
    np.testing.assert_array_equal(model.net[0].weight_mask.numpy().astype(bool), ours["0.weight"])
    np.testing.assert_array_equal(model.net[7].weight_mask.numpy().astype(bool), ours["7.weight"].T)
    fine_tune(tb, model, digits, TrainConfig(epochs=1, batch_size=32, lr=1e-2))  # gradients flow via the mask
    assert all(abs(v - 0.5) < 1e-3 for v in torch_prune.sparsity(model.net)["layers"].values())
    torch_prune.remove(model.net)
    assert "0.weight" in torch_prune.state_dict_keys(model.net)
    assert torch_prune.state_dict_bytes(model.net) == dense_bytes
    after = tb.get_weights(model)
    assert pruning.masks_hold(after, ours)
