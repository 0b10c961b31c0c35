"""Train one model on one task until it is solved or the budget is spent; return one result record.

Online training as in the papers: every step draws a fresh batch. Each step is the language model's
(``rnnlab.training.train_step``: the same guard, clipping and optimisers):

    E, g = loss and exact gradient (full BPTT)   [+ alpha * dOmega if ``omega`` > 0]
    if g is not finite: the run has diverged; stop
    g <- clip(g)          by value, then by global norm (Pascanu et al. 2013, Algorithm 1)
    theta <- optimiser step

Every ``eval_every`` steps the model is checked on ``eval_quick`` fixed held-out sequences; when fewer
than 1% are wrong, the verdict is taken on ``eval_sequences`` (10,000) fresh ones, and a run that passes
stops there ("solved at step N"). At the end the same 10,000-sequence verdict gives the final metric.

Seeds: the model's initial weights, the training stream and the evaluation sequences are all derived
from ``seed`` (and are different streams), so a record is reproducible from (task, model, length, seed,
config) up to floating-point summation order.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields

import numpy as np

from ..errors import ConfigError
from ..init import SCHEMES
from ..optim import OPTIMIZERS, make_optimizer
from ..training.step import Batch as StepBatch
from ..training.step import train_step
from .base import EVAL_SEQUENCES, SUCCESS_FRACTION_WRONG, Batch, Task
from .model import TaskModel


@dataclass
class TrainConfig:
    """How every run of a task is trained (the model, optimisation and evaluation flags of
    ``rnnlab experiment``).

    Raises:
        ConfigError: sizes below 1, an unknown optimiser or init, a rate, clip or budget that is not
            positive, or a negative ``omega``.
    """

    hidden_size: int = 64               # H, every model
    batch_size: int = 50                # sequences per step
    optimizer: str = "adam"             # a key of rnnlab.optim.OPTIMIZERS
    lr: float = 1e-3                    # learning rate
    clip: float | None = 1.0            # global-norm clipping threshold; None: no clipping
    clip_value: float | None = None     # elementwise clipping to [-v, v]; None: off
    max_steps: int = 2000               # step budget
    budget_seconds: float | None = None  # wall-clock budget per run (training + checks); None: steps only
    eval_every: int = 100               # steps between quick checks
    eval_quick: int = 1000              # held-out sequences per quick check
    eval_sequences: int = EVAL_SEQUENCES  # fresh sequences of the final verdict
    init: str | None = None             # override every model's init except the IRNN's identity
    spectral_radius: float | None = None  # rescale recurrent matrices to this spectral radius
    forget_bias: float | None = None    # LSTM forget-gate bias (None: the model default, 1.0)
    omega: float = 0.0                  # alpha of Pascanu et al.'s Omega regulariser (RNN models only)
    omega_hold_states: bool = True      # Omega's gradient as in the paper (see rnnlab.regularizers)
    stop_when_solved: bool = True       # stop a run as soon as the 10,000-sequence verdict passes

    def __post_init__(self):
        def pos_int(name):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be a positive integer, got {v!r}")
        for name in ("hidden_size", "batch_size", "max_steps", "eval_every", "eval_quick", "eval_sequences"):
            pos_int(name)
        for name in ("lr", "clip", "clip_value", "budget_seconds", "spectral_radius"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"{name.replace('_', '-')} must be a positive number, got {v!r}")
        if not (isinstance(self.omega, (int, float)) and math.isfinite(self.omega) and self.omega >= 0):
            raise ConfigError(f"omega must be a number >= 0, got {self.omega!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.init is not None and self.init not in SCHEMES:
            raise ConfigError(f"unknown init {self.init!r}; choose one of {', '.join(SCHEMES)}")

    def to_dict(self):
        """The fields as a JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        """The configuration ``to_dict`` wrote. Raises ConfigError for keys it does not know."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
        return cls(**d)


def _finite_or_none(v):
    return float(v) if v is not None and math.isfinite(v) else None


def train(task: Task, model: str, seed: int = 0, config: TrainConfig | None = None, progress=None) -> dict:
    """Train ``model`` on ``task``; return the run's record (see ``rnnlab.experiment`` for the fields).

    ``progress``, if given, is called as progress(step, loss) after every step."""
    cfg = config or TrainConfig()
    if cfg.omega and not model.startswith(("rnn", "irnn")):
        raise ConfigError(f"the Omega regulariser applies to RNN models, not {model!r}")
    t0 = time.perf_counter()
    net = TaskModel(task, model, hidden_size=cfg.hidden_size, init=cfg.init, spectral_radius=cfg.spectral_radius,
                    forget_bias=cfg.forget_bias, seed=seed)
    opt = make_optimizer(cfg.optimizer, cfg.lr)
    stream = task.batches(cfg.batch_size, seed=[seed, 1])
    quick = task.sample(cfg.eval_quick, np.random.default_rng([seed, 2]))
    verdict_seed = [seed, 3]
    with np.errstate(over="ignore", invalid="ignore"):   # divergence is detected and recorded, not warned
        step, diverged, solved_step, final, loss, loss_max, grad_norm_max, omega_last = _loop(
            task, net, opt, cfg, stream, quick, verdict_seed, t0, progress)
    if final is None or solved_step is None:
        with np.errstate(all="ignore"):
            final = net.evaluate(cfg.eval_sequences, verdict_seed)
    wrong = final["fraction_wrong"]
    success = (not diverged) and math.isfinite(final["loss"]) and wrong < SUCCESS_FRACTION_WRONG
    return {
        "task": task.name, "model": model, "length": task.length, "seed": int(seed),
        "metric_name": task.metric, "metric": _finite_or_none(final["loss"]),
        "baseline": float(task.baseline()), "fraction_wrong": float(wrong), "success": bool(success),
        "solved_step": solved_step, "steps": step, "seconds": round(time.perf_counter() - t0, 3),
        "diverged": diverged, "train_loss": _finite_or_none(loss),
        "train_loss_max": _finite_or_none(loss_max), "grad_norm_max": _finite_or_none(grad_norm_max),
        "omega": _finite_or_none(omega_last), "eval_sequences": cfg.eval_sequences,
    }


class _Objective:
    """A TaskModel as ``train_step`` reads a model: ``params`` and ``forward_backward(x, y)``, the task loss
    with the Omega regulariser's gradient (``omega`` > 0) included; ``info`` holds the last step's Omega."""

    def __init__(self, net: TaskModel, omega: float, hold_states: bool):
        self.net, self.params, self.omega, self.hold_states = net, net.params, omega, hold_states
        self.info = {}

    def forward_backward(self, x, y, h0=None, truncate=None, state_at=None):
        loss, grads, self.info = self.net.loss_and_grads(Batch(x, y), omega=self.omega,
                                                         omega_hold_states=self.hold_states)
        return loss, grads, None, x.shape[1]


def _loop(task, net, opt, cfg, stream, quick, verdict_seed, t0, progress):
    step, diverged, solved_step, final, loss = 0, False, None, None, float("nan")
    grad_norm_max, loss_max = 0.0, 0.0
    omega_last = None
    objective = _Objective(net, cfg.omega, cfg.omega_hold_states)
    while step < cfg.max_steps:
        if cfg.budget_seconds is not None and time.perf_counter() - t0 > cfg.budget_seconds:
            break
        b = next(stream)
        r = train_step(objective, opt, StepBatch(b.x, b.y), clip=cfg.clip, clip_value=cfg.clip_value)
        loss = r.loss
        omega_last = objective.info.get("omega", omega_last)
        if not r.ok:
            diverged = True
            break
        grad_norm_max, loss_max = max(grad_norm_max, r.grad_norm), max(loss_max, loss)
        step += 1
        if progress is not None:
            progress(step, loss)
        if cfg.stop_when_solved and step % cfg.eval_every == 0:
            o = net.predict(quick.x)
            if task.wrong(o, quick).mean() < SUCCESS_FRACTION_WRONG:
                final = net.evaluate(cfg.eval_sequences, verdict_seed)
                if final["fraction_wrong"] < SUCCESS_FRACTION_WRONG:
                    solved_step = step
                    break
                final = None
    return step, diverged, solved_step, final, loss, loss_max, grad_norm_max, omega_last
