"""The one bookkeeping of a pass over an epoch's batches, for one process and for Hogwild workers alike.

Each worker (one process: the only one) owns a row of a ``stats`` table (``reset``; in shared memory
for Hogwild) and records every step in it (``record``); the loop reads the run's progress off the
column sums (``totals``). ``work`` is the inner loop of every worker: step, record, check, tick.
"""
from __future__ import annotations

import numpy as np

from .step import as_batch

# columns of a stats row
NEXT, DONE, TOKENS, LOSS, NORM, OK, SKIPPED, LAST_NORM, LAST_LOSS, BAD_IN_ROW = range(10)
COLUMNS = 10
# entries of a pass's flags (a Hogwild pool's shared flags begin with the same two)
FLAG_STOP, FLAG_ROLLBACK = 0, 1
# what ended a worker's share of a pass
FINISHED, STOPPED, ROLLBACK = "finished", "stopped", "rollback"


def reset(stats: np.ndarray, first: int, n_batches: int, bad_in_row: int = 0) -> np.ndarray:
    """Set a (workers, COLUMNS) table up, in place, for a pass over batches ``first`` .. ``n_batches`` - 1
    in which worker r takes the batches r, r + W, ... of the epoch: its first is the first index >= ``first``
    that is r modulo W. ``bad_in_row``: the non-finite steps in a row before the pass (one process)."""
    workers = stats.shape[0]
    stats[...] = 0
    for r in range(workers):
        stats[r, NEXT] = min(first + (r - first) % workers, n_batches)
    stats[0, BAD_IN_ROW] = bad_in_row
    return stats


def record(row: np.ndarray, result) -> None:
    """Count one step's ``StepResult`` into a worker's row."""
    if result.ok:
        row[BAD_IN_ROW] = 0
        row[TOKENS] += result.tokens
        row[LOSS] += result.loss * result.tokens
        row[NORM] += result.grad_norm
        row[OK] += 1
    else:
        row[BAD_IN_ROW] += 1
        row[SKIPPED] += 1
    row[LAST_NORM], row[LAST_LOSS] = result.grad_norm, result.loss
    row[DONE] += 1


def totals(stats: np.ndarray, n_batches: int) -> dict:
    """The pass so far, summed over the workers: steps done, ok, skipped, tokens, loss sum, norm sum, the
    last step's loss and norm (worker 0's), and the position: every batch below it is done (the smallest
    next batch of any worker). Called after every step: one pass over the table, Python floats after it."""
    rows = stats.tolist()
    s = [sum(col) for col in zip(*rows)] if len(rows) > 1 else rows[0]
    return {"steps": int(s[DONE]), "ok": int(s[OK]), "skipped": int(s[SKIPPED]), "tokens": int(s[TOKENS]),
            "loss": s[LOSS], "norm": s[NORM], "last_norm": rows[0][LAST_NORM], "last_loss": rows[0][LAST_LOSS],
            "position": int(min(min(r[NEXT] for r in rows), n_batches))}


def work(step, batches, row: np.ndarray, stride: int, n_batches: int, max_bad: int, stopped, tick,
         t_of=None) -> str:
    """Worker's share of a pass: ``step(batch, t)`` on each of its ``batches`` (the epoch's batches
    row[NEXT], row[NEXT] + stride, ...), recorded in ``row``. ``t_of(k)``: the optimiser step count for
    the worker's k-th step (Hogwild keeps the workers' counts interleaved), or None. Checks ``stopped()``
    before each step and calls ``tick()`` after it. Returns FINISHED, STOPPED, or ROLLBACK after
    ``max_bad`` non-finite steps in a row."""
    first = int(row[NEXT])
    for k, batch in enumerate(batches):
        if stopped():
            return STOPPED
        record(row, step(as_batch(batch), None if t_of is None else t_of(k)))
        row[NEXT] = min(first + (k + 1) * stride, n_batches)
        if row[BAD_IN_ROW] >= max_bad:
            return ROLLBACK
        tick()
    return FINISHED
