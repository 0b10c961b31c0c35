"""The adding problem (Hochreiter & Schmidhuber 1997, experiment 4), in the form of Le et al. (2015) and
Arjovsky et al. (2016).

Each step carries a pair (value, marker): values are uniform in [0, 1], the marker is 1 at exactly two
steps and 0 elsewhere, one marked step drawn uniformly from the first half of the sequence and one from the
second half. The target, read from the last state, is the sum of the two marked values:

    x_t = (v_t, m_t),   v_t ~ U[0, 1],   m_{p1} = m_{p2} = 1,  p1 in [0, T/2),  p2 in [T/2, T)
    y   = v_{p1} + v_{p2}

Baseline: always predicting the mean 1 gives MSE = Var(v1 + v2) = 2/12 = 1/6 ~ 0.167 (Le et al. quote
0.1767). Loss: squared error of the linear readout of h_T, averaged over the batch.

Success criterion: a sequence is wrong when its squared error exceeds 0.04 (Pascanu et al. 2013); the task
is solved when fewer than 1% of 10,000 fresh sequences are wrong. Note: Pascanu et al. regress the *mean*
(v1 + v2) / 2, whose squared error is a quarter of the sum's; 0.04 on the sum (used here, |error| > 0.2)
is four times stricter in squared error than their rule.

Inputs (T, B, 2) float: channel 0 the value, channel 1 the marker. Targets (B, 1).
"""
from __future__ import annotations

import numpy as np

from .base import Batch, Task, _check_batch

WRONG_SQUARED_ERROR = 0.04


class Adding(Task):
    """The adding problem of the module docstring, sequences of ``length`` steps."""

    name = "adding"
    n_in = 2
    n_out = 1
    readout = "last"
    loss = "mse"
    metric = "mse"
    min_length = 2

    def sample(self, batch_size, rng, dtype=np.float32):
        """``batch_size`` fresh sequences from ``rng``: x (T, B, 2) [value, marker], y (B, 1) the sum."""
        _check_batch(batch_size)
        T, B = self.length, batch_size
        half = T // 2
        x = np.zeros((T, B, 2), dtype=dtype)
        x[:, :, 0] = rng.random((T, B))
        p1 = rng.integers(0, half, size=B)
        p2 = rng.integers(half, T, size=B)
        b = np.arange(B)
        x[p1, b, 1] = 1.0
        x[p2, b, 1] = 1.0
        y = (x[p1, b, 0] + x[p2, b, 0])[:, None]
        return Batch(x, y.astype(dtype))

    def wrong(self, pred, batch):
        return ~(((pred - batch.y) ** 2).sum(axis=-1) <= WRONG_SQUARED_ERROR)   # NaN counts as wrong

    def baseline(self):
        return 1.0 / 6.0
