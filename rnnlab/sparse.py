"""Gradients that touch a few rows (or columns) of a large matrix.

An embedding (or the tutorial's U with one-hot input) receives gradient only in the rows (columns) of the
words in the batch; a class-factorised output layer only in the rows of the words in the target classes.
``SparseGrad`` keeps just those, so that clipping, the non-finite guard and the SGD/Adagrad updates cost
work proportional to what changed. ``dense()`` gives the equivalent full array (the reference).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SparseGrad:
    """The gradient of a (R, D) parameter that is zero outside rows ``index`` (axis 0) or columns ``index``
    (axis 1): ``values`` (n, D) (or (n, R) for columns) holds those rows (columns)."""

    index: np.ndarray   # (n,) unique row (axis=0) or column (axis=1) indices
    values: np.ndarray  # (n, D): the gradient of each indexed row / column
    shape: tuple        # shape of the full parameter
    axis: int = 0

    @property
    def dtype(self):
        """The values' dtype."""
        return self.values.dtype

    def dense(self) -> np.ndarray:
        """The full array of ``shape``, zeros outside the indexed rows (columns)."""
        out = np.zeros(self.shape, dtype=self.values.dtype)
        self.add_to(out, 1.0)
        return out

    def add_to(self, param: np.ndarray, scale) -> None:
        """param += scale * self (only the indexed rows/columns are touched)."""
        if self.axis == 0:
            param[self.index] += scale * self.values
        else:
            param[:, self.index] += scale * self.values.T

    def sq_norm(self) -> float:
        """Sum of squares of the entries (the dense array's, since the rest is zero)."""
        v = self.values
        return float(np.dot(v.ravel(), v.ravel()))

    def __mul__(self, s):
        return SparseGrad(self.index, self.values * s, self.shape, self.axis)

    __rmul__ = __mul__


def segment_sum(index: np.ndarray, values: np.ndarray):
    """Sum the rows of ``values`` (N, D) that share an index; returns (unique_index, sums (U, D))."""
    order = np.argsort(index, kind="stable")
    idx = index[order]
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    return idx[starts], np.add.reduceat(values[order], starts, axis=0)


def to_dense(g):
    """``g.dense()`` for a ``SparseGrad``, ``g`` itself otherwise."""
    return g.dense() if isinstance(g, SparseGrad) else g
