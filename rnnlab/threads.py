"""How many threads NumPy's BLAS may use while rnnlab trains: ``blas_threads(n)`` (``rnnlab train --threads``).

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

_blas = {"libs": None}


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
