"""Sampling sentences from a language model, all samples advancing together as one batch.

At each step the next token is drawn from p(w | prefix)^(1/temperature) (renormalised). ``<s>`` is never
drawn; ``<unk>`` is not drawn unless ``allow_unk`` (the tutorial resamples unknown words too).
"""
from __future__ import annotations

import numpy as np

from .direct import MAX_ORDER
from .errors import ConfigError


def _direct_next(lm, x):
    """The direct connections' scores of the word after x (T, n), or None (a model without them)."""
    if getattr(lm, "direct", None) is None:
        return None
    return lm.direct_batch(x, (x.shape[0] - 1) * x.shape[1] + np.arange(x.shape[1]))


def sample(lm, bos: int, eos: int, n: int = 10, prime=(), temperature: float = 1.0, max_length: int = 50,
           rng=None, banned=()):
    """Draw ``n`` continuations of ``[bos] + prime``. Returns a list of id lists (prime excluded, eos
    excluded), each at most ``max_length`` tokens."""
    if n < 1:
        raise ConfigError(f"the number of samples (-n) must be at least 1, got {n}")
    if max_length < 1:
        raise ConfigError(f"max-length must be at least 1, got {max_length}")
    if not (temperature > 0 and np.isfinite(temperature)):
        raise ConfigError(f"temperature must be a positive number, got {temperature}")
    rng = np.random.default_rng(rng)
    prefix = np.array([bos, *prime], dtype=np.int64)
    x = np.repeat(prefix[:, None], n, axis=1)               # (T0, n)
    out, h, _ = lm.hidden(x)
    H = lm.hidden_size
    params = lm.output_params()
    ban = np.array(sorted({bos, *banned}), dtype=np.int64)
    seqs = np.zeros((max_length, n), dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    length = np.full(n, max_length)
    last = out[-1]                                           # (n, H)
    for t in range(max_length):
        logp = lm.output.log_probs(params, last.reshape(-1, H), direct=_direct_next(lm, x)).astype(np.float64)
        logp[:, ban] = -np.inf
        logp -= logp.max(axis=1, keepdims=True)             # before the division: finite for any temperature
        logp /= temperature
        p = np.exp(logp)
        cdf = np.cumsum(p, axis=1)
        u = rng.random(n) * cdf[:, -1]
        w = np.minimum((cdf < u[:, None]).sum(axis=1), lm.vocab_size - 1)
        seqs[t] = w
        ended = alive & (w == eos)
        length[ended] = t
        alive &= ~ended
        if not alive.any():
            break
        out, h, _ = lm.hidden(w[None, :], h)
        last = out[-1]
        x = np.concatenate([x[-MAX_ORDER:], w[None, :]])   # the last words: all that direct connections read
    return [list(seqs[:length[i], i]) for i in range(n)]
