"""How many threads NumPy's BLAS may use while rnnlab trains: ``blas_threads(n)`` (``rnnlab train --threads``),
and ``row_parallel``/``split_rows``, which run a row-wise computation as two halves on two Python threads.

A training step is a chain of products of modest size (B x H by H x H per time step, one or three per
class present, a few (N, C) ones) between NumPy calls. On two idle cores a second BLAS thread gains ~10%
(fortunes, batch 128: 7.5 -> 6.8 s); when another process holds a core, every product waits for a
descheduled partner thread and a step takes 3-10x longer (measured with two busy processes: 148k tokens/s
on one thread, 55k on two; with the time loops alone kept on one thread, 15k). So ``rnnlab train`` uses
one thread unless told otherwise. Uses threadpoolctl when it is installed; without it the BLAS keeps its
own setting.
"""
from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor

_blas = {"libs": None}
_pool = {"executor": None, "active": False}


def _controllers():
    """The BLAS libraries' thread controllers (threadpoolctl), found once; [] without threadpoolctl."""
    if _blas["libs"] is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas["libs"] = []
        else:
            _blas["libs"] = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas["libs"]


@contextlib.contextmanager
def blas_threads(n: int | None):
    """Limit the BLAS to ``n`` threads inside the block (None: leave it as it is)."""
    libs = _controllers() if n is not None else []
    old = [lib.get_num_threads() for lib in libs]
    for lib in libs:
        lib.set_num_threads(int(n))
    try:
        yield
    finally:
        for lib, k in zip(libs, old):
            lib.set_num_threads(k)


def blas_thread_count() -> int:
    """The BLAS's current thread limit (the smallest over its libraries); 1 without threadpoolctl."""
    libs = _controllers()
    return min((lib.get_num_threads() for lib in libs), default=1)


@contextlib.contextmanager
def row_parallel(enabled: bool = True):
    """A block in which ``split_rows`` runs two halves at once, when the BLAS may use two threads or more.
    The BLAS is held to one thread for the whole block, not around each split: after a multi-thread
    product OpenBLAS's threads keep spinning on the cores for a while and take the second core from the
    halves (measured: the tutorial's LM step 35 ms with per-call limits, 18.7 ms with the block's)."""
    if not enabled or _pool["active"] or blas_thread_count() < 2:
        yield
        return
    _pool["active"] = True
    try:
        with blas_threads(1):
            yield
    finally:
        _pool["active"] = False


def split_rows(part, n: int, min_rows: int = 64):
    """[part(0, n)], or, inside ``row_parallel`` and for n >= 2 min_rows, [part(0, n/2), part(n/2, n)] run
    at once on two Python threads.

    For work made of large products and large ufunc passes over rows (the full softmax: NumPy releases
    the interpreter lock in both), two threads on two halves beat one two-thread BLAS: the ufunc passes
    (exp, sums, scaling over N x V logits) run on both cores instead of one (the tutorial's LM step,
    640 x 8000 logits: 20.5 ms with a two-thread BLAS, 18.7 ms as two halves)."""
    if not _pool["active"] or n < 2 * min_rows:
        return [part(0, n)]
    if _pool["executor"] is None:
        _pool["executor"] = ThreadPoolExecutor(1, thread_name_prefix="rnnlab-rows")
    half = n // 2
    other = _pool["executor"].submit(part, 0, half)
    try:
        mine = part(half, n)
    finally:
        first = other.result()
    return [first, mine]


def _forget_pool():
    _pool["executor"], _pool["active"] = None, False  # a forked child has the executor object, not its thread


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)
