"""Dropout for the language model: Zaremba et al. (2014)'s non-recurrent dropout (on the embeddings,
between stacked layers and before the output layer) and Gal & Ghahramani (2016)'s recurrent dropout, all
with variational masks: one mask per sequence, the same at every step.

    e~_t = e_t * m_in,   x~^(l)_t = h^(l-1)_t * m_l (l >= 1),   h~_t = h_t * m_out,
    recurrent:  layer l's W_hh reads m_hh^(l) * h^(l)_{t-1}  (the state itself, h_t, is not dropped)
    m = Bernoulli(1 - p) / (1 - p)   of shape (B, features), drawn once per batch

(inverted dropout: nothing changes at evaluation). Backward multiplies the same gradients by the same masks
(``rnnlab.bptt`` and ``rnnlab.layers.base`` for the recurrent ones). ``--dropout`` sets p of the
non-recurrent masks, ``--dropout-recurrent`` that of the recurrent ones; each is off at 0. Masks come from
a generator seeded by a key the trainer passes per step (``(seed, step)``), so a run and its resumed twin
draw the same masks; without a key (evaluation, sampling, diagnosis) dropout is off. The recurrent masks
come from a second stream of the same key, so adding them leaves the non-recurrent masks as they were.
With one-hot input (no embedding) the input is not dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError


def check_dropout(p, flag: str = "--dropout") -> None:
    """Raise ConfigError unless 0 <= p < 1; ``flag`` names the setting in the message."""
    if not (isinstance(p, (int, float)) and 0 <= p < 1):
        raise ConfigError(f"{flag} must lie in [0, 1), got {p!r}")


@dataclass
class Masks:
    """The masks of one batch: ``input`` (B, E) or None, ``layers`` [None, (B, H), ...] (the input of
    layer l >= 1), ``output`` (B, H) or None, ``recurrent`` None or per layer a (B, H) mask on the state
    entering W_hh. Each is scaled by 1 / (1 - p); a dropout probability of 0 gives None."""

    input: np.ndarray | None
    layers: list
    output: np.ndarray | None
    recurrent: list | None = None


def _bernoulli(rng, p, shape, dtype):
    keep = 1.0 - p
    return ((rng.random(shape) < keep) / keep).astype(dtype)


def draw_masks(p: float, key, B: int, embedding_size, hidden_size: int, num_layers: int, dtype,
               p_recurrent: float = 0.0) -> Masks:
    """Masks for a batch of B sequences: the non-recurrent ones (probability ``p``) from
    ``np.random.default_rng(key)``, the recurrent ones (``p_recurrent``) from a second stream of ``key``."""
    if p > 0:
        rng = np.random.default_rng(key)
        inp = None if embedding_size is None else _bernoulli(rng, p, (B, embedding_size), dtype)
        layers = [None] + [_bernoulli(rng, p, (B, hidden_size), dtype) for _ in range(num_layers - 1)]
        out = _bernoulli(rng, p, (B, hidden_size), dtype)
    else:
        inp, layers, out = None, [None] * num_layers, None
    rec = None
    if p_recurrent > 0:
        rng = np.random.default_rng(np.random.SeedSequence(key, spawn_key=(1,)))
        rec = [_bernoulli(rng, p_recurrent, (B, hidden_size), dtype) for _ in range(num_layers)]
    return Masks(inp, layers, out, rec)
