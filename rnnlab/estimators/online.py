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
sequences x their length (the others): the same number of step updates for every algorithm.

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
from ..optim import clip_grad_norm, global_norm, make_optimizer
from ..tasks import MODELS, TASKS, Task
from ..tasks.add import Add, plateaus, soft_xent
from ..tasks.base import SUCCESS_FRACTION_WRONG, one_hot
from ..tasks.readout import mse_loss, xent_loss
from ..threads import blas_threads
from . import make_estimator, parse_name

ONLINE_TASKS = {**TASKS, "add": Add}


@dataclass
class OnlineConfig:
    """One online run (``rnnlab experiment ... --estimator NAME``)."""
    estimator: str = "bptt"         # any name of rnnlab.estimators
    update_every: int | None = None  # k; default 1, but 10 for bptt and checkpointed (their window)
    hidden_size: int = 32
    batch_size: int = 16            # parallel streams / sequences
    optimizer: str = "adam"
    lr: float = 3e-3
    clip: float | None = 1.0
    steps: int = 20_000             # time steps of training (per stream)
    eval_every: int = 500           # time steps between points of the learning curve
    eval_sequences: int = 1000      # sequences (or streams of 1,000 steps for add) of the final evaluation
    seed: int = 0
    draws: int = 1                  # stochastic algorithms: average this many draws per update

    def __post_init__(self):
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


def _step_loss(task, o, y, t, T, n_rows):
    """(loss sum over the batch at step t, dL/do_t (B, K)) with the task's averaging over ``n_rows``."""
    B = o.shape[0]
    if task.loss == "soft-xent":
        loss, do = soft_xent(o, y[t])
    elif task.readout == "last":
        if t != T - 1:
            return 0.0, None
        loss, do = mse_loss(o, y) if task.loss == "mse" else xent_loss(o, y)
    else:
        loss, do = xent_loss(o, y[t])
    return loss * B, do * (B / n_rows)


class _Trainer:
    def __init__(self, task, model, cfg):
        self.task, self.cfg = task, cfg
        self.net = _Model(task, model, cfg)
        self.est = make_estimator(cfg.estimator, self.net.layer, draws=cfg.draws, seed=cfg.seed + 7)
        self.opt = make_optimizer(cfg.optimizer, cfg.lr)
        self.k = cfg.k()
        self._zero_readout()

    def _zero_readout(self):
        self.gV, self.gb, self.signal = np.zeros_like(self.net.V), np.zeros_like(self.net.b), False

    def step(self, x_t, y, t, T, n_rows):
        """One time step; returns the loss summed over the batch (0 where the task has no output)."""
        h = self.est.step(x_t)
        o = h @ self.net.V.T + self.net.b
        loss, do = _step_loss(self.task, o, y, t, T, n_rows)
        if do is None:
            self.est.learn(np.zeros_like(h))
        else:
            self.gV += do.T @ h
            self.gb += do.sum(axis=0)
            self.est.learn(do @ self.net.V)
            self.signal = True
        return loss

    def update(self):
        """Gradient of the steps since the last update, clipped, then the optimiser step."""
        g = {f"rnn.{k}": v for k, v in self.est.gradient().items()}
        if not self.signal:   # no loss since the last update (a last-step readout): no step at all
            return True
        g.update({"readout.weight": self.gV, "readout.bias": self.gb})
        if not math.isfinite(global_norm(g)):
            return False
        if self.cfg.clip is not None:
            clip_grad_norm(g, self.cfg.clip)
        self.opt.step(self.net.params, g)
        self._zero_readout()
        return True


def train_online(task: Task, model: str, cfg: OnlineConfig, progress=None) -> dict:
    """Train ``model`` on ``task`` online with ``cfg.estimator``; returns the run's record.
    ``progress(step, loss)`` is called at every point of the learning curve."""
    t0 = time.perf_counter()
    tr = _Trainer(task, model, cfg)
    B, k = cfg.batch_size, tr.k
    curve, window, n_window, diverged, done = [], 0.0, 0, False, 0
    with np.errstate(over="ignore", invalid="ignore"):
        if isinstance(task, Add):
            stream = task.stream(B, [cfg.seed, 1], steps=k * max(1, 100 // k))
            tr.est.reset(B)
            while done < cfg.steps and not diverged:
                b = next(stream)
                x = _inputs(task, b.x)
                for t in range(x.shape[0]):
                    window += tr.step(x[t], b.y, t, x.shape[0], B) / B
                    n_window += 1
                    done += 1
                    if done % k == 0 and not tr.update():
                        diverged = True
                        break
                    if done % cfg.eval_every == 0:
                        curve.append([done, window / n_window])
                        if progress:
                            progress(done, curve[-1][1])
                        window, n_window = 0.0, 0
                    if done >= cfg.steps:
                        break
        else:
            rng = np.random.default_rng([cfg.seed, 1])
            while done < cfg.steps and not diverged:
                b = task.sample(B, rng)
                x = _inputs(task, b.x)
                T = x.shape[0]
                n_rows = B if task.readout == "last" else B * T
                tr.est.reset(B)
                seq_loss = 0.0
                for t in range(T):
                    seq_loss += tr.step(x[t], b.y, t, T, n_rows)
                    if ((t + 1) % k == 0 or t == T - 1) and not tr.update():
                        diverged = True
                        break
                done += T
                window += seq_loss / (B if task.readout == "last" else n_rows) * 1.0
                n_window += 1
                if done // cfg.eval_every > (done - T) // cfg.eval_every:
                    curve.append([done, window / n_window])
                    if progress:
                        progress(done, curve[-1][1])
                    window, n_window = 0.0, 0
    final = evaluate(task, tr.net, cfg) if not diverged else {"loss": None, "fraction_wrong": 1.0}
    wrong = final["fraction_wrong"]
    rec = {"task": task.name, "model": model, "length": task.length, "seed": int(cfg.seed),
           "estimator": cfg.estimator, "update_every": k, "metric_name": task.metric, "metric": final["loss"],
           "baseline": float(task.baseline()), "fraction_wrong": float(wrong),
           "success": bool(not diverged and final["loss"] is not None and wrong < SUCCESS_FRACTION_WRONG),
           "solved_step": None, "steps": done, "seconds": round(time.perf_counter() - t0, 3), "diverged": diverged,
           "train_loss": curve[-1][1] if curve else None, "curve": curve, "eval_sequences": cfg.eval_sequences}
    if isinstance(task, Add):
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
                        clip=args.clip, steps=args.steps, eval_every=args.eval_every,
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
