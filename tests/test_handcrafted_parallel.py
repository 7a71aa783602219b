"""The handcrafted backend's worker threads (lenet.backends.handcrafted.parallel): results in order, errors
raised in the caller, BLAS restored, and a network run on them equal to one run in the calling thread."""
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from lenet.backends.handcrafted import parallel
from lenet.backends.handcrafted.measurement import make_forward
from lenet.backends.handcrafted.model import build
from lenet.spec import build_arch


@pytest.fixture
def two_workers():
    before = parallel.workers()
    parallel.set_workers(2)
    yield
    parallel.set_workers(before)


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_calls_run_on_distinct_threads_and_return_in_order(two_workers):
    seen = parallel.run(lambda j: (j, threading.get_ident(), _blas_threads()), 2)
    assert [s[0] for s in seen] == [0, 1]
    assert seen[0][1] == threading.get_ident() != seen[1][1]
    assert all(n == 1 for s in seen for n in s[2])  # one BLAS thread per worker while they run


@pytest.mark.parametrize("failing", [0, 1])
def test_an_error_in_any_call_is_raised_after_all_have_ended_and_blas_is_restored(two_workers, failing):
    before, ended = _blas_threads(), []

    def fn(j):
        if j == failing:
            raise KeyError(f"call {j}")
        ended.append(j)
        return j

    with pytest.raises(KeyError, match=f"call {failing}"):
        parallel.run(fn, 2)
    assert ended == [1 - failing] and _blas_threads() == before
    assert parallel.run(lambda j: j * 10, 2) == [0, 10]  # the worker survives its call's error


def test_more_calls_than_workers_is_refused(two_workers):
    with pytest.raises(ValueError, match="3 parallel calls but only 2 workers"):
        parallel.run(lambda j: j, 3)


def test_a_forward_on_two_workers_equals_one_in_the_calling_thread(two_workers):
    arch = build_arch("lenet5", 10, (1, 32, 32))
    x = np.random.default_rng(0).standard_normal((64, 1, 32, 32), dtype=np.float32)
    two = make_forward(build(arch, seed=1), x)().copy()
    parallel.set_workers(1)
    one = make_forward(build(arch, seed=1), x)()
    np.testing.assert_array_equal(two, one)
