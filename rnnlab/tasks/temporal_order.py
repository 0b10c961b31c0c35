"""Temporal order (Hochreiter & Schmidhuber 1997, experiment 6a), in the length-scaled form of Pascanu,
Mikolov & Bengio (2013).

Six symbols, one-hot: A, B (relevant, 0 and 1) and the distractors c, d, e, f (2..5). A sequence of
length T is distractors drawn uniformly, except at two steps that carry A or B:

    p1 uniform in [T/10, 2T/10),   p2 uniform in [5T/10, 6T/10)        (integer parts)
    class = v1 + 2 v2 in {AA, BA, AB, BB} = {0, 1, 2, 3},   v_i = symbol at p_i

The class is read from the last state (linear readout, softmax over 4); loss: cross-entropy. The first
relevant symbol lies about 0.8 T steps before the decision. Hochreiter & Schmidhuber's original fixes
the positions near steps 10-20 and 50-60 of sequences of length 100-110, with start and end markers;
Pascanu et al. scale the windows with T as here.

Baseline: guessing uniformly gives cross-entropy log 4 ~ 1.386 and 75% wrong.

Success criterion: a sequence is wrong when the argmax class is wrong; solved when fewer than 1% of
10,000 fresh sequences are wrong (Pascanu et al.).

Inputs (T, B) int symbols (one-hot of size 6); targets (B,) int classes.
"""
from __future__ import annotations

import numpy as np

from .base import Batch, Task, _check_batch

N_SYMBOLS = 6
N_CLASSES = 4


class TemporalOrder(Task):
    """The temporal-order task of the module docstring, sequences of ``length`` steps."""

    name = "temporal-order"
    n_in = N_SYMBOLS
    n_out = N_CLASSES
    readout = "last"
    loss = "xent"
    metric = "xent"
    min_length = 10   # both windows must be non-empty: T // 10 >= 1

    def windows(self):
        """The half-open ranges of the two relevant positions."""
        T = self.length
        w = T // 10
        return (w, 2 * w), (T // 2, T // 2 + w)

    def sample(self, batch_size, rng, dtype=np.float32):
        """``batch_size`` fresh sequences from ``rng``: x (T, B) int symbols, y (B,) int classes 0..3."""
        _check_batch(batch_size)
        T, B = self.length, batch_size
        (a1, b1), (a2, b2) = self.windows()
        x = rng.integers(2, N_SYMBOLS, size=(T, B))
        p1 = rng.integers(a1, b1, size=B)
        p2 = rng.integers(a2, b2, size=B)
        v1 = rng.integers(0, 2, size=B)
        v2 = rng.integers(0, 2, size=B)
        b = np.arange(B)
        x[p1, b] = v1
        x[p2, b] = v2
        return Batch(x, v1 + 2 * v2)

    def wrong(self, pred, batch):
        return (pred.argmax(axis=-1) != batch.y) | ~np.isfinite(pred).all(axis=-1)

    def baseline(self):
        return float(np.log(N_CLASSES))
