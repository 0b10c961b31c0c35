"""Hogwild training: several processes train one model in shared memory.

``rnnlab train --workers W`` forks W - 1 worker processes once per run (the trainer's own process is
worker 0). In each pass over an epoch, worker r takes the batches r, r + W, r + 2W, ... of the epoch's
order and runs the usual step on them (forward, backward, guard, clip, optimiser update) on the
parameters and optimiser state in memory all W processes share. Forward and backward never wait for
another worker (Recht et al. 2011: SGD converges without locks when updates are sparse, as a language
model's rows are; word2vec and faster-rnnlm train the same way with threads). Each step first copies the
weights it reads twice (recurrent and output weights: ``reader_model``) so that its gradient is exact at
one point: read in place, the forward pass and the backward pass of one step could see weights before and
after another worker's update, and the mismatch set off gradient norms of 10-700 in the first epoch
(fortunes: 2 of 11 runs ended 5-8 PPL worse; with the copies 0 of 7, at a cost of ~5% of the speed).
The optimiser steps take turns under one lock (``Pool.update_lock``): an Adam update
writes m, v and the parameters in a dozen passes, and two interleaved ones can pair one worker's m with
a v that has not seen that gradient yet (rows met for the first time have v ~ 0), a step of m / eps
(measured: decoder weights of 35 after ten steps, test PPL 3-8 points worse on fortunes). The lock cost
little: an update is a quarter of a step, and the other worker's forward and backward go on meanwhile.
Python's threads would serialise on the interpreter lock (measured: two threads on halves of a batch
gained 1.1-1.2x), so the workers are processes, each with its own BLAS threads.

Asynchrony adds momentum (Mitliagkas et al. 2016: W asynchronous workers behave like an implicit
momentum of about 1 - 1/W), so ``async_beta1`` lowers the optimiser's own.

What changes against one process: a run is no longer bitwise reproducible (which weights a forward pass
reads depends on timing), each gradient is computed on weights one update old, and a resumed run goes on
from the first batch some worker had not finished (a few batches may be trained twice). Everything else
holds: checkpoints are written by worker 0 from a copy of the shared arrays, Ctrl-C and the time budget
stop all workers between two steps, non-finite steps are skipped, and too many in a row in any worker
stop the pass, roll back and halve the learning rate as in one process.

Memory: a step allocates and frees temporaries of a few hundred KB; in the forked processes glibc's
malloc kept handing those back to the kernel and faulting fresh zero pages in again (190-370k page faults,
0.3-0.6 s of system time per worker and epoch on fortunes: 270-340k tokens/s instead of 400k).
``keep_heap`` tells malloc to keep freed memory for reuse before the workers start.
"""
from __future__ import annotations

import copy
import ctypes
import mmap
import multiprocessing
import os
import signal
import sys
import time
import traceback
from itertools import islice

import numpy as np

# columns of Pool.stats (one row per worker)
NEXT, DONE, TOKENS, LOSS, NORM, OK, SKIPPED, LAST_NORM = range(8)
# entries of Pool.flags
STOP, ROLLBACK, FAILED, QUIT = range(4)
# entries of Pool.job: what the next pass does
EPOCH, N_BATCHES, T0 = range(3)


def shared_array(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` (same shape, dtype, values and memory order) in anonymous shared memory: processes
    forked afterwards see each other's writes to it."""
    a = np.asarray(a)
    buf = mmap.mmap(-1, max(a.nbytes, 1))
    order = "F" if a.flags.f_contiguous and not a.flags.c_contiguous else "C"
    out = np.ndarray(a.shape, dtype=a.dtype, buffer=buf, order=order)
    out[...] = a
    return out


def share_model(lm) -> None:
    """Move the parameters of ``lm`` (a LanguageModel) into shared memory, in place of the old arrays
    (the model's and its recurrent layer's dicts keep pointing at the same arrays)."""
    for name, p in list(lm.params.items()):
        s = shared_array(p)
        lm.params[name] = s
        if name.startswith("rnn."):
            lm.layer.params[name[4:]] = s


def share_optimizer(opt, params: dict) -> None:
    """Create every state slot of ``opt`` for ``params`` now (a slot made later in a worker would be
    private to it) and move them all into shared memory."""
    opt.init_state(params)
    opt.state = {k: shared_array(v) for k, v in opt.state.items()}


def keep_heap() -> None:
    """glibc only: serve allocations up to 32 MiB from the heap and keep up to 512 MiB of freed heap for
    reuse instead of returning it to the kernel (mallopt M_MMAP_THRESHOLD, M_TRIM_THRESHOLD)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(-3, 32 << 20)
    mallopt(-1, 512 << 20)


def reader_model(lm):
    """A LanguageModel like ``lm`` (same structure, same output object) with its own copies of the weights a
    step reads twice, in the forward pass and again in the backward pass (recurrent and output weights),
    so that the gradient it computes is the exact gradient at one point, not at a mix of weights before and
    after another worker's update. The input lookup table (``encoder.weight``, or the one-hot input's
    ``rnn.weight_ih_l0``) stays shared: a step reads it once, row by row. Call ``refresh`` before each
    step."""
    reader = copy.copy(lm)
    lookup = "encoder.weight" if "encoder.weight" in lm.params else "rnn.weight_ih_l0"
    shared = (lookup, "direct.weight")  # read once per step; the direct table's backward never reads it
    reader.params = {k: (v if k in shared else v.copy(order="K")) for k, v in lm.params.items()}
    reader.layer = copy.copy(lm.layer)
    reader.layer.params = {k[4:]: v for k, v in reader.params.items() if k.startswith("rnn.")}
    return reader


def refresh(reader, lm) -> None:
    """Copy ``lm``'s current weights into ``reader``'s own arrays (see ``reader_model``)."""
    for k, v in reader.params.items():
        src = lm.params[k]
        if v is not src:
            np.copyto(v, src)


def async_beta1(beta1: float, workers: int) -> float:
    """The explicit momentum for W asynchronous workers: beta1 / W (0.9 -> 0.45 for two).

    Asynchrony adds an implicit momentum of about 1 - 1/W (Mitliagkas et al. 2016), so the optimiser's
    own should shrink as W grows. The rule is measured, not derived: two workers on the KJV corpus (the
    README's recipe, test PPL, 2-3 runs each) gave 50.2-50.6 with beta1 0.9, 48.6-49.7 with 0.7 and
    48.3-49.6 with 0.45 (one process: 46.8); on fortunes, before updates took turns, 0.45 had the
    narrowest spread of 0.9, 0.7, 0.5, 0.45, 0.4 and 0.
    """
    return beta1 / workers


class Pool:
    """W - 1 forked workers and the shared block through which worker 0 (this process) drives them.

    ``start`` forks the workers; ``run_pass`` trains the batches ``first`` .. ``n_batches`` - 1 of an epoch
    with all W workers and returns when every worker has finished or stopped; ``tick()`` runs in this
    process after each of its steps and while it waits. ``close()`` ends the workers."""

    def __init__(self, trainer, workers: int):
        self.trainer, self.workers = trainer, workers
        self.stats = shared_array(np.zeros((workers, 8)))
        self.flags = shared_array(np.zeros(4, dtype=np.int64))
        self.job = shared_array(np.zeros(3, dtype=np.int64))
        self.lr = shared_array(np.zeros(1))
        keep_heap()
        ctx = multiprocessing.get_context("fork")
        self._go = [ctx.Semaphore(0) for _ in range(workers)]   # a semaphore is also a memory barrier
        self._done = ctx.Semaphore(0)
        self.update_lock = ctx.Lock()  # held by a worker while its optimiser step writes the shared arrays
        self.pids = []
        self._reader = None  # (process id, this process's reader_model)

    def reader(self):
        """This process's ``reader_model`` of the trainer's model, refreshed from the shared weights."""
        if self._reader is None or self._reader[0] != os.getpid():
            self._reader = (os.getpid(), reader_model(self.trainer.lm))
        refresh(self._reader[1], self.trainer.lm)
        return self._reader[1]

    def start(self) -> None:
        """Fork the workers (call once the trainer holds this pool: they inherit it)."""
        parent = os.getpid()
        for rank in range(1, self.workers):
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                self._worker_main(rank, parent)  # never returns
            self.pids.append(pid)

    # -- the pass ------------------------------------------------------------------------------------

    def position(self, n_batches: int) -> int:
        """Every batch below this index is done (the smallest next batch of any worker)."""
        return int(min(self.stats[:, NEXT].min(), n_batches))

    def total(self, column: int) -> float:
        """A column of ``stats`` summed over the workers."""
        return float(self.stats[:, column].sum())

    def run_pass(self, epoch: int, first: int, n_batches: int, t0: int, lr: float, tick) -> str:
        """Train the epoch's batches from ``first`` on; returns '' or a description of workers that died."""
        W = self.workers
        self.stats[...] = 0
        self.flags[[STOP, ROLLBACK, FAILED]] = 0
        for r in range(W):  # worker r's first batch: the first index >= first that is r modulo W
            self.stats[r, NEXT] = min(first + (r - first) % W, n_batches)
        self.job[[EPOCH, N_BATCHES, T0]] = epoch, n_batches, t0
        self.lr[0] = lr
        for r in range(1, W):
            self._go[r].release()
        try:
            self._work(0, tick)
        except BaseException:
            self.flags[STOP] = 1
            self._wait(lambda: None)
            raise
        return self._wait(tick)

    def _wait(self, tick) -> str:
        pending = self.workers - 1
        while pending:
            if self._done.acquire(timeout=0.01):
                pending -= 1
                continue
            dead = self._dead()
            if dead:
                self.flags[FAILED] = self.flags[STOP] = 1
                return dead
            tick()
        return ""

    def _dead(self) -> str:
        out = []
        for pid in self.pids:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                out.append(f"pid {pid}: " + (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                                             else f"exit status {os.WEXITSTATUS(status)}"))
        return ", ".join(out)

    def _work(self, rank: int, tick) -> None:
        """Worker ``rank``'s share of the current pass, until done or STOP."""
        tr, W, row = self.trainer, self.workers, self.stats[rank]
        epoch, n_batches, t0 = (int(self.job[i]) for i in (EPOCH, N_BATCHES, T0))
        first = int(row[NEXT])
        if first >= n_batches:
            return
        tr.opt.lr = float(self.lr[0])
        max_bad, bad_in_row = tr.cfg.max_bad_steps, 0
        for k, (x, y) in enumerate(islice(tr.data.epoch_batches(epoch, first), 0, None, W)):
            if self.flags[STOP]:
                return
            tr.opt.t = t0 + rank + k * W            # the step makes it t0 + rank + k W + 1
            loss, norm, n, ok = tr.step(x, y)
            if ok:
                bad_in_row = 0
                row[TOKENS] += n
                row[LOSS] += loss * n
                row[NORM] += norm
                row[OK] += 1
            else:
                bad_in_row += 1
                row[SKIPPED] += 1
            row[LAST_NORM] = norm
            row[DONE] += 1
            row[NEXT] = min(first + (k + 1) * W, n_batches)
            if bad_in_row >= max_bad:
                self.flags[ROLLBACK] = self.flags[STOP] = 1
                return
            tick()

    # -- the worker processes ------------------------------------------------------------------------

    def _worker_main(self, rank: int, parent: int) -> None:
        status = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C goes to worker 0, which stops all
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _die_with_parent()

            def alive():
                if os.getppid() != parent:
                    os._exit(1)
            while True:
                while not self._go[rank].acquire(timeout=1.0):
                    alive()
                if self.flags[QUIT]:
                    break
                self._work(rank, alive)
                self._done.release()
        except BaseException:  # a bug or out of memory: say so, stop the others
            traceback.print_exc()
            self.flags[FAILED] = self.flags[STOP] = 1
            self._done.release()
            status = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)

    def close(self, timeout: float = 5.0) -> None:
        """End the workers (they are idle between passes); kill any that does not exit in ``timeout`` s."""
        self.flags[QUIT] = self.flags[STOP] = 1
        for r in range(1, self.workers):
            self._go[r].release()
        deadline = time.monotonic() + timeout
        pending = list(self.pids)
        while pending and time.monotonic() < deadline:
            pending = [p for p in pending if not _reaped(p)]
            if pending:
                time.sleep(0.005)
        for pid in pending:
            os.kill(pid, signal.SIGKILL)
            _reaped(pid, wait=True)
        self.pids = []


def _reaped(pid: int, wait: bool = False) -> bool:
    """True once process ``pid`` has exited (and is reaped here, or was already)."""
    try:
        return os.waitpid(pid, 0 if wait else os.WNOHANG)[0] != 0
    except ChildProcessError:
        return True


def _die_with_parent() -> None:
    """Ask the kernel to kill this process when its parent dies (Linux's PR_SET_PDEATHSIG; elsewhere the
    workers' parent check ends them within a step)."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
