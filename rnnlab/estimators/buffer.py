"""Per-step arrays of the steps an estimator has not yet folded into its influence state.

SnAp-1, e-prop and RFLO defer the work on their large influence arrays (UORO keeps its own arrays,
laid out for its batched products): a step only saves a few
(B, ·) arrays, and every so many steps (or at a ``gradient`` call) they are processed together, as
products over (L, B, ·). Saving into rows of arrays allocated once, rather than into lists stacked later,
keeps the step to a few copies.
"""
from __future__ import annotations

import numpy as np


class StepBuffer:
    """Rows 0..n-1 of named arrays (capacity, *shape), one row per kept step; grows by doubling."""

    def __init__(self, capacity: int = 32):
        self.n = 0
        self._capacity = min(max(1, int(capacity)), 64)    # grows when more steps come
        self._arrays = {}
        self._fill = {}

    def add(self) -> None:
        """Make row n (the new step's) and count it. Its entries are left as they were (the fill value, or
        an earlier step's): the caller writes them, and parts it never writes keep the fill value."""
        if self.n == self._capacity:
            self._capacity *= 2
            for k, a in self._arrays.items():
                grown = np.full((self._capacity,) + a.shape[1:], self._fill[k], dtype=a.dtype)
                grown[:self.n] = a[:self.n]
                self._arrays[k] = grown
        self.n += 1

    def put(self, name: str, value, where=Ellipsis, shape=None, dtype=None, fill: float = 0.0) -> None:
        """Row n-1 of ``name`` (or its part ``where``) <- value. The array is allocated at its first put,
        of row shape ``shape`` and ``dtype`` (default value's) filled with ``fill``."""
        value = np.asarray(value)
        if name not in self._arrays:
            row = value.shape if shape is None else tuple(shape)
            self._arrays[name] = np.full((self._capacity,) + row, fill, dtype=value.dtype if dtype is None else dtype)
            self._fill[name] = fill
        self._arrays[name][self.n - 1][where] = value

    def row(self, name: str):
        """Row n-1 of ``name`` (a view, writable)."""
        return self._arrays[name][self.n - 1]

    def __getitem__(self, name: str):
        """Rows 0..n-1 of ``name``, (n, *shape) (a view)."""
        return self._arrays[name][:self.n]

    def __contains__(self, name: str) -> bool:
        return name in self._arrays

    def clear(self) -> None:
        """Forget the kept steps (the arrays stay allocated for the next ones)."""
        self.n = 0
