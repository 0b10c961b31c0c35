"""What every long-range task shares: a batch, a seeded stream of batches, and the success rule.

A task maps an input sequence to targets that depend on inputs far back. Every task here is an
infinite, seeded source of fresh sequences (the papers train online, never on a fixed set), scored
in the same way:

    a sequence is *wrong* by the task's own rule (squared error > 0.04, a wrong class, a wrong symbol);
    a model *solves* the task when fewer than 1% of 10,000 fresh sequences are wrong
    (the criterion of Pascanu et al. 2013, section 5, and of their released code: error below 1%).

Arrays are time-major: inputs ``x`` are (T, B, n_in) floats or (T, B) integer symbols (one-hot
vectors of size ``n_in``, which the layers gather instead of multiplying).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

SUCCESS_FRACTION_WRONG = 0.01   # solved: fewer than 1% of fresh sequences wrong
EVAL_SEQUENCES = 10_000         # fresh sequences the final verdict is taken on


@dataclass
class Batch:
    """One batch of sequences. ``x``: (T, B, n_in) float or (T, B) int; ``y``: the task's targets
    ((B, 1) float for regression, (B,) int for a class at the end, (T, B) int for a label per step)."""
    x: np.ndarray
    y: np.ndarray


class Task:
    """Base class. Subclasses set the class attributes and implement ``sample`` and ``wrong``.

    ``readout`` is ``"last"`` (a prediction from the final state only) or ``"all"`` (one per step);
    ``loss`` is ``"mse"`` (regression, ``n_out`` outputs) or ``"xent"`` (softmax over ``n_out`` classes).
    """

    name = "task"
    n_in = 1
    n_out = 1
    readout = "last"
    loss = "mse"
    metric = "mse"          # name of the loss as reported (the quantity ``baseline`` refers to)
    min_length = 1

    def __init__(self, length: int):
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < self.min_length:
            raise ConfigError(f"{self.name}: length must be an integer >= {self.min_length}, got {length!r}")
        self.length = int(length)

    @property
    def steps(self) -> int:
        """Number of time steps T of each sequence (may exceed ``length``, e.g. the copy task's T + 20)."""
        return self.length

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """``batch_size`` fresh sequences drawn from ``rng`` (shapes: see ``Batch`` and the task's module)."""
        raise NotImplementedError

    def wrong(self, pred: np.ndarray, batch: Batch) -> np.ndarray:
        """(B,) bool: which sequences the prediction gets wrong by the task's rule (non-finite = wrong)."""
        raise NotImplementedError

    def baseline(self) -> float:
        """The loss of the best predictor that ignores the input: what 'learned nothing' scores."""
        raise NotImplementedError

    def batches(self, batch_size: int, seed: int):
        """Endless deterministic stream of fresh batches: the same seed gives the same sequences."""
        _check_batch(batch_size)
        rng = np.random.default_rng(seed)
        while True:
            yield self.sample(batch_size, rng)

    def __repr__(self):
        return f"{type(self).__name__}(length={self.length})"


def _check_batch(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch size must be a positive integer, got {batch_size!r}")


def one_hot(symbols: np.ndarray, n: int, dtype=np.float32) -> np.ndarray:
    """(T, B) int -> (T, B, n) float one-hot vectors."""
    out = np.zeros(symbols.shape + (n,), dtype=dtype)
    np.put_along_axis(out, symbols[..., None], 1.0, axis=-1)
    return out
