"""One training step, as a function: batch and carried state in; loss, gradient norm and new state out.

    loss, grads, hn = model.forward_backward(x, y, h0=carry)
    if loss or ||grads|| is not finite: skip the update (the caller counts it)
    if grads is empty (nothing in the batch to learn from): no update either, and the step is ok
    grads <- clip(grads)                     (by value, then by global norm: ``clip_grads`` of the optimisers' module)
    params <- optimiser step(params, grads)  (in place)

The step keeps nothing between calls: whatever continues (a stream's recurrent state) comes back in the
result, and the loop passes it to the next step. The loop, the checkpoints and the Hogwild workers
(``rnnlab.hogwild``) wrap this function; none of them lives inside it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..optim import clip_grads, global_norm


@dataclass
class Batch:
    """The data of one update: what the model reads and what the loop needs to know about it.

    Attributes:
        x, y: (T, B) int arrays of inputs and targets; ``y == -1`` is padding.
        carry_from: in a stream, the step of this window whose state enters the next window (the
            next window may overlap this one); None: nothing is carried (independent sentences).
        continues: this window continues the streams of the previous one, so it starts from the
            carried state; False: it starts from zeros (sentences, or the first window of an epoch).
    """

    x: np.ndarray
    y: np.ndarray
    carry_from: int | None = None
    continues: bool = False

    def __iter__(self):  # x, y = batch, as for the (x, y) pairs of rnnlab.data
        return iter((self.x, self.y))


def as_batch(b) -> Batch:
    """A Batch from a Batch or an (x, y) pair (data objects written by users yield pairs)."""
    return b if isinstance(b, Batch) else Batch(*b)


@dataclass
class StepResult:
    """What one step reports.

    Attributes:
        loss: mean cross-entropy of the batch (may be inf or nan).
        grad_norm: global gradient norm before clipping (may be inf or nan).
        tokens: number of targets.
        ok: the update was applied (False: loss or gradient was not finite and the step was skipped).
        carry: the state the next window of the stream starts from (None: no stream, or zeros).
    """

    loss: float
    grad_norm: float
    tokens: int
    ok: bool
    carry: object = None


def _finite_state(h):
    parts = h if isinstance(h, tuple) else (h,)
    return all(np.isfinite(p).all() for p in parts)


def train_step(model, opt, batch: Batch, carry=None, *, truncate=None, clip=None, clip_value=None,
               apply=None, dropout_key=None) -> StepResult:
    """One update of ``model`` (a LanguageModel) by ``opt`` on ``batch``; see the module docstring.

    Args:
        carry: the state the previous window handed on (used when ``batch.continues``).
        truncate: None (full BPTT) or k, the tutorial's ``bptt_truncate``.
        clip, clip_value: global-norm and per-entry clipping thresholds (None: off).
        apply: ``apply(grads)`` performs the update instead of ``opt.step(model.params, grads)`` (Hogwild:
            the shared parameters, one update at a time).
        dropout_key: the seed of this step's dropout masks (a model built with dropout; rnnlab.dropout),
            or None: no dropout.
    Returns:
        StepResult. A skipped step still hands on this window's state (computed by its forward pass with
        the current weights), so the next window goes on from where the stream is; a state that is not
        finite is handed on as zeros (None).
    """
    h0 = carry if batch.continues else None
    # overflow is expected while training blows up; the guard below handles it, so no warnings
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        kw = {} if dropout_key is None else {"dropout_key": dropout_key}
        loss, grads, hn, n = model.forward_backward(batch.x, batch.y, h0=h0, truncate=truncate,
                                                    state_at=batch.carry_from, **kw)
        new_carry = hn if batch.carry_from is not None and _finite_state(hn) else None
        norm = global_norm(grads)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            return StepResult(loss, norm, n, False, new_carry)
        if not grads:   # e.g. an online window before a last-step target: the optimiser does not count it
            return StepResult(loss, norm, n, True, new_carry)
        clip_grads(grads, clip_norm=clip, clip_value=clip_value, norm=norm)
        if apply is None:
            opt.step(model.params, grads)
        else:
            apply(grads)
    return StepResult(loss, norm, n, True, new_carry)
