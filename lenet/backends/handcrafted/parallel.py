"""Data parallelism: the chunks of a batch run on worker threads, BLAS at one thread per worker.

Why threads help.  NumPy's elementwise work (im2col copies, activations, pooling, col2im, the
optimizer) runs on one core whatever BLAS is allowed; only the matrix products use a second one
(``lenet profile-layers``).  But NumPy releases the GIL inside ufunc loops, copies and matrix
products, which is where nearly all of this network's time goes, so threads that each run their own
chunks of the batch overlap almost fully.  Each worker runs on its own replica of the network (the
layers keep per-call buffers) sharing the parameters: see :meth:`.model.Net.map_workers`.

Why BLAS goes to one thread meanwhile.  Two workers each calling a 2-thread OpenBLAS would ask for
four threads on two cores, and spinning BLAS threads collapse under contention (DESIGN.md section 7).
The limit holds only while workers run, so that NumPy's BLAS elsewhere in the process (the GEMM
ceiling of :mod:`lenet.measure.ceiling`, for one) keeps the thread count in force.

The worker count is the backend's thread count (:func:`.model.set_threads`); one worker runs
everything in the calling thread, exactly as without this module.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager

_workers = 1
_pool: ThreadPoolExecutor | None = None  # workers - 1 threads: the calling thread is a worker too
_blas = None  # threadpoolctl's selection of the loaded BLAS libraries, found once


def set_workers(n: int) -> None:
    """Run batch chunks on ``n`` threads from now on."""
    global _workers, _pool
    if n != _workers and _pool is not None:
        _pool.shutdown()
        _pool = None
    _workers = n


def workers() -> int:
    return _workers


def _forget_pool() -> None:
    """A forked child has none of its parent's threads: it starts its own pool when it needs one."""
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)


@contextmanager
def _one_blas_thread():
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController().select(user_api="blas")
    limiter = _blas.limit(limits=1)  # about 15 us with the restore, against chunks of milliseconds
    try:
        yield
    finally:
        limiter.restore_original_limits()


def run(fn, count: int) -> list:
    """``[fn(j) for j in range(count)]``, each call on its own thread (``count <= workers()``).

    Call 0 runs in the calling thread.  An exception in any call is raised here, after all have ended.
    """
    global _pool
    if count <= 1:
        return [fn(j) for j in range(count)]
    if count > _workers:
        raise ValueError(f"{count} parallel calls but only {_workers} workers")
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_workers - 1, thread_name_prefix="handcrafted")
    with _one_blas_thread():
        futures = [_pool.submit(fn, j) for j in range(1, count)]
        try:
            first = fn(0)
        finally:
            wait(futures)  # every worker has ended before BLAS is restored
    return [first, *(f.result() for f in futures)]
