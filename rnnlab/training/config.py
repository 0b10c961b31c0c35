"""How to train: the settings of one step (``StepConfig``, shared by every trainer of rnnlab) and of the
language model's run (``TrainConfig``, the flags of ``rnnlab train``, saved in every checkpoint).

The long-range tasks (``rnnlab.tasks.TrainConfig``) and online training with a gradient estimator
(``rnnlab.estimators.online.OnlineConfig``) extend ``StepConfig`` too: the optimiser, its learning rate and
the clipping thresholds have one name, one validation and one meaning in every mode.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import ConfigMixin
from ..errors import ConfigError
from ..optim import DEFAULT_LR, make_optimizer


def _positive_or_none(cfg, names) -> None:
    for name in names:
        v = getattr(cfg, name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                              or v <= 0):
            raise ConfigError(f"{name.replace('_', '-')} must be a positive number, got {v!r}")


@dataclass
class StepConfig(ConfigMixin):
    """What ``rnnlab.training.train_step`` needs besides the model and the batch: the optimiser and the
    clipping (by value, then by global norm). Every trainer's configuration extends it, each with its own
    defaults.

    Raises:
        ConfigError: an unknown optimiser, or a learning rate or clipping threshold that is not positive.
    """

    _what = "step configuration"

    optimizer: str = "adagrad"      # a key of rnnlab.optim.OPTIMIZERS
    lr: float | None = None         # None: a default per optimiser (DEFAULT_LR)
    clip: float | None = 5.0        # clip the global gradient norm to this (Pascanu et al. 2013); None: off
    clip_value: float | None = None  # clamp every gradient entry to +-clip_value; None: off

    def __post_init__(self):
        self._check_step()

    def _check_step(self) -> None:
        if self.optimizer not in DEFAULT_LR:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(DEFAULT_LR)}")
        if self.lr is not None and (isinstance(self.lr, bool) or not isinstance(self.lr, (int, float))
                                    or not (math.isfinite(self.lr) and self.lr > 0)):
            raise ConfigError(f"lr (the learning rate) must be a positive number, got {self.lr!r}")
        _positive_or_none(self, ("clip", "clip_value"))

    @property
    def learning_rate(self):
        """``lr``, or the optimiser's default (``DEFAULT_LR``) when it is None."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def make_optimizer(self):
        """A fresh optimiser of this configuration (``rnnlab.optim``)."""
        return make_optimizer(self.optimizer, self.learning_rate)

    def step_kwargs(self) -> dict:
        """The clipping arguments of ``train_step``."""
        return {"clip": self.clip, "clip_value": self.clip_value}


@dataclass
class TrainConfig(StepConfig):
    """How to train (the optimisation flags of ``rnnlab train``); saved in every checkpoint.

    The step's settings (optimizer, lr, clip, clip_value) are ``StepConfig``'s, with its defaults.

    Raises:
        ConfigError: an unknown optimiser, a learning rate, clip or time budget that is not positive, a
            negative truncation or epoch count, sizes below 1, or ``bptt_window`` below ``bptt_chunk``.
    """

    _what = "training configuration"

    truncate: int | None = None     # per-output truncation k (the tutorial's bptt_truncate); None: full BPTT
    batch_size: int = 32            # sentences (or parallel streams) per step
    epochs: int = 10
    time_budget: float | None = None  # seconds of training; stops mid-epoch when reached
    seed: int = 0
    stream: bool = False            # continuous stream with state carried across chunks
    bptt_chunk: int = 20            # --stream: k1, steps forward per update
    bptt_window: int | None = None  # --stream: k2 >= k1, steps backpropagated (None: k1)
    halve_lr: bool = True           # tutorial's rule: halve the learning rate when validation loss rises
    lr_decay_after: int | None = None  # multiply the learning rate by lr_decay after this epoch and each later one
    lr_decay: float = 0.5
    checkpoint_every: float = 180.0  # seconds between checkpoints within an epoch
    max_bad_steps: int = 3          # non-finite steps in a row before rolling back
    direct_lr: float | None = None  # direct connections' own learning rate (None: lr); follows lr's schedule
    direct_l2: float = 0.0          # L2 decay of the direct entries an update touches: w <- w (1 - l2) - step

    def __post_init__(self):
        self._check_step()
        _positive_or_none(self, ("time_budget", "checkpoint_every"))
        if self.truncate is not None and self.truncate < 0:
            raise ConfigError(f"truncate must be >= 0, got {self.truncate}")
        for name in ("batch_size", "bptt_chunk", "max_bad_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.epochs < 0:
            raise ConfigError(f"epochs must be >= 0, got {self.epochs}")
        if self.lr_decay_after is not None and self.lr_decay_after < 1:
            raise ConfigError(f"lr-decay-after must be an epoch number >= 1, got {self.lr_decay_after}")
        if not (math.isfinite(self.lr_decay) and 0 < self.lr_decay <= 1):
            raise ConfigError(f"lr-decay must lie in (0, 1], got {self.lr_decay}")
        if self.direct_lr is not None and not (math.isfinite(self.direct_lr) and self.direct_lr > 0):
            raise ConfigError(f"--direct-lr must be a positive number, got {self.direct_lr}")
        if not (math.isfinite(self.direct_l2) and 0 <= self.direct_l2 < 1):
            raise ConfigError(f"--direct-l2 must lie in [0, 1), got {self.direct_l2}")
        if self.bptt_window is not None and self.bptt_window < self.bptt_chunk:
            raise ConfigError("bptt-window (k2) must be at least bptt-chunk (k1)")
