"""The training loop: epochs or a time budget, validation, logs, checkpoints, resume, blow-up recovery.

One step:  loss, grads = model(x, y)  ->  non-finite guard  ->  clip  ->  optimiser update.

- A step whose loss or gradient is not finite is skipped (logged); after ``max_bad_steps`` in a row the
  trainer rolls back to the last good state (the last checkpoint held in memory) and halves the
  learning rate. An update that overflows the parameters themselves is caught before any snapshot or
  checkpoint and rolled back the same way, so non-finite parameters are never kept, written or chosen as
  best (``checkpoint.save`` refuses them too). More than 10 rollbacks raise NumericalError.
- The tutorial's schedule (``halve_lr``): the learning rate is halved whenever the validation loss rises.
- A fixed decay (``lr_decay_after`` K, ``lr_decay`` f; Zaremba et al. 2014): after epoch K and every epoch
  after it the learning rate is multiplied by f. Both rules see complete epochs only.
- ``last.npz`` is written at the end of every epoch, every ``checkpoint_every`` seconds, and on
  Ctrl-C/SIGTERM; ``best.npz`` whenever validation improves. The batch order of an epoch is a function
  of (seed, epoch), so resuming from (epoch, batch index) replays exactly the same data, and with the
  optimiser state and learning rate restored an interrupted run ends with the same parameters as an
  uninterrupted one.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import checkpoint
from .config import ConfigMixin
from .diagnostics.diagnose import summary_line
from .errors import ConfigError, NumericalError, WorkerError
from .optim import clip_grad_norm, clip_grad_value, global_norm, make_optimizer

DEFAULT_LR = {"sgd": 0.5, "momentum": 0.1, "adagrad": 0.1, "rmsprop": 0.002, "adam": 0.002, "sparseadam": 0.002}


@dataclass
class TrainConfig(ConfigMixin):
    """How to train (the optimisation flags of ``rnnlab train``); saved in every checkpoint.

    Raises:
        ConfigError: an unknown optimiser, a learning rate, clip or time budget that is not positive, a
            negative truncation or epoch count, sizes below 1, or ``bptt_window`` below ``bptt_chunk``.
    """

    _what = "training configuration"

    optimizer: str = "adagrad"      # sgd | momentum | adagrad | rmsprop | adam | sparseadam
    lr: float | None = None         # None: a default per optimiser (DEFAULT_LR)
    clip: float | None = 5.0        # clip the global gradient norm to this (Pascanu et al. 2013); None: off
    clip_value: float | None = None  # clamp every gradient entry to +-clip_value; None: off
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

    def __post_init__(self):
        if self.optimizer not in DEFAULT_LR:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(DEFAULT_LR)}")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"learning rate must be a positive number, got {self.lr}")
        for name in ("clip", "clip_value", "time_budget", "checkpoint_every"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ConfigError(f"{name.replace('_', '-')} must be a positive number, got {v}")
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
        if self.bptt_window is not None and self.bptt_window < self.bptt_chunk:
            raise ConfigError("bptt-window (k2) must be at least bptt-chunk (k1)")

    @property
    def learning_rate(self):
        """``lr``, or the optimiser's default (``DEFAULT_LR``) when it is None."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]



class _Interrupt:
    """Turns SIGINT/SIGTERM into a flag the loop checks between steps (a second Ctrl-C aborts)."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def evaluate(lm, batches) -> dict:
    """Cross-entropy (nats per predicted token) and perplexity over (x, y) batches (y == -1: padding)."""
    total, n = 0.0, 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a blown-up model scores inf, quietly
        for x, y in batches:
            loss, _, k = lm.loss(x, y)
            total += loss * k
            n += k
    if n == 0:
        return {"cross_entropy": float("nan"), "perplexity": float("nan"), "tokens": 0}
    ce = total / n
    return {"cross_entropy": ce, "perplexity": float(math.exp(min(ce, 700))), "tokens": n}


class Trainer:
    """Trains ``lm`` on batches from ``data`` (an object with ``epoch_batches(epoch, start)``, ``n_batches(epoch)``,
    ``valid_batches()``, ``n_train_tokens`` and ``stream``) and keeps ``out_dir`` up to date."""

    def __init__(self, lm, cfg: TrainConfig, data, out_dir, meta: dict, log=print, progress=True, workers=1):
        if workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        if workers > 1 and data.stream:
            raise ConfigError("--workers above 1 needs sentence batches, not --stream (its chunks carry the state "
                              "from one to the next)")
        if workers > 1 and not hasattr(os, "fork"):
            raise ConfigError("--workers above 1 needs fork(), which this system lacks; use --workers 1")
        self.workers = workers  # Hogwild processes (rnnlab.hogwild); how to train, not what: not saved
        self._pool = None
        self.lm, self.cfg, self.data = lm, cfg, data
        self.out = Path(out_dir)
        self.meta = meta  # model config, vocab, data options: saved in every checkpoint
        self.log = log
        self.progress = progress
        self.opt = make_optimizer(cfg.optimizer, cfg.learning_rate)
        if workers > 1:  # asynchrony adds momentum: take it off the optimiser's own (rnnlab.hogwild)
            from .hogwild import async_beta1
            if hasattr(self.opt, "b1"):
                self.opt.b1 = async_beta1(self.opt.b1, workers)
            elif hasattr(self.opt, "momentum"):
                self.opt.momentum = async_beta1(self.opt.momentum, workers)
        self.state = {"epoch": 0, "batch": 0, "step": 0, "elapsed": 0.0, "best_valid": None,
                      "prev_valid": None, "lr": cfg.learning_rate, "tokens": 0, "skipped_steps": 0,
                      "rollbacks": 0, "done": False}
        self.carry = None  # stream state carried across chunks
        self._good = None  # in-memory copy of the last good parameters/optimiser state

    # -- persistence ---------------------------------------------------------------------------------

    def _extra(self):
        extra = {f"opt/{k}": v for k, v in self.opt.state.items()}
        if self.lm.config.output == "class":
            extra["extra/class_of_word"] = self.lm.output.class_of_word
        if self.carry is not None:
            parts = self.carry if isinstance(self.carry, tuple) else (self.carry,)
            for i, p in enumerate(parts):
                extra[f"carry/{i}"] = p
        return extra

    def _meta(self):
        opt = {"name": self.opt.name, "lr": self.opt.lr, "t": self.opt.t}
        return dict(self.meta, model=self.lm.config.to_dict(), train=self.cfg.to_dict(), state=dict(self.state),
                    optimizer=opt)

    def save(self, name="last", copy=False):
        """Write ``<out>/<name>.npz``: parameters, optimiser state, carried stream state and all metadata.
        ``copy``: save a copy taken first (Hogwild workers are writing the shared arrays meanwhile)."""
        params, extra = self.lm.params, self._extra()
        if copy:  # between two updates, so that parameters and optimiser moments match
            with self._pool.update_lock if self._pool is not None else contextlib.nullcontext():
                params = {k: v.copy() for k, v in params.items()}
                extra = {k: np.array(v, copy=True) for k, v in extra.items()}
        checkpoint.save(self.out / f"{name}.npz", params, self._meta(), extra)

    def _params_finite(self):
        return all(np.isfinite(v).all() for v in self.lm.params.values())

    def _ensure_finite(self, epoch, batch):
        """Roll back if an update overflowed the parameters; call before every snapshot and checkpoint."""
        if not self._params_finite():
            self._log_json({"event": "nonfinite_params", "epoch": epoch, "batch": batch})
            self._rollback_logged(epoch, batch, "the parameters overflowed")

    def restore(self, path):
        """Load parameters, training state and optimiser state from a checkpoint written by ``save``, and drop
        from ``log.jsonl`` the records written after it (``checkpoint.trim_log``)."""
        params, meta, extra = checkpoint.load(path)
        self.lm.load_params(params)
        self.state.update(meta["state"])
        o = meta["optimizer"]
        self.opt.load_state_dict({"name": o["name"], "lr": o["lr"], "t": o["t"],
                                  "state": {k[4:]: v for k, v in extra.items() if k.startswith("opt/")}})
        carry = [extra[k] for k in sorted(extra) if k.startswith("carry/")]
        self.carry = None if not carry else (tuple(carry) if len(carry) == 2 else carry[0])
        # what a killed run logged after this checkpoint is logged again by the steps that follow
        checkpoint.trim_log(self.out / "log.jsonl", self.state["step"], self.state["epoch"])

    def _remember_good(self):
        self._good = ({k: v.copy() for k, v in self.lm.params.items()},
                      {k: v.copy() for k, v in self.opt.state.items()}, self.opt.t)

    def _rollback(self):
        params, opt_state, t = self._good
        self.lm.load_params(params)
        # in place, so that arrays shared with Hogwild workers stay shared; slots made since are dropped
        for k in set(self.opt.state) - set(opt_state):
            del self.opt.state[k]
        for k, v in opt_state.items():
            if k in self.opt.state:
                self.opt.state[k][...] = v
            else:
                self.opt.state[k] = v.copy()
        self.opt.t = t
        self.opt.lr *= 0.5
        self.state["lr"] = self.opt.lr
        self.state["rollbacks"] += 1
        self.carry = None

    def _rollback_logged(self, epoch, batch, why):
        self._rollback()
        self.log(f"  {why}: rolled back to the last good state, learning rate now {self.opt.lr:g}")
        self._log_json({"event": "rollback", "epoch": epoch, "batch": batch, "lr": self.opt.lr})
        if self.state["rollbacks"] > 10:
            raise NumericalError("training keeps producing non-finite values after 10 rollbacks; lower the "
                                 "learning rate or clip gradients")

    def _log_json(self, record):
        record.setdefault("step", self.state["step"])  # lets a resume drop what came after its checkpoint
        path = self.out / "log.jsonl"
        with open(path, "a+b") as f:
            if f.tell() > 0:  # a line cut short by a crash (kill -9) gets its own line, not the next record's
                f.seek(-1, 2)
                if f.read(1) != b"\n":
                    f.write(b"\n")
            f.write((json.dumps(record) + "\n").encode())

    # -- the loop ------------------------------------------------------------------------------------

    def step(self, x, y):
        """One update; returns (loss, grad_norm, n_tokens, ok)."""
        cfg = self.cfg
        stream = self.data.stream
        # overflow is expected while training blows up; the guard below handles it, so no warnings
        lm = self.lm if self._pool is None else self._pool.reader()  # Hogwild: a private copy (rnnlab.hogwild)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss, grads, hn, n = lm.forward_backward(
                x, y, h0=self.carry if stream else None, truncate=cfg.truncate,
                state_at=self.data.carry_index(x) if stream else None,
                dropout_key=(cfg.seed, self.opt.t))   # the step's dropout masks (a model with dropout)
            norm = global_norm(grads)
            if not (math.isfinite(loss) and math.isfinite(norm)):
                return loss, norm, n, False
            if cfg.clip_value is not None:
                clip_grad_value(grads, cfg.clip_value)
            if cfg.clip is not None:
                clip_grad_norm(grads, cfg.clip)
            if self._pool is None:
                self.opt.step(self.lm.params, grads)
            else:  # Hogwild: one update at a time (rnnlab.hogwild)
                with self._pool.update_lock:
                    self.opt.step(self.lm.params, grads)
        if stream:
            self.carry = hn
        return loss, norm, n, True

    def run(self):
        """Train until ``epochs`` or ``time_budget``; returns 0 when done, 130 when interrupted (state saved).

        Raises:
            NumericalError: more than 10 roll-backs after non-finite steps.
        """
        try:
            return self._run()
        finally:
            if self._pool is not None:  # Hogwild workers end with the run
                self._pool.close()
                self._pool = None

    def _run(self):
        cfg, st = self.cfg, self.state
        self.out.mkdir(parents=True, exist_ok=True)
        self.opt.lr = st["lr"]
        if self.workers > 1:  # parameters and optimiser state into memory the worker processes share
            from .hogwild import Pool, share_model, share_optimizer
            share_model(self.lm)
            share_optimizer(self.opt, self.lm.params)
            if self._pool is None:  # forked now, before the progress bar starts its monitor thread
                self._pool = Pool(self, self.workers)
                self._pool.start()
        self._remember_good()
        t_start = time.perf_counter() - st["elapsed"]
        last_ckpt = time.perf_counter()
        bad_in_row = 0
        stop = False
        if st["step"] > 0:
            self._log_json({"event": "resume", "epoch": st["epoch"], "batch": st["batch"], "step": st["step"]})
        with _Interrupt() as interrupt:
            while st["epoch"] < cfg.epochs and not stop:
                epoch = st["epoch"]
                n_batches = self.data.n_batches(epoch)
                bar = _progress(self.progress, n_batches, st["batch"], f"epoch {epoch + 1}/{cfg.epochs}")
                sums = {"loss": 0.0, "tokens": 0, "norm": 0.0, "steps": 0}
                if st["batch"] == 0:
                    self.carry = None  # every epoch's streams start from the zero state
                t_epoch = time.perf_counter()
                if self.workers > 1:
                    stop = self._hogwild_epoch(epoch, n_batches, bar, sums, interrupt, t_start, t_epoch)
                else:
                    # resuming mid-epoch: the epoch's order is a function of (seed, epoch); start where it stopped
                    for b, (x, y) in enumerate(self.data.epoch_batches(epoch, st["batch"]), start=st["batch"]):
                        loss, norm, n, ok = self.step(x, y)
                        st["batch"] = b + 1
                        st["step"] += 1
                        if not ok:
                            bad_in_row += 1
                            st["skipped_steps"] += 1
                            self._log_json({"event": "nonfinite", "epoch": epoch, "batch": b, "loss": repr(loss),
                                            "grad_norm": repr(norm)})
                            if bad_in_row >= cfg.max_bad_steps:
                                self._rollback_logged(epoch, b, f"{bad_in_row} non-finite steps in a row")
                                bad_in_row = 0
                        else:
                            bad_in_row = 0
                            sums["loss"] += loss * n
                            sums["tokens"] += n
                            sums["norm"] += norm
                            sums["steps"] += 1
                            st["tokens"] += n
                            if st["step"] % 50 == 0:
                                self._ensure_finite(epoch, b)
                                self._remember_good()
                        now = time.perf_counter()
                        st["elapsed"] = now - t_start
                        _show(bar, sums, norm, now - t_epoch, b + 1)
                        if interrupt.requested or (cfg.time_budget is not None and st["elapsed"] >= cfg.time_budget):
                            stop = True
                            break
                        if now - last_ckpt >= cfg.checkpoint_every:
                            self._ensure_finite(epoch, b)
                            self.save("last")
                            last_ckpt = now
                if bar is not None:
                    bar.close()
                finished_epoch = not stop or st["batch"] >= n_batches
                self._ensure_finite(epoch, st["batch"])
                if finished_epoch:
                    st["epoch"] += 1
                    st["batch"] = 0
                best = self._end_of_epoch(epoch, sums, time.perf_counter() - t_epoch, finished_epoch)
                self._remember_good()
                if not interrupt.requested and (stop or st["epoch"] >= cfg.epochs):
                    st["done"] = True  # the last epoch: this save is the final one
                self.save("last")
                if best:
                    self._link_best()
                last_ckpt = time.perf_counter()
                if interrupt.requested:
                    self.log(f"interrupted: saved {self.out / 'last.npz'}; continue with --resume")
                    return 130
        st["done"] = st["epoch"] >= cfg.epochs  # False after a time budget: --resume goes on
        self.save("last")
        return 0

    def _hogwild_epoch(self, epoch, n_batches, bar, sums, interrupt, t_start, t_epoch):
        """The rest of ``epoch`` (from the state's batch on) trained by ``self.workers`` processes
        (``rnnlab.hogwild``); this process is worker 0 and keeps the progress bar, the checkpoints and the
        interrupt. Returns True when stopped early (Ctrl-C, time budget)."""
        from . import hogwild as hw

        pool, st = self._pool, self.state
        self._last_ckpt = time.perf_counter()
        while st["batch"] < n_batches:
            t0 = self.opt.t
            dead = self._hogwild_pass(epoch, n_batches, bar, sums, interrupt, t_start, t_epoch)
            self.opt.t = t0 + int(pool.total(hw.OK))
            if dead or pool.flags[hw.FAILED]:
                raise WorkerError(f"a Hogwild worker process failed ({dead or 'its error is above'}); continue "
                                  f"from the last checkpoint with --resume")
            if pool.total(hw.SKIPPED):
                self._log_json({"event": "nonfinite", "epoch": epoch, "batch": st["batch"],
                                "skipped_steps": int(pool.total(hw.SKIPPED)), "workers": self.workers})
            if pool.flags[hw.ROLLBACK]:
                self._rollback_logged(epoch, st["batch"], "non-finite steps in a worker")
                continue
            if pool.flags[hw.STOP]:
                return True
        return False

    def _hogwild_pass(self, epoch, n_batches, bar, sums, interrupt, t_start, t_epoch):
        """One pass of the workers over the epoch's batches from the state's on; the state and ``sums``
        follow the shared counters. Returns what ``Pool.run_pass`` does."""
        from . import hogwild as hw

        pool, cfg, st = self._pool, self.cfg, self.state
        first, base, base_sums, t0 = st["batch"], dict(st), dict(sums), self.opt.t
        own = 0

        def absorb():
            st["batch"] = pool.position(n_batches)
            st["step"] = base["step"] + int(pool.total(hw.DONE))
            st["skipped_steps"] = base["skipped_steps"] + int(pool.total(hw.SKIPPED))
            st["tokens"] = base["tokens"] + int(pool.total(hw.TOKENS))
            for key, col in (("loss", hw.LOSS), ("tokens", hw.TOKENS), ("norm", hw.NORM), ("steps", hw.OK)):
                sums[key] = base_sums[key] + type(base_sums[key])(pool.total(col))
            st["elapsed"] = time.perf_counter() - t_start

        def tick(stepped=True):
            nonlocal own
            absorb()
            now = time.perf_counter()
            _show(bar, sums, float(pool.stats[0, hw.LAST_NORM]), now - t_epoch, first + int(pool.total(hw.DONE)))
            if interrupt.requested or (cfg.time_budget is not None and st["elapsed"] >= cfg.time_budget):
                pool.flags[hw.STOP] = 1
            own += stepped
            due = now - self._last_ckpt >= cfg.checkpoint_every
            if (stepped and own % 50 == 0) or due:
                if not self._params_finite():      # an update overflowed: stop everyone, roll back
                    pool.flags[hw.ROLLBACK] = pool.flags[hw.STOP] = 1
                    return
                with pool.update_lock:             # between two updates: moments that match the weights
                    self._remember_good()
            if due:
                t, self.opt.t = self.opt.t, t0 + int(pool.total(hw.OK))
                self.save("last", copy=True)
                self.opt.t, self._last_ckpt = t, now

        dead = pool.run_pass(epoch, first, n_batches, t0, self.opt.lr, tick)
        absorb()
        return dead

    def _link_best(self):
        """best.npz := last.npz, as a hard link (saving the same arrays twice costs ~45 ms an epoch); a
        later save replaces last.npz by a new file, so best.npz keeps these bytes."""
        last, best, tmp = self.out / "last.npz", self.out / "best.npz", self.out / ".best.npz.link"
        tmp.unlink(missing_ok=True)
        try:
            os.link(last, tmp)
        except OSError:  # no hard links here: copy
            shutil.copyfile(last, tmp)
        os.replace(tmp, best)

    def _end_of_epoch(self, epoch, sums, seconds, finished):
        st = self.state
        valid = evaluate(self.lm, self.data.valid_batches())
        train_ce = sums["loss"] / max(sums["tokens"], 1)
        rate = sums["tokens"] / max(seconds, 1e-9)
        improved = math.isfinite(valid["cross_entropy"]) and (
            st["best_valid"] is None or valid["cross_entropy"] < st["best_valid"])
        best = improved
        if best:
            st["best_valid"] = valid["cross_entropy"]
        # the schedule sees complete epochs only, so an interrupted and resumed run follows the same one
        if finished:
            if self.cfg.halve_lr and st["prev_valid"] is not None and valid["cross_entropy"] > st["prev_valid"]:
                self.opt.lr *= 0.5
                st["lr"] = self.opt.lr
            if self.cfg.lr_decay_after is not None and epoch + 1 >= self.cfg.lr_decay_after:
                self.opt.lr *= self.cfg.lr_decay
                st["lr"] = self.opt.lr
            st["prev_valid"] = valid["cross_entropy"]
        gsum = self._gradient_summary()
        record = {"event": "epoch", "epoch": epoch + 1, "complete": finished, "train_loss": train_ce,
                  "train_ppl": math.exp(min(train_ce, 700)), "valid_loss": valid["cross_entropy"],
                  "valid_ppl": valid["perplexity"], "grad_norm": sums["norm"] / max(sums["steps"], 1),
                  "tokens_per_s": rate, "seconds": seconds, "lr": self.opt.lr, "best": improved,
                  "grad_by_distance": gsum}
        self._log_json(record)
        self.log(f"epoch {epoch + 1}{'' if finished else ' (partial)'} | loss {train_ce:.3f} | "
                 f"ppl {_ppl(record['train_ppl'])} | valid ppl {_ppl(valid['perplexity'])}{' *' if improved else ''} | "
                 f"grad-norm {record['grad_norm']:.2f} | {rate / 1000:.1f}k tok/s | lr {self.opt.lr:g}"
                 + (f" | {summary_line(gsum)}" if gsum else ""))
        return best

    def _gradient_summary(self):
        """How far back the gradient reaches, on the validation batch of the longest sentences (or 60 steps
        of the validation stream): about one truncated backward's cost."""
        from .diagnostics.diagnose import quick_summary

        probe = getattr(self.data, "probe_batch", None)   # optional for data objects written by users
        if probe is None:
            return None
        x, y = probe()
        if x.shape[0] < 2:
            return None
        with np.errstate(all="ignore"):
            return quick_summary(self.lm, x, y, max_distance=min(50, x.shape[0] - 1))


def _ppl(p):
    """Perplexity for a log line: 123.4, or 1.01e+304 when training has blown up."""
    return f"{p:.1f}" if p < 1e6 else f"{p:.3g}"


def _show(bar, sums, norm, seconds, position):
    """Move the progress bar to batch ``position`` with the epoch's running loss, perplexity and speed."""
    if bar is None:
        return
    rate = sums["tokens"] / max(seconds, 1e-9)
    avg = sums["loss"] / max(sums["tokens"], 1)
    bar.set_postfix_str(f"loss {avg:.3f} | ppl {_ppl(math.exp(min(avg, 700)))} | grad-norm {norm:.2f} | "
                        f"{rate / 1000:.1f}k tok/s", refresh=False)
    bar.update(position - bar.n)


def _progress(enabled, total, initial, desc):
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc=desc, unit="batch", leave=False, file=sys.stderr,
                dynamic_ncols=True, mininterval=0.5)
