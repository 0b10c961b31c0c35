"""Checkpoint and rollback policy: what a run writes to disk, what it goes back to when it blows up.

- The last good state (parameters, optimiser state and step count) is held in memory, taken every
  ``GOOD_EVERY`` steps (when the parameters are finite) and at the end of every complete epoch. After
  ``max_bad_steps`` non-finite steps in a row, or when an update overflowed the parameters themselves,
  training goes back to it and halves the learning rate; more than ``MAX_ROLLBACKS`` raise
  NumericalError.
- Where a rollback lands depends on step counts only, never on the clock: the parameters are checked at
  the same steps, and a checkpoint holds the last good state too (``good/...``; not when it is the
  current state, as at an epoch's end) and the count of non-finite steps in a row, so a resumed run rolls
  back exactly as an uninterrupted one.
- A run checkpoint (``RunCheckpoint``) is the model's state (``model/<name>``), the optimiser state
  (``opt/<slot>``), a stream's carried state (``carry/<i>``) and the good state, with the configuration
  and the training state in the metadata.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from .. import checkpoint
from ..errors import CheckpointError, NumericalError
from ..lm import checkpoint_arrays, state_from_arrays

GOOD_EVERY = 50     # steps between checks of the parameters (and snapshots of the last good state)
MAX_ROLLBACKS = 10


def params_finite(params: dict) -> bool:
    """Every parameter entry is finite."""
    return all(np.isfinite(v).all() for v in params.values())


class Recovery:
    """The last good state of ``params`` and ``opt``, and going back to it."""

    def __init__(self, params: dict, opt):
        self.params, self.opt = params, opt
        self.good = None          # (params, optimiser state, t)

    def remember(self) -> None:
        """Take the current state as the last good one."""
        self.good = ({k: v.copy() for k, v in self.params.items()},
                     {k: v.copy() for k, v in self.opt.state.items()}, self.opt.t)

    def rollback(self, state: dict) -> None:
        """Go back to the last good state, halve the learning rate, count it in ``state``."""
        params, opt_state, t = self.good
        for k, v in params.items():          # in place: arrays shared with Hogwild workers stay shared
            self.params[k][...] = v
        for k in set(self.opt.state) - set(opt_state):
            del self.opt.state[k]            # slots made since are dropped
        for k, v in opt_state.items():
            if k in self.opt.state:
                self.opt.state[k][...] = v
            else:
                self.opt.state[k] = v.copy()
        self.opt.t = t
        self.opt.lr *= 0.5
        state["lr"] = self.opt.lr
        state["rollbacks"] += 1

    @staticmethod
    def check_rollbacks(state: dict) -> None:
        """Raises NumericalError after more than MAX_ROLLBACKS rollbacks."""
        if state["rollbacks"] > MAX_ROLLBACKS:
            raise NumericalError("training keeps producing non-finite values after 10 rollbacks; lower the "
                                 "learning rate or clip gradients")

    def arrays(self) -> dict:
        """The last good state under checkpoint keys (``good/model/<name>``, ``good/opt/<slot>``)."""
        params, opt_state, _ = self.good
        out = {f"good/model/{k}": v for k, v in params.items()}
        out.update({f"good/opt/{k}": v for k, v in opt_state.items()})
        return out

    def load(self, arrays: dict, t: int | None) -> None:
        """The last good state from a checkpoint's arrays (none stored: the current state)."""
        params = {k[len("good/model/"):]: v for k, v in arrays.items() if k.startswith("good/model/")}
        if not params or t is None:
            self.remember()
            return
        opt_state = {k[len("good/opt/"):]: v for k, v in arrays.items() if k.startswith("good/opt/")}
        self.good = ({k: np.array(v) for k, v in params.items()}, {k: np.array(v) for k, v in opt_state.items()},
                     int(t))


class RunCheckpoint:
    """Writes and reads a run's ``last.npz`` / ``best.npz`` in ``out``."""

    def __init__(self, out):
        self.out = Path(out)

    def save(self, name, lm, opt, carry, recovery: Recovery, meta: dict, good_too: bool) -> None:
        """Write ``<out>/<name>.npz``. ``good_too``: store the last good state as well."""
        arrays = checkpoint_arrays(lm)
        arrays.update({f"opt/{k}": v for k, v in opt.state.items()})
        if carry is not None:
            for i, p in enumerate(carry if isinstance(carry, tuple) else (carry,)):
                arrays[f"carry/{i}"] = p
        if good_too:
            arrays.update(recovery.arrays())
        checkpoint.save(self.out / f"{name}.npz", arrays, meta)

    @staticmethod
    def read(path):
        """(model state, optimiser state, carry, other arrays, meta) of a run checkpoint.

        Raises:
            CheckpointError: as ``checkpoint.load``, or no training state in it.
        """
        arrays, meta = checkpoint.load(path)
        for key in ("state", "optimizer"):
            if not isinstance(meta.get(key), dict):
                raise CheckpointError(f"{path} holds no training state ({key} missing); it cannot be resumed")
        opt_state = {k[4:]: v for k, v in arrays.items() if k.startswith("opt/")}
        carry = [arrays[k] for k in sorted(arrays) if k.startswith("carry/")]
        carry = None if not carry else (tuple(carry) if len(carry) == 2 else carry[0])
        return state_from_arrays(arrays), opt_state, carry, arrays, meta

    def link_best(self) -> None:
        """best.npz := last.npz, as a hard link (saving the same arrays twice costs ~45 ms an epoch); a
        later save replaces last.npz by a new file, so best.npz keeps these bytes."""
        last, best, tmp = self.out / "last.npz", self.out / "best.npz", self.out / ".best.npz.link"
        tmp.unlink(missing_ok=True)
        try:
            os.link(last, tmp)
        except OSError:  # no hard links here: copy
            shutil.copyfile(last, tmp)
        os.replace(tmp, best)
