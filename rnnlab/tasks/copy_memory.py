"""Copy memory (Arjovsky, Shah & Bengio 2016, section 4.1; after Hochreiter & Schmidhuber 1997).

Alphabet of 10 symbols: 0 is the blank, 1..8 are data, 9 the delimiter. For a delay T the sequence has
T + 20 steps:

    input   s_1 .. s_10   0 x (T-1)   9   0 x 10          s_i uniform over 1..8, with replacement
    target  0 x (T + 10)                  s_1 .. s_10

so the ten symbols must be held across T + 10 steps and reproduced after the delimiter. The model
predicts a symbol at every step (linear readout of each h_t, softmax over 10); the loss is the
cross-entropy averaged over all T + 20 steps and the batch.

Baseline: a model that outputs blanks until the delimiter and then guesses uniformly among the 8 data
symbols scores 10 log 8 / (T + 20) (Arjovsky et al.), the plateau where most models first get stuck.

Success criterion: a sequence is wrong when any of its 10 recalled symbols (argmax of the last 10
outputs) is wrong; solved when fewer than 1% of 10,000 fresh sequences are wrong.

Inputs (T + 20, B) int symbols (one-hot of size 10); targets (T + 20, B) int.
"""
from __future__ import annotations

import numpy as np

from .base import Batch, Task, _check_batch

N_SYMBOLS = 10
N_DATA = 8
N_COPY = 10
BLANK, DELIMITER = 0, 9


class CopyMemory(Task):
    """The copy-memory task of the module docstring, with delay T = ``length``."""

    name = "copy"
    n_in = N_SYMBOLS
    n_out = N_SYMBOLS
    readout = "all"
    loss = "xent"
    metric = "xent"
    min_length = 1

    @property
    def steps(self):
        return self.length + 2 * N_COPY

    def sample(self, batch_size, rng, dtype=np.float32):
        """``batch_size`` fresh sequences from ``rng``: x, y (T + 20, B) int symbols."""
        _check_batch(batch_size)
        T, B = self.length, batch_size
        data = rng.integers(1, N_DATA + 1, size=(N_COPY, B))
        x = np.full((T + 2 * N_COPY, B), BLANK, dtype=np.int64)
        x[:N_COPY] = data
        x[T + N_COPY - 1] = DELIMITER
        y = np.full_like(x, BLANK)
        y[T + N_COPY:] = data
        return Batch(x, y)

    def wrong(self, pred, batch):
        """pred: (T + 20, B, 10) scores (logits or probabilities)."""
        last = pred[-N_COPY:]
        recalled = last.argmax(axis=-1)
        return (recalled != batch.y[-N_COPY:]).any(axis=0) | ~np.isfinite(last).all(axis=(0, 2))

    def baseline(self):
        return N_COPY * np.log(N_DATA) / (self.length + 2 * N_COPY)
