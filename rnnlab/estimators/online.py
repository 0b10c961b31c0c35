"""Online training with any gradient algorithm: the weights change while the sequences run.

    from rnnlab.estimators.online import OnlineConfig, train_online
    record = train_online(Add(8), "rnn-tanh", OnlineConfig(estimator="snap-1", steps=20_000))

One update of the loop, every ``update_every`` time steps (k):

    for each step t:   h_t = est.step(x_t);  o_t = V h_t + b;  L_t, dL_t/do_t = loss(o_t, y_t)
                       est.learn(V^T dL_t/do_t);  readout gradient += dL_t/do_t h_t^T     (exact, local)
    every k steps:     g = est.gradient() + readout gradient;  clip g;  optimiser step on the weights

The estimator's influence state is carried across updates (and, for a stream task, never reset).
bptt and checkpointed backpropagate through the k steps since their last update, so for them k is the
window (Williams & Peng's TBPTT(k, k), default k = 10); tbptt-K keeps the K steps before the window, so
the loss at every step reaches back exactly K steps whatever k is (default k = 1, an update every step
like the forward-mode algorithms). Learning signals are the loss's own gradient through the readout
(symmetric feedback for e-prop and RFLO).

Tasks: the stream task ``add`` (``rnnlab.tasks.add``) runs B continuous streams; the sequence tasks
(adding, copy, temporal-order) draw a fresh batch of B sequences, reset state and influence, and update
every k steps and at the end of each sequence. ``steps`` counts time steps of the stream (add) or
sequences x their length (the others): the same number of step updates for every algorithm (matched
data). ``budget_seconds`` stops every run after the same wall-clock time instead (matched compute: a
cheaper algorithm sees more data).

The record has the fields of ``rnnlab experiment``'s records plus ``estimator``, ``update_every``,
``curve`` ([[step, mean training loss over the last ``eval_every`` steps], ...]) and, for ``add``,
``plateaus``.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ConfigError
from ..layers import make_layer
from ..tasks import MODELS, TASKS, Task
from ..tasks.add import Add, plateaus, soft_xent
from ..tasks.base import SUCCESS_FRACTION_WRONG, one_hot
from ..tasks.readout import mse_loss, xent_loss
from ..threads import blas_threads
from ..training import tally
from ..training.config import StepConfig, _positive_or_none
from ..training.step import Batch, train_step
from . import make_estimator, parse_name

ONLINE_TASKS = {**TASKS, "add": Add}
_ENDLESS = 1 << 52   # the loop's batch count: the windows' generator decides where a run ends


@dataclass
class OnlineConfig(StepConfig):
    """One online run (``rnnlab experiment ... --estimator NAME``). The step's settings (optimizer, lr,
    clip, clip_value) are ``rnnlab.training.StepConfig``'s, with online defaults."""

    _what = "online training setting"

    optimizer: str = "adam"
    lr: float | None = 3e-3
    clip: float | None = 1.0
    estimator: str = "bptt"         # any name of rnnlab.estimators
    update_every: int | None = None  # k; default 1, but 10 for bptt and checkpointed (their window)
    hidden_size: int = 32
    batch_size: int = 16            # parallel streams / sequences
    steps: int = 20_000             # time steps of training (per stream)
    eval_every: int = 500           # time steps between points of the learning curve
    eval_sequences: int = 1000      # sequences (or streams of 1,000 steps for add) of the final evaluation
    seed: int = 0
    draws: int = 1                  # stochastic algorithms: average this many draws per update
    budget_seconds: float | None = None  # wall-clock limit of training: equal for every estimator, matched compute

    def __post_init__(self):
        self._check_step()
        _positive_or_none(self, ("budget_seconds",))
        parse_name(self.estimator)
        for name in ("hidden_size", "batch_size", "steps", "eval_every", "eval_sequences", "draws"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be a positive integer, got {v!r}")
        if self.update_every is not None and (not isinstance(self.update_every, (int, np.integer))
                                              or self.update_every < 1):
            raise ConfigError(f"update-every must be a positive integer, got {self.update_every!r}")

    def k(self) -> int:
        """The update interval: ``update_every``, else 10 for bptt and checkpointed and 1 for the others."""
        if self.update_every is not None:
            return int(self.update_every)
        return 10 if self.estimator in ("bptt", "checkpointed") else 1


class _Model:
    """Layer + linear readout (the tutorial's V), parameters in one dict like ``tasks.TaskModel``'s."""

    def __init__(self, task: Task, model: str, cfg: OnlineConfig):
        if model not in MODELS:
            raise ConfigError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
        spec = dict(MODELS[model])
        cell = spec.pop("cell")
        self.layer = make_layer(cell, input_size=task.n_in, hidden_size=cfg.hidden_size, dtype=np.float64,
                                seed=cfg.seed, **spec)
        rng = np.random.default_rng([cfg.seed, 1])
        bound = 1.0 / math.sqrt(cfg.hidden_size)
        self.V = rng.uniform(-bound, bound, (task.n_out, cfg.hidden_size))
        self.b = rng.uniform(-bound, bound, (task.n_out,))
        self.params = {f"rnn.{k}": v for k, v in self.layer.params.items()}
        self.params.update({"readout.weight": self.V, "readout.bias": self.b})


def _inputs(task, x):
    return one_hot(x, task.n_in, np.float64) if np.issubdtype(np.asarray(x).dtype, np.integer) else x.astype(np.float64)


def _step_loss(task, o, y_t, n_rows):
    """(loss summed over the batch at one step, dL/do_t (B, K)) with the task's averaging over ``n_rows``;
    (0, None) at a step without a target (``y_t`` None: a last-step readout before the last step)."""
    if y_t is None:
        return 0.0, None
    B = o.shape[0]
    if task.loss == "soft-xent":
        loss, do = soft_xent(o, y_t)
    elif task.loss == "mse":
        loss, do = mse_loss(o, y_t)
    else:
        loss, do = xent_loss(o, y_t)
    return loss * B, do * (B / n_rows)


class _Online:
    """The model and its estimator as ``rnnlab.training.train_step`` reads a model: ``params`` and
    ``forward_backward`` over one window of time steps (the steps between two updates). The estimator
    carries its state and influence from window to window; a window that does not continue the previous
    one (``h0`` None: a new sequence, or a state that was not finite) starts them afresh. The gradient of
    a window without a target (a last-step readout before the last step) is an empty dict: no update.
    ``loss_sum``: the window's loss summed over the batch, for the learning curve."""

    def __init__(self, task, net, est, n_rows):
        self.task, self.net, self.est, self.n_rows = task, net, est, n_rows
        self.params = net.params
        self.loss_sum = 0.0

    def forward_backward(self, x, y, h0=None, truncate=None, state_at=None):
        L, B = x.shape[:2]
        if h0 is None:
            self.est.reset(B)
        V, b = self.net.V, self.net.b
        gV, gb = np.zeros_like(V), np.zeros_like(b)
        total, signal, h = 0.0, False, None
        for t in range(L):
            h = self.est.step(x[t])
            o = h @ V.T + b
            y_t = (y if t == L - 1 else None) if self.task.readout == "last" else y[t]
            loss, do = _step_loss(self.task, o, y_t, self.n_rows)
            total += loss
            if do is None:
                self.est.learn(np.zeros_like(h))
                continue
            gV += do.T @ h
            gb += do.sum(axis=0)
            self.est.learn(do @ V)
            signal = True
        # the estimator hands out (and forgets) the steps since the last update whether or not they are used
        g = {f"rnn.{k}": v for k, v in self.est.gradient().items()}
        self.loss_sum = total
        if not signal:
            return total / (L * B), {}, h, L * B
        g.update({"readout.weight": gV, "readout.bias": gb})
        return total / (L * B), g, h, L * B


def _stream_windows(task, cfg, k, pos):
    """Windows of k steps of B continuous Add streams (the stream is never reset), ``cfg.steps`` steps in
    all (the last window shorter when k does not divide it). ``pos["done"]``: the steps trained so far
    (counted by the loop's step)."""
    stream = task.stream(cfg.batch_size, [cfg.seed, 1], steps=k * max(1, 100 // k))
    first = True
    while pos["done"] < cfg.steps:
        b = next(stream)
        x = _inputs(task, b.x)
        for s in range(0, x.shape[0], k):
            n = min(k, x.shape[0] - s, cfg.steps - pos["done"])
            if n <= 0:
                return
            pos["ends"] = True       # every window of a stream is a point the curve may be read at
            yield Batch(x[s:s + n], b.y[s:s + n], carry_from=n - 1, continues=not first)
            first = False


def _sequence_windows(task, cfg, k, pos):
    """A fresh batch of B sequences at a time, cut into windows of k steps (the last one ends the
    sequence), until ``cfg.steps`` time steps (sequences x their length) are done."""
    rng = np.random.default_rng([cfg.seed, 1])
    while pos["done"] < cfg.steps:
        b = task.sample(cfg.batch_size, rng)
        x = _inputs(task, b.x)
        T = x.shape[0]
        for s in range(0, T, k):
            e = min(s + k, T)
            pos["ends"] = e == T
            y = (b.y if e == T else None) if task.readout == "last" else b.y[s:e]
            yield Batch(x[s:e], y, carry_from=e - s - 1, continues=s > 0)


class _Curve:
    """The learning curve: the mean training loss since the last point, read at the end of the first
    window (the stream task) or sequence (the others) that reaches each multiple of ``eval_every`` time
    steps (on the multiples themselves when k divides ``eval_every``)."""

    def __init__(self, task, cfg, obj, pos, progress):
        self.task, self.cfg, self.obj, self.pos, self.progress = task, cfg, obj, pos, progress
        self.points, self.sum, self.n, self.seq, self.last = [], 0.0, 0, 0.0, 0

    def tick(self):
        B, done = self.cfg.batch_size, self.pos["done"]
        if isinstance(self.task, Add):
            self.sum += self.obj.loss_sum / B
            self.n += done - self.last
        else:
            self.seq += self.obj.loss_sum
            if not self.pos["ends"]:
                return
            self.sum += self.seq / self.obj.n_rows
            self.n += 1
            self.seq = 0.0
        if done // self.cfg.eval_every > self.last // self.cfg.eval_every:
            self.points.append([done, self.sum / max(self.n, 1)])
            if self.progress:
                self.progress(done, self.points[-1][1])
            self.sum, self.n = 0.0, 0
        self.last = done


_clock = time.perf_counter   # the budget's clock (a test replaces it)


def _spent(cfg, t0) -> bool:
    return cfg.budget_seconds is not None and _clock() - t0 >= cfg.budget_seconds


def train_online(task: Task, model: str, cfg: OnlineConfig, progress=None) -> dict:
    """Train ``model`` on ``task`` online with ``cfg.estimator``; returns the run's record.
    ``progress(step, loss)`` is called at every point of the learning curve.

    Each window between two updates is one step of the language model's trainer
    (``rnnlab.training.train_step``: the same guard, clipping and optimisers) driven by its inner loop
    (``rnnlab.training.tally.work``); the first window whose loss or gradient is not finite ends the run
    as diverged. With ``budget_seconds`` the run also ends when that much wall-clock time is spent (checked
    between windows): every estimator then gets the same compute, and ``steps`` says how far it got."""
    t0 = _clock()
    net = _Model(task, model, cfg)
    est = make_estimator(cfg.estimator, net.layer, draws=cfg.draws, seed=cfg.seed + 7)
    opt, k = cfg.make_optimizer(), cfg.k()
    pos = {"done": 0, "ends": False}
    stream = isinstance(task, Add)
    if stream:
        n_rows, windows = cfg.batch_size, _stream_windows(task, cfg, k, pos)
    else:
        T = task.sample(1, np.random.default_rng(0)).x.shape[0]
        n_rows = cfg.batch_size * (1 if task.readout == "last" else T)
        windows = _sequence_windows(task, cfg, k, pos)
    obj = _Online(task, net, est, n_rows)
    curve = _Curve(task, cfg, obj, pos, progress)
    row = tally.reset(np.zeros((1, tally.COLUMNS)), 0, _ENDLESS)[0]
    carry = [None]

    def step(batch, t):   # the windows' generator reads pos["done"] when the loop asks it for the next one
        r = train_step(obj, opt, batch, carry[0], **cfg.step_kwargs())
        carry[0] = r.carry
        pos["done"] += batch.x.shape[0]
        return r

    with np.errstate(over="ignore", invalid="ignore"):
        outcome = tally.work(step, windows, row, 1, _ENDLESS, 1, lambda: _spent(cfg, t0), curve.tick)
    diverged = outcome == tally.ROLLBACK
    final = evaluate(task, net, cfg) if not diverged else {"loss": None, "fraction_wrong": 1.0}
    wrong = final["fraction_wrong"]
    points = curve.points
    rec = {"task": task.name, "model": model, "length": task.length, "seed": int(cfg.seed),
           "estimator": cfg.estimator, "update_every": k, "metric_name": task.metric, "metric": final["loss"],
           "baseline": float(task.baseline()), "fraction_wrong": float(wrong),
           "success": bool(not diverged and final["loss"] is not None and wrong < SUCCESS_FRACTION_WRONG),
           "solved_step": None, "steps": pos["done"], "seconds": round(_clock() - t0, 3),
           "diverged": diverged, "train_loss": points[-1][1] if points else None, "curve": points,
           "eval_sequences": cfg.eval_sequences}
    if stream:
        rec.update(plateaus=plateaus(), t1=task.t1, t2=task.t2)
    return rec


def evaluate(task: Task, net: _Model, cfg: OnlineConfig) -> dict:
    """Loss and fraction wrong with the final weights on fresh data (the layer's own forward): for add,
    ``eval_sequences`` streams of 1,000 steps scored from step t2 on; else ``eval_sequences`` sequences."""
    rng = np.random.default_rng([cfg.seed, 3])
    n = cfg.eval_sequences
    if isinstance(task, Add):
        b = task.sample(n, rng, steps=1000)
        out, _, _ = net.layer.forward(_inputs(task, b.x))
        o = out @ net.V.T + net.b
        losses = task.sequence_loss(o, b)
        return {"loss": float(losses.mean()), "fraction_wrong": float(task.wrong(o, b).mean())}
    b = task.sample(n, rng)
    out, _, _ = net.layer.forward(_inputs(task, b.x))
    hr = out[-1] if task.readout == "last" else out
    o = hr @ net.V.T + net.b
    if task.loss == "mse":
        loss, _ = mse_loss(o, b.y)
    else:
        K = o.shape[-1]
        loss, _ = xent_loss(o.reshape(-1, K), np.asarray(b.y).reshape(-1))
    return {"loss": float(loss), "fraction_wrong": float(task.wrong(o, b).mean())}


def make_online_task(name: str, length: int) -> Task:
    """A task by name, ``add`` included."""
    if name not in ONLINE_TASKS:
        raise ConfigError(f"unknown task {name!r} for online training; choose one of {', '.join(ONLINE_TASKS)}")
    return ONLINE_TASKS[name](length)


def run_online_experiment(args) -> int:
    """``rnnlab experiment TASK --estimator NAME ...``: every (model, length, seed) trained online with the
    estimator, one after the other; writes results.json ({"config", "records"}) and summary.md to
    ``args.out`` and prints the summary. The flags are ``rnnlab experiment``'s (``--jobs`` is not used)."""
    import json
    import os
    import sys

    models = args.models if isinstance(args.models, list) else [m for m in str(args.models).split(",") if m]
    lengths = args.lengths if isinstance(args.lengths, list) else [int(v) for v in str(args.lengths).split(",") if v]
    base = OnlineConfig(estimator=args.estimator or "bptt", update_every=getattr(args, "update_every", None),
                        hidden_size=args.hidden, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
                        clip=args.clip, clip_value=getattr(args, "clip_value", None), steps=args.steps,
                        eval_every=args.eval_every, budget_seconds=getattr(args, "budget_seconds", None),
                        eval_sequences=min(args.eval_sequences, 1000))
    tasks = {n: make_online_task(args.task, n) for n in lengths}
    for m in models:
        if m not in MODELS:
            raise ConfigError(f"unknown model {m!r}; choose from {', '.join(MODELS)}")
        make_estimator(base.estimator, _Model(tasks[lengths[0]], m, base).layer)   # not applicable: fail now
    os.makedirs(args.out, exist_ok=True)
    records = []
    for n in lengths:
        for m in models:
            for s in range(args.seeds):
                cfg = OnlineConfig(**{**asdict(base), "seed": s})
                say = None if args.quiet else (lambda step, loss, m=m, n=n, s=s: print(
                    f"{m} {args.task}({n}) seed {s} {base.estimator}: step {step} | loss {loss:.4f}",
                    file=sys.stderr, flush=True))
                with blas_threads(1):   # small products: a second BLAS thread only waits (rnnlab.threads)
                    rec = train_online(tasks[n], m, cfg, progress=say)
                records.append(rec)
                with open(os.path.join(args.out, "results.json"), "w") as f:
                    json.dump({"config": {"task": args.task, "online": asdict(base)}, "records": records}, f, indent=1)
    lines = ["| estimator | model | length | seed | final loss | baseline | fraction wrong | steps | seconds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        loss = "n/a" if r["metric"] is None else f"{r['metric']:.4f}"
        lines.append(f"| {r['estimator']} | {r['model']} | {r['length']} | {r['seed']} | {loss} | "
                     f"{r['baseline']:.4f} | {r['fraction_wrong']:.3f} | {r['steps']} | {r['seconds']:.0f} |")
    if args.task == "add":
        p = plateaus()
        lines += ["", f"Plateaus (nats): nothing learned {p['nothing']:.4f}, only t1 {p['t1_only']:.4f}, "
                      f"both {p['both']:.4f}."]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(text)
    print(text, end="")
    print(f"wrote {args.out}/results.json, summary.md")
    return 0
