"""How many threads NumPy's BLAS may use while rnnlab trains.

A training step is a sequence of small products (B x H by H x H per time step, one per class present)
between NumPy calls; a second BLAS thread halves none of them and, on a machine whose other core is
busy, makes each wait for a descheduled partner (measured on 2 shared cores: 12k instead of 59k
tokens/s). So ``rnnlab train`` runs BLAS on one thread unless told otherwise (``--threads``).
Uses threadpoolctl when it is installed; without it the BLAS keeps its own setting.
"""
from __future__ import annotations

import contextlib


@contextlib.contextmanager
def blas_threads(n: int | None):
    """Limit the BLAS to ``n`` threads inside the block (None: leave it as it is)."""
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: the BLAS then keeps its default
        yield
        return
    with threadpool_limits(limits=int(n), user_api="blas"):
        yield
