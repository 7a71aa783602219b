"""Data parallelism: the chunks of a batch run on worker threads, BLAS at one thread per worker.

Why threads help.  NumPy's elementwise work (im2col copies, activations, pooling, col2im, the
optimizer) runs on one core whatever BLAS is allowed; only the matrix products use a second one
(``lenet profile-layers``).  But NumPy releases the GIL inside ufunc loops, copies and matrix
products, which is where nearly all of this network's time goes, so threads that each run their own
chunks of the batch overlap almost fully.  Each worker runs on its own replica of the network (the
layers keep per-call buffers) sharing the parameters: see :meth:`.model.Net.map_chunks`.

Why BLAS goes to one thread meanwhile.  Two workers each calling a 2-thread OpenBLAS would ask for
four threads on two cores, and spinning BLAS threads collapse under contention (DESIGN.md section 7).
The limit holds only while workers run, so that NumPy's BLAS elsewhere in the process (the GEMM
ceiling of :mod:`lenet.measure.ceiling`, for one) keeps the thread count in force.

Why not ``concurrent.futures``.  A forward pass at batch 64 is two chunks of 32, about half a millisecond
each, so what a call costs to hand over counts: a round trip through a ``ThreadPoolExecutor`` (a future, a
queue, a condition per waiter) and threadpoolctl's limit and restore cost several times what a pair of
plain locks and a direct ``openblas_set_num_threads`` call do (docs/profiles/handcrafted-issue32.md).  So
each worker is one thread parked on a lock (:class:`_Worker`), and the BLAS thread count is set through
threadpoolctl's library controllers directly.

The worker count is the backend's thread count (:func:`.model.set_threads`); one worker runs
everything in the calling thread, exactly as without this module.
"""
from __future__ import annotations

import os
import threading

_workers = 1
_threads: list[_Worker] = []  # workers - 1 threads: the calling thread is a worker too
_blas = None  # threadpoolctl's controllers of the loaded BLAS libraries, found once


class _Worker:
    """A daemon thread that runs one call at a time, handed over through two locks.

    :meth:`start` gives it a call, :meth:`join` waits for it and returns its result or raises its exception.
    Only one caller may use a worker at a time (:func:`run` is not re-entrant across threads).
    """

    def __init__(self, index: int):
        self._go, self._done = threading.Lock(), threading.Lock()
        self._go.acquire()
        self._done.acquire()
        self._fn = self._result = self._error = None
        threading.Thread(target=self._loop, name=f"handcrafted-{index}", daemon=True).start()

    def _loop(self) -> None:
        while True:
            self._go.acquire()
            try:
                self._result, self._error = self._fn(), None
            except BaseException as e:  # noqa: BLE001 - handed to the caller, raised there
                self._result, self._error = None, e
            self._fn = None
            self._done.release()

    def start(self, fn) -> None:
        self._fn = fn
        self._go.release()

    def join(self):
        self._done.acquire()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._result


def set_workers(n: int) -> None:
    """Run batch chunks on ``n`` threads from now on (idle threads beyond ``n - 1`` stay parked)."""
    global _workers
    _workers = n


def workers() -> int:
    return _workers


def _forget_threads() -> None:
    """A forked child has none of its parent's threads: it starts its own when it needs them."""
    _threads.clear()


os.register_at_fork(after_in_child=_forget_threads)


def _blas_controllers() -> list:
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas


def run(fn, count: int) -> list:
    """``[fn(j) for j in range(count)]``, each call on its own thread (``count <= workers()``).

    Call 0 runs in the calling thread.  An exception in any call is raised here, after all have ended.
    """
    if count <= 1:
        return [fn(j) for j in range(count)]
    if count > _workers:
        raise ValueError(f"{count} parallel calls but only {_workers} workers")
    while len(_threads) < count - 1:
        _threads.append(_Worker(len(_threads) + 1))
    libs = _blas_controllers()
    before = [lib.num_threads for lib in libs]
    for lib in libs:
        lib.set_num_threads(1)
    try:
        helpers = _threads[:count - 1]
        for j, worker in enumerate(helpers, start=1):
            worker.start(lambda j=j: fn(j))
        try:
            first = fn(0)
        finally:
            rest, error = [], None
            for worker in helpers:  # every worker has ended before BLAS is restored
                try:
                    rest.append(worker.join())
                except BaseException as e:  # noqa: BLE001 - the first one is raised below
                    error = error or e
        if error is not None:
            raise error
        return [first, *rest]
    finally:
        for lib, n in zip(libs, before):
            lib.set_num_threads(n)
