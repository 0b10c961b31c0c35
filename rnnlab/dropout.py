"""Dropout for the language model: Zaremba et al. (2014)'s non-recurrent dropout (on the embeddings,
between stacked layers and before the output layer) with Gal & Ghahramani (2016)'s variational masks:
one mask per sequence, the same at every step.

    e~_t = e_t * m_in,   x~^(l)_t = h^(l-1)_t * m_l (l >= 1),   h~_t = h_t * m_out,
    m = Bernoulli(1 - p) / (1 - p)   of shape (B, features), drawn once per batch

(inverted dropout: nothing changes at evaluation). Backward multiplies the same gradients by the same masks.
Masks come from a generator seeded by a key the trainer passes per step (``(seed, step)``), so a run and
its resumed twin draw the same masks; without a key (evaluation, sampling, diagnosis) dropout is off.
With one-hot input (no embedding) the input is not dropped. Not done: dropout on the recurrent connections
(h_{t-1} -> h_t), which needs a mask inside each cell's step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError


def check_dropout(p) -> None:
    """Raise ConfigError unless 0 <= p < 1."""
    if not (isinstance(p, (int, float)) and 0 <= p < 1):
        raise ConfigError(f"--dropout must lie in [0, 1), got {p!r}")


@dataclass
class Masks:
    """The masks of one batch: ``input`` (B, E) or None, ``layers`` [None, (B, H), ...] (the input of
    layer l >= 1), ``output`` (B, H). Each is scaled by 1 / (1 - p)."""

    input: np.ndarray | None
    layers: list
    output: np.ndarray


def draw_masks(p: float, key, B: int, embedding_size, hidden_size: int, num_layers: int, dtype) -> Masks:
    """Masks for a batch of B sequences, from ``np.random.default_rng(key)``."""
    rng = np.random.default_rng(key)
    keep = 1.0 - p

    def mask(n):
        return ((rng.random((B, n)) < keep) / keep).astype(dtype)

    inp = None if embedding_size is None else mask(embedding_size)
    return Masks(inp, [None] + [mask(hidden_size) for _ in range(num_layers - 1)], mask(hidden_size))
