import pytest

from lenet.counting import count, layer_counts, summary_table
from lenet.spec import Act, Arch, Conv, Dense, Flatten, Pool, SpecError, build_arch, lenet5, lenet5_modified, mlp


def test_lenet5_reference_counts():
    c = count(lenet5())
    assert c.params == 61_706
    assert c.macs == 416_520
    assert c.flops == 833_040  # torch.utils.flop_counter convention
    assert c.flops_tf == 845_862  # TF profiler: + bias adds + pool window reads
    assert c.param_bytes == 61_706 * 4


def test_lenet5_shapes_and_per_layer_macs():
    arch = lenet5()
    assert arch.shapes()[:7] == [(6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 10, 10), (16, 5, 5),
                                 (400,)]
    macs = [r.macs for r in layer_counts(arch) if r.macs]
    assert macs == [117_600, 240_000, 48_000, 10_080, 840]


def test_reference_study_space_figure():
    # Studies A-C report "65,406 params ~ 0.25 MB" for 50 classes.  That figure is
    # LeNet-5 on 3-channel input (conv1 has 3*25*6 weights); grayscale gives 65,106.
    assert count(lenet5(num_classes=50)).params == 65_106
    c = count(lenet5(num_classes=50, in_channels=3))
    assert c.params == 65_406
    assert round(c.param_bytes / 2**20, 2) == 0.25


def test_tf_convention_counts_swish_twice():
    # the TF profiler counts a Sigmoid and a Mul per swish element, nothing for tanh/relu/sigmoid
    swish, tanh = count(lenet5_modified()), count(lenet5_modified(activation="tanh"))
    assert swish.flops_tf - tanh.flops_tf == 2 * 8_012
    assert swish.flops == tanh.flops


def test_modified_lenet_dense_sized_from_spec():
    arch = lenet5_modified()
    assert arch.shapes()[8] == (800,)
    assert arch.weight_shapes()["9.weight"] == (800, 120)


def test_mlp_counts():
    c = count(mlp((100, 30), input_shape=(1, 28, 28)))
    assert c.params == 784 * 100 + 100 + 100 * 30 + 30 + 30 * 10 + 10
    assert c.macs == 784 * 100 + 100 * 30 + 30 * 10


def test_weight_layout_is_canonical():
    shapes = lenet5().weight_shapes()
    assert shapes["0.weight"] == (6, 1, 5, 5)
    assert shapes["7.weight"] == (400, 120)
    assert shapes["11.bias"] == (10,)


@pytest.mark.parametrize("arch", [lenet5(), lenet5_modified(num_classes=50), mlp((64,), (3, 8, 8), 5)])
def test_json_round_trip(arch):
    assert Arch.from_dict(arch.to_dict()) == arch


def test_kernel_larger_than_input_names_layer():
    with pytest.raises(SpecError, match=r"layer 3 \(Conv.*larger than its padded input 2x2"):
        lenet5(input_size=8)


def test_zero_channels_names_layer():
    with pytest.raises(SpecError, match=r"layer 0 \(Conv\(out_channels=0.*out_channels must be >= 1"):
        Arch("bad", (1, 8, 8), 2, (Conv(0, 3), Flatten(), Dense(2)))


def test_zero_input_channels_rejected():
    with pytest.raises(SpecError, match="input_shape"):
        lenet5(in_channels=0)


def test_dense_before_flatten_rejected():
    with pytest.raises(SpecError, match=r"layer 0 \(Dense.*put a Flatten before it"):
        Arch("bad", (1, 8, 8), 2, (Dense(2),))


def test_classifier_must_match_classes():
    with pytest.raises(SpecError, match=r"must be Dense\(3\)"):
        Arch("bad", (1, 8, 8), 3, (Flatten(), Dense(2)))


def test_unknown_activation_and_pool():
    with pytest.raises(SpecError, match="activation"):
        Arch("bad", (1, 8, 8), 2, (Flatten(), Act("gelu"), Dense(2)))
    with pytest.raises(SpecError, match="op must be"):
        Arch("bad", (1, 8, 8), 2, (Pool("min"), Flatten(), Dense(2)))


def test_pool_padding_larger_than_half_window_rejected():
    with pytest.raises(SpecError, match="padding 2 exceeds half the window"):
        Arch("bad", (1, 8, 8), 2, (Pool("max", 2, padding=2), Flatten(), Dense(2)))


def test_build_arch_registry():
    assert build_arch("lenet5-relu-avg", 10, (1, 32, 32)).layers[2] == Pool("avg", 2)
    assert build_arch("mlp", 10, (1, 28, 28)).input_shape == (1, 28, 28)
    with pytest.raises(SpecError, match="unknown architecture"):
        build_arch("alexnet", 10, (1, 32, 32))


def test_summary_table_mentions_conventions():
    text = summary_table(lenet5())
    assert "61,706" in text and "416,520" in text and "845,862" in text
