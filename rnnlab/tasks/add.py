"""The Add task of Marschall, Cho & Savin (2020): a stream of coin flips whose output probability depends on
two inputs in the past, at lags t1 < t2 (the ``length``):

    x_t ~ Bernoulli(0.5) i.i.d.,      y_t = 0.5 + 0.5 x_{t - t1} - 0.25 x_{t - t2}   (a probability)

The network reads x_t (one input) and outputs two logits o_t; the loss is the cross-entropy of the target
distribution (y_t, 1 - y_t) against softmax(o_t), averaged over steps and streams. Its plateaus are
exact (``plateaus``): a predictor that has learned nothing outputs E[y] = 0.625 and scores
H(0.625) = 0.6616 nats; one that knows x_{t-t1} only scores E_x1 H(E[y | x1]) = 0.5192; one that knows
both scores E H(y_t) = 0.4545, the floor (H the binary entropy). Truncated BPTT whose window reaches t1
but not t2 can learn the first dependency only and stalls at 0.5192.

A stream has no sequence boundaries: training runs it continuously (``stream`` carries the last t2
inputs from chunk to chunk; ``rnnlab.estimators.online``). ``sample`` starts a stream from zeros
(x_t = 0 before the first step), so the first t2 targets are predictable only by a network that knows
where the stream begins; ``STATIONARY_FROM`` says the losses are averaged from step t2 on.

Inputs (T, B, 1) float in {0, 1}; targets (T, B) float probabilities y_t.
A sequence is *wrong* when its mean cross-entropy over the stationary steps is above the midpoint of the
two lower plateaus (it has not learned both dependencies).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from .base import Batch, Task, _check_batch
from .readout import log_softmax


def binary_entropy(p: float) -> float:
    """H(p) = -p log p - (1 - p) log(1 - p) in nats (0 at p = 0 or 1)."""
    return -sum(q * math.log(q) for q in (p, 1.0 - p) if q > 0)


def plateaus() -> dict:
    """The three cross-entropy plateaus (nats), by enumerating the four equally likely (x_{t-t1}, x_{t-t2})."""
    y = {(a, b): 0.5 + 0.5 * a - 0.25 * b for a in (0, 1) for b in (0, 1)}
    mean = sum(y.values()) / 4
    first = [(y[(a, 0)] + y[(a, 1)]) / 2 for a in (0, 1)]
    return {"nothing": binary_entropy(mean),
            "t1_only": sum(binary_entropy(p) for p in first) / 2,
            "both": sum(binary_entropy(p) for p in y.values()) / 4}


def soft_xent(o: np.ndarray, y: np.ndarray):
    """o (N, 2) logits, y (N,) probabilities of class 0. Returns (mean cross-entropy, dL/do (N, 2))."""
    N = o.shape[0]
    target = np.stack([y, 1.0 - y], axis=-1).astype(o.dtype)
    logp = log_softmax(o)
    loss = float(-np.sum(target * logp, dtype=np.float64) / N)
    return loss, (np.exp(logp) - target) / N


class Add(Task):
    """The Add task with t2 = ``length`` and t1 (default (t2 + 1) // 2)."""

    name = "add"
    n_in = 1
    n_out = 2
    readout = "all"
    loss = "soft-xent"
    metric = "xent"
    min_length = 2
    chunk = 100            # steps per sampled sequence (``steps``)

    def __init__(self, length: int, t1: int | None = None):
        super().__init__(length)
        self.t2 = self.length
        self.t1 = (self.t2 + 1) // 2 if t1 is None else t1
        if isinstance(self.t1, bool) or not isinstance(self.t1, (int, np.integer)) or not 1 <= self.t1 < self.t2:
            raise ConfigError(f"add: t1 must be an integer with 1 <= t1 < t2 = {self.t2}, got {t1!r}")

    @property
    def steps(self) -> int:
        return max(self.chunk, 4 * self.t2)

    @property
    def stationary_from(self) -> int:
        """The first step whose target reads only inputs the stream has shown."""
        return self.t2

    def sample(self, batch_size, rng, steps=None, history=None, dtype=np.float32):
        """``batch_size`` streams of ``steps`` steps (default ``self.steps``): x (T, B, 1), y (T, B).
        ``history`` (t2, B): the inputs before the first step (default zeros)."""
        _check_batch(batch_size)
        T = self.steps if steps is None else int(steps)
        x = (rng.random((T, batch_size)) < 0.5).astype(dtype)
        past = np.zeros((self.t2, batch_size), dtype=dtype) if history is None else history
        full = np.concatenate([past, x])                          # full[t2 + t] = x_t
        t = np.arange(T)
        y = 0.5 + 0.5 * full[self.t2 + t - self.t1] - 0.25 * full[t]
        return Batch(x[..., None], y.astype(dtype))

    def stream(self, batch_size: int, seed, steps: int | None = None):
        """Endless chunks of ``batch_size`` continuous streams: each chunk's targets read the previous ones'."""
        rng = np.random.default_rng(seed)
        history = None
        while True:
            b = self.sample(batch_size, rng, steps, history)
            x = b.x[..., 0]
            history = (np.concatenate([history, x]) if history is not None else
                       np.concatenate([np.zeros((self.t2, batch_size), dtype=x.dtype), x]))[-self.t2:]
            yield b

    def sequence_loss(self, o: np.ndarray, batch: Batch) -> np.ndarray:
        """(B,) mean cross-entropy of logits o (T, B, 2) over each stream's stationary steps."""
        s = self.stationary_from
        logp = log_softmax(np.asarray(o, dtype=np.float64)[s:])
        y = np.asarray(batch.y, dtype=np.float64)[s:]
        return -(y * logp[..., 0] + (1.0 - y) * logp[..., 1]).mean(axis=0)

    def wrong(self, pred, batch):
        p = plateaus()
        loss = self.sequence_loss(pred, batch)
        return ~(loss <= (p["t1_only"] + p["both"]) / 2)          # NaN counts as wrong

    def baseline(self):
        return plateaus()["nothing"]

    def __repr__(self):
        return f"Add(t1={self.t1}, t2={self.t2})"
