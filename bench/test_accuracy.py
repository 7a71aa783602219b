"""Top-1/top-5 on validation and test over the session's seeds, gated per (dataset, architecture) on the lower
end of their interval; timed: the whole test-set pass (a side figure: accuracy rows are never flagged)."""
import pytest

from lenet.study.gates import check_accuracy


@pytest.mark.benchmark(group="accuracy")
def test_accuracy(benchmark, study, backend, backend_name, arch_name, device, trained):
    data = study.dataset
    # What the reference studies called "inference time on the test set": predict() end to end,
    # NCHW->framework conversion included (the inference group times the forward pass alone).
    benchmark.pedantic(backend.predict, args=(trained.model, data.x_test), rounds=3, warmup_rounds=1)
    spread, band = study.seed_results(backend_name, arch_name, device)
    study.record(benchmark, backend_name, arch_name, device, test_samples=len(data.y_test),
                 history=trained.history, seed_spread=spread, **({"seed_histories": band} if band else {}))
    # A --limit run ("digits[:200]") has no table entry and is gated at twice chance.
    check_accuracy(data.name, arch_name, data.num_classes, trained.metrics["test"], label=f"{backend_name} {arch_name}",
                   config=study.config_name, spread=spread)
