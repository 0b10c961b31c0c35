"""Arrays reused across calls, so that a layer's caches do not fault in fresh pages every step.

Why: one forward + backward of an LSTM layer at T = 100, B = 32, I = H = 256 (float32) allocates about
70 MB of caches and gradients (``hs``, ``cs``, ``gates``, ``tanh_c``, ``coef``, ``oc``, ``dgi``, ``dx``, ...).
glibc hands blocks that large back to the system when they are freed, so the next call faults them in
again, page by page, and the kernel zeroes every page first: measured on the benchmark machine (one
thread), 6,000-7,000 minor faults and 21-33 ms of system time in a 180-200 ms LSTM step, 22-27 ms in the
GRU's, 11 ms of the RNN's 55 ms (``python -m benchmarks.alloc_probe`` prints these).

Ownership rule: an array the workspace hands out belongs to whoever references it. ``empty`` hands an
array out again only when nothing but the workspace references it any more (its reference count says
so). A forward cache kept for a later backward, a view of it (``out`` is a view of the cache's ``hs``),
the gradients or ``dx`` a caller holds: each keeps its arrays out of reuse for as long as it lives. So two
forwards before their two backwards, backward run twice on one cache (``rnnlab.diagnostics.truncation``),
windows of truncated training, all see their own arrays; a forked process (Hogwild workers) has its own
copy of the pool. Dropping or rebinding the references returns the arrays to the pool. In a training loop
``out, hn, cache = layer.forward(x)`` still holds the previous step's cache while the next forward runs,
so the pool settles at two sets of arrays that alternate. What the rule cannot see is memory reached
without a Python reference (a raw pointer from ``arr.ctypes.data`` kept past the array's life).

Bounds: at most ``per_key`` arrays per (shape, dtype), more are allocated and not kept; only the
``max_keys`` most recently used (shape, dtype) keys are kept (a new sequence length starts new keys), and
least recently used keys go while the pool holds more than ``max_bytes`` (1 GiB by default: arrays of a
shape no longer used, a long evaluation sequence's say, stay resident within that bound only; ``clear()``
drops them). Arrays larger than ``max_bytes`` are never kept. The reference
count is CPython's ``sys.getrefcount``, calibrated at import.
"""
from __future__ import annotations

import sys
import threading

import numpy as np


def _pooled_count() -> int:
    """The reference count ``_first_free`` sees for an array held by the pool list alone."""
    arrays = [np.empty(0)]
    return sys.getrefcount(arrays[0])


_FREE = _pooled_count()


def _first_free(arrays: list):
    """The first of ``arrays`` that nothing outside the list references, or None."""
    for i in range(len(arrays)):
        if sys.getrefcount(arrays[i]) == _FREE:
            return arrays[i]
    return None


class Workspace:
    """A pool of arrays by (shape, dtype), handed out under the ownership rule above.

    Args:
        max_keys: (shape, dtype) keys kept, the most recently used.
        per_key: arrays kept per key (a layer step needs a few of one shape, two steps' worth alternate).
        max_bytes: the pool's size above which the least recently used keys are dropped.
    """

    def __init__(self, max_keys: int = 32, per_key: int = 16, max_bytes: int = 1 << 30):
        self.max_keys, self.per_key, self.max_bytes = max_keys, per_key, max_bytes
        self._pool: dict[tuple, list] = {}       # key -> arrays; insertion order = least recently used first
        self._bytes = 0                          # held by the pool
        self._lock = threading.Lock()            # threads sharing a layer must not take the same array

    def empty(self, shape, dtype) -> np.ndarray:
        """An array of ``shape`` and ``dtype`` with arbitrary contents (as ``np.empty``): a pooled one
        nothing else references, else a new one (kept in the pool while it has room)."""
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)
        key = (shape, np.dtype(dtype))
        with self._lock:
            arrays = self._pool.pop(key, [])
            self._pool[key] = arrays                             # now the most recently used
            a = _first_free(arrays)
            if a is None:
                a = np.empty(shape, dtype)
                if len(arrays) < self.per_key and a.nbytes <= self.max_bytes:
                    arrays.append(a)
                    self._bytes += a.nbytes
                while len(self._pool) > self.max_keys or self._bytes > self.max_bytes:
                    oldest = next(iter(self._pool))                  # at worst down to an empty pool
                    self._bytes -= sum(b.nbytes for b in self._pool.pop(oldest))
            return a

    def zeros(self, shape, dtype) -> np.ndarray:
        """``empty`` filled with zeros."""
        a = self.empty(shape, dtype)
        a.fill(0)
        return a

    def clear(self) -> None:
        """Drop every pooled array (those still referenced elsewhere live on with their owners)."""
        with self._lock:
            self._pool.clear()
            self._bytes = 0

    def nbytes(self) -> int:
        """Bytes held by the pool, referenced elsewhere or not."""
        return self._bytes

    def __getstate__(self):
        """Pickled and deep-copied empty: pooled arrays are scratch, not state (and a lock cannot be)."""
        return {"max_keys": self.max_keys, "per_key": self.per_key, "max_bytes": self.max_bytes}

    def __setstate__(self, state):
        self.__init__(**state)


class Fresh:
    """The workspace interface without a pool: every array new (the plain reference the pool replaces,
    and what a layer uses with ``workspace=None``)."""

    @staticmethod
    def empty(shape, dtype) -> np.ndarray:
        """``np.empty(shape, dtype)``."""
        return np.empty(shape, dtype)

    @staticmethod
    def zeros(shape, dtype) -> np.ndarray:
        """``np.zeros(shape, dtype)``."""
        return np.zeros(shape, dtype)


FRESH = Fresh()


def workspace_of(ws) -> Workspace | Fresh:
    """``ws``, or the pool-less ``FRESH`` for None."""
    return FRESH if ws is None else ws
