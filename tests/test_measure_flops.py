"""FLOP counters reconciled by convention (the DESIGN's LeNet-5 figures), and a mismatch named."""
from lenet.measure.flops import mismatches, reconcile
from lenet.spec import build_arch


def test_each_convention_reconciles_with_the_analytic_count():
    arch = build_arch("lenet5", 10, (1, 32, 32))
    counters = {"thop": {"value": 416_520, "convention": "macs", "per": "sample", "batch_size": 1},
                "torch_flop_counter": {"value": 833_040, "convention": "flops", "per": "sample", "batch_size": 1},
                "tf_profiler": {"value": 845_862 * 8, "convention": "flops_tf", "per": "batch", "batch_size": 8}}
    checked = reconcile(arch, counters)
    assert checked["tf_profiler"]["expected"] == 845_862 * 8
    assert checked["tf_profiler"]["analytic_per_sample"] == 845_862
    assert mismatches(checked) == []


def test_a_mismatch_is_named():
    arch = build_arch("lenet5", 10, (1, 32, 32))
    checked = reconcile(arch, {"tf_profiler": {"value": 845_862, "convention": "flops_tf", "per": "batch",
                                               "batch_size": 8}})
    assert mismatches(checked) == ["tf_profiler counted 845,862 but the analytic flops_tf (x batch 8) is 6,766,896"]
