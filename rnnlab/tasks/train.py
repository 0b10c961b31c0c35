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
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..init import SCHEMES
from ..training import tally
from ..training.config import StepConfig, _positive_or_none
from ..training.step import Batch as StepBatch
from ..training.step import train_step
from .base import EVAL_SEQUENCES, SUCCESS_FRACTION_WRONG, Batch, Task
from .model import TaskModel


@dataclass
class TrainConfig(StepConfig):
    """How every run of a task is trained (the model, optimisation and evaluation flags of
    ``rnnlab experiment``). The step's settings (optimizer, lr, clip, clip_value) are
    ``rnnlab.training.StepConfig``'s, the language model's too; the defaults here are the tasks' own.

    Raises:
        ConfigError: sizes below 1, an unknown optimiser or init, a rate, clip or budget that is not
            positive, or a negative ``omega``.
    """

    _what = "training setting"

    optimizer: str = "adam"             # a key of rnnlab.optim.OPTIMIZERS
    lr: float | None = 1e-3             # learning rate (None: the optimiser's DEFAULT_LR)
    clip: float | None = 1.0            # global-norm clipping threshold; None: no clipping
    hidden_size: int = 64               # H, every model
    batch_size: int = 50                # sequences per step
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
        self._check_step()

        def pos_int(name):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be a positive integer, got {v!r}")
        for name in ("hidden_size", "batch_size", "max_steps", "eval_every", "eval_quick", "eval_sequences"):
            pos_int(name)
        _positive_or_none(self, ("budget_seconds", "spectral_radius"))
        if not (isinstance(self.omega, (int, float)) and math.isfinite(self.omega) and self.omega >= 0):
            raise ConfigError(f"omega must be a number >= 0, got {self.omega!r}")
        if self.init is not None and self.init not in SCHEMES:
            raise ConfigError(f"unknown init {self.init!r}; choose one of {', '.join(SCHEMES)}")


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
    watch = _Watch(task, net, cfg, seed, t0, progress)
    with np.errstate(over="ignore", invalid="ignore"):   # divergence is detected and recorded, not warned
        run = _run(task, net, cfg, seed, watch)
    final = watch.final
    if final is None or watch.solved_step is None:
        with np.errstate(all="ignore"):
            final = net.evaluate(cfg.eval_sequences, watch.verdict_seed)
    wrong = final["fraction_wrong"]
    success = (not run["diverged"]) and math.isfinite(final["loss"]) and wrong < SUCCESS_FRACTION_WRONG
    return {
        "task": task.name, "model": model, "length": task.length, "seed": int(seed),
        "metric_name": task.metric, "metric": _finite_or_none(final["loss"]),
        "baseline": float(task.baseline()), "fraction_wrong": float(wrong), "success": bool(success),
        "solved_step": watch.solved_step, "steps": run["steps"], "seconds": round(time.perf_counter() - t0, 3),
        "diverged": run["diverged"], "train_loss": _finite_or_none(run["loss"]),
        "train_loss_max": _finite_or_none(watch.loss_max), "grad_norm_max": _finite_or_none(watch.norm_max),
        "omega": _finite_or_none(run["omega"]), "eval_sequences": cfg.eval_sequences,
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


class _Watch:
    """The task's policy around the loop: the budget (``stopped``), and after every step (``tick``) the
    largest loss and gradient norm so far, the progress callback and, every ``eval_every`` steps, the quick
    check on held-out sequences and then the 10,000-sequence verdict that ends a solved run."""

    def __init__(self, task, net, cfg, seed, t0, progress):
        self.task, self.net, self.cfg, self.t0, self.progress = task, net, cfg, t0, progress
        self.quick = task.sample(cfg.eval_quick, np.random.default_rng([seed, 2]))
        self.verdict_seed = [seed, 3]
        self.row = None                     # the loop's stats row (rnnlab.training.tally)
        self.loss_max, self.norm_max = 0.0, 0.0
        self.solved_step, self.final = None, None

    def stopped(self) -> bool:
        budget = self.cfg.budget_seconds
        return self.solved_step is not None or (budget is not None and time.perf_counter() - self.t0 > budget)

    def tick(self) -> None:
        row, cfg = self.row, self.cfg
        step, loss = int(row[tally.OK]), float(row[tally.LAST_LOSS])
        self.loss_max, self.norm_max = max(self.loss_max, loss), max(self.norm_max, float(row[tally.LAST_NORM]))
        if self.progress is not None:
            self.progress(step, loss)
        if cfg.stop_when_solved and step % cfg.eval_every == 0:
            o = self.net.predict(self.quick.x)
            if self.task.wrong(o, self.quick).mean() < SUCCESS_FRACTION_WRONG:
                final = self.net.evaluate(cfg.eval_sequences, self.verdict_seed)
                if final["fraction_wrong"] < SUCCESS_FRACTION_WRONG:
                    self.solved_step, self.final = step, final


def _run(task, net, cfg, seed, watch) -> dict:
    """Online training: every step a fresh batch, through the language model's step (``train_step``) and
    inner loop (``tally.work``); the first non-finite step ends the run as diverged."""
    objective = _Objective(net, cfg.omega, cfg.omega_hold_states)
    opt = cfg.make_optimizer()
    stream = task.batches(cfg.batch_size, seed=[seed, 1])
    batches = (StepBatch(b.x, b.y) for _, b in zip(range(cfg.max_steps), stream))
    row = watch.row = tally.reset(np.zeros((1, tally.COLUMNS)), 0, cfg.max_steps)[0]
    outcome = tally.work(lambda batch, t: train_step(objective, opt, batch, **cfg.step_kwargs()), batches, row, 1,
                         cfg.max_steps, 1, watch.stopped, watch.tick)
    return {"steps": int(row[tally.OK]), "diverged": outcome == tally.ROLLBACK,
            "omega": objective.info.get("omega"),          # the last step's
            "loss": float(row[tally.LAST_LOSS]) if row[tally.DONE] else float("nan")}
