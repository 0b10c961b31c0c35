"""Hogwild training: several processes train one model in shared memory.

``rnnlab train --workers W`` forks W - 1 worker processes once per run (the trainer's own process is
worker 0). The pool knows nothing of training: it is given a step callable and a batch source. In each
pass over an epoch, worker r builds only its own batches, r, r + W, r + 2W, ... of the epoch's order, and
runs the step on them (``rnnlab.training.train_step``: forward, backward, guard, clip, optimiser update)
on the parameters and optimiser state in memory all W processes share; every worker records its steps in
its row of a shared table (``rnnlab.training.tally``, the bookkeeping one process uses too). Forward and
backward never wait for another worker (Recht et al. 2011: SGD converges without locks when updates are
sparse, as a language model's rows are; word2vec and faster-rnnlm train the same way with threads). Each
step first copies the weights it reads twice (recurrent and output weights: ``reader_model``) so that its
gradient is exact at one point: read in place, the forward pass and the backward pass of one step could
see weights before and after another worker's update, and the mismatch set off gradient norms of 10-700 in
the first epoch (fortunes: 2 of 11 runs ended 5-8 PPL worse; with the copies 0 of 7, at a cost of ~5% of
the speed). The optimiser steps take turns under one lock (``Pool.locked``): an Adam update writes m, v
and the parameters in a dozen passes, and two interleaved ones can pair one worker's m with a v that has
not seen that gradient yet (rows met for the first time have v ~ 0), a step of m / eps (measured: decoder
weights of 35 after ten steps, test PPL 3-8 points worse on fortunes). The lock cost little: an update is
a quarter of a step, and the other worker's forward and backward go on meanwhile. A worker that dies
holding the lock (SIGKILL, the out-of-memory killer) never releases it, so nobody waits on it blindly:
worker 0 waits in short slices and checks between them whether a worker died (then the run ends with
WorkerError, the last checkpoint untouched), the others whether the pass was stopped. Python's threads
would serialise on the interpreter lock (measured: two threads on halves of a batch gained 1.1-1.2x), so
the workers are processes, each with its own BLAS threads.

Asynchrony adds momentum (Mitliagkas et al. 2016: W asynchronous workers behave like an implicit
momentum of about 1 - 1/W), so ``async_momentum`` lowers the optimiser's own.

What changes against one process: a run is no longer bitwise reproducible (which weights a forward pass
reads depends on timing), each gradient is computed on weights one update old, and a resumed run goes on
from the first batch some worker had not finished (a few batches may be trained twice). Everything else
holds: checkpoints are written by worker 0 from a copy of the shared arrays, Ctrl-C and the time budget
stop all workers between two steps, non-finite steps are skipped, and too many in a row in any worker
stop the pass, roll back and halve the learning rate as in one process (``rnnlab.training``).

Memory: a step allocates and frees temporaries of a few hundred KB; in the forked processes glibc's
malloc kept handing those back to the kernel and faulting fresh zero pages in again (190-370k page faults,
0.3-0.6 s of system time per worker and epoch on fortunes: 270-340k tokens/s instead of 400k).
``keep_heap`` tells malloc to keep freed memory for reuse before the workers start.
"""
from __future__ import annotations

import contextlib
import ctypes
import mmap
import multiprocessing
import os
import signal
import sys
import time
import traceback

import numpy as np

from .errors import WorkerError
from .training.tally import COLUMNS, FINISHED, ROLLBACK, STOPPED, work
from .training.tally import NEXT as NEXT_COLUMN

# entries of Pool.flags (the first two as tally.FLAG_STOP, tally.FLAG_ROLLBACK)
STOP, ROLLBACK_FLAG, FAILED, QUIT = range(4)
# entries of Pool.job: what the next pass does
EPOCH, N_BATCHES, T0 = range(3)
LOCK_SLICE = 0.05   # seconds between liveness checks while waiting for the update lock


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
    (the model's one dict; its recurrent layer reads the same entries through a view)."""
    for name, p in list(lm.params.items()):
        lm.params[name] = shared_array(p)


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
    """A LanguageModel like ``lm`` (``lm.bind``: same structure, same output object) with its own copies of
    the weights a step reads twice, in the forward pass and again in the backward pass (recurrent and
    output weights), so that the gradient it computes is the exact gradient at one point, not at a mix of
    weights before and after another worker's update. The input lookup table (``encoder.weight``, or the
    one-hot input's ``rnn.weight_ih_l0``) stays shared: a step reads it once, row by row. Call
    ``refresh`` before each step."""
    lookup = "encoder.weight" if "encoder.weight" in lm.params else "rnn.weight_ih_l0"
    shared = (lookup, "direct.weight")  # read once per step; the direct table's backward never reads it
    return lm.bind({k: (v if k in shared else v.copy(order="K")) for k, v in lm.params.items()})


def refresh(reader, lm) -> None:
    """Copy ``lm``'s current weights into ``reader``'s own arrays (see ``reader_model``)."""
    for k, v in reader.params.items():
        src = lm.params[k]
        if v is not src:
            np.copyto(v, src)


class Reader:
    """This process's ``reader_model`` of ``lm``, made once per process and refreshed on each call."""

    def __init__(self, lm):
        self.lm, self._pid, self._model = lm, None, None

    def __call__(self):
        if self._pid != os.getpid():
            self._pid, self._model = os.getpid(), reader_model(self.lm)
        refresh(self._model, self.lm)
        return self._model


def async_beta1(beta1: float, workers: int) -> float:
    """The explicit momentum for W asynchronous workers: beta1 / W (0.9 -> 0.45 for two).

    Asynchrony adds an implicit momentum of about 1 - 1/W (Mitliagkas et al. 2016), so the optimiser's
    own should shrink as W grows. The rule is measured, not derived: two workers on the KJV corpus (the
    README's recipe, test PPL, 2-3 runs each) gave 50.2-50.6 with beta1 0.9, 48.6-49.7 with 0.7 and
    48.3-49.6 with 0.45 (one process: 46.8); on fortunes, before updates took turns, 0.45 had the
    narrowest spread of 0.9, 0.7, 0.5, 0.45, 0.4 and 0.
    """
    return beta1 / workers


def async_momentum(opt, workers: int) -> None:
    """Lower the momentum of ``opt`` for W asynchronous workers (``async_beta1``), in place."""
    factor = async_beta1(1.0, workers)
    opt.scale_momentum(factor)


class _Stopped(Exception):
    """A worker waiting for the update lock learnt that the pass was stopped."""


class Pool:
    """W - 1 forked workers and the shared block through which worker 0 (this process) drives them.

    Args:
        workers: W.
        step: ``step(batch, t) -> StepResult``, one update (t: the optimiser's step count before it).
        batches: ``batches(epoch, first, stride)``, the batches first, first + stride, ... of an epoch.
        max_bad: non-finite steps in a row in one worker that stop the pass for a rollback.

    ``start`` forks the workers; ``run_pass`` trains the rest of an epoch with all W of them; ``close``
    ends them. ``stats`` is the shared table of ``rnnlab.training.tally``."""

    def __init__(self, workers: int, step, batches, max_bad: int):
        self.workers, self.step, self.batches, self.max_bad = workers, step, batches, max_bad
        self.stats = shared_array(np.zeros((workers, COLUMNS)))
        self.flags = shared_array(np.zeros(4, dtype=np.int64))
        self.job = shared_array(np.zeros(3, dtype=np.int64))
        keep_heap()
        ctx = multiprocessing.get_context("fork")
        self._go = [ctx.Semaphore(0) for _ in range(workers)]   # a semaphore is also a memory barrier
        self._done = ctx.Semaphore(0)
        self._lock = ctx.Lock()    # held by a worker while its optimiser step writes the shared arrays
        self.pids, self._gone = [], {}
        self._rank = 0

    def start(self) -> None:
        """Fork the workers."""
        parent = os.getpid()
        for rank in range(1, self.workers):
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                self._worker_main(rank, parent)  # never returns
            self.pids.append(pid)

    @contextlib.contextmanager
    def locked(self):
        """Hold the update lock. Worker 0 raises WorkerError when a worker dies meanwhile (it may have died
        holding the lock); the other workers give up the step when the pass is stopped."""
        while not self._lock.acquire(timeout=LOCK_SLICE):
            if self._rank == 0:
                self._raise_if_dead()
            elif self.flags[STOP]:
                raise _Stopped
        try:
            yield
        finally:
            self._lock.release()

    # -- the pass (worker 0) -------------------------------------------------------------------------

    def run_pass(self, epoch: int, n_batches: int, t0: int, tick) -> str:
        """Train batches ``stats[r, NEXT]``, + W, ... in each worker r (``tally.reset`` set the table up);
        ``tick()`` runs here after each of this process's steps and while it waits. Returns FINISHED,
        STOPPED or ROLLBACK (flags set by any worker, or ``tick``).

        Raises:
            WorkerError: a worker died or failed; the others are stopped.
        """
        self.flags[[STOP, ROLLBACK_FLAG, FAILED]] = 0
        self.job[[EPOCH, N_BATCHES, T0]] = epoch, n_batches, t0
        for r in range(1, self.workers):
            self._go[r].release()
        try:
            if self._work(0, tick) == ROLLBACK:
                self.flags[ROLLBACK_FLAG] = self.flags[STOP] = 1
            self._wait(tick)
        except BaseException:
            self.flags[STOP] = 1
            with contextlib.suppress(WorkerError):
                self._wait(lambda: None)
            raise
        if self.flags[FAILED]:
            raise WorkerError("a Hogwild worker process failed (its error is above); continue from the last "
                              "checkpoint with --resume")
        return ROLLBACK if self.flags[ROLLBACK_FLAG] else STOPPED if self.flags[STOP] else FINISHED

    def _wait(self, tick) -> None:
        pending = self.workers - 1
        while pending:
            if self._done.acquire(timeout=0.01):
                pending -= 1
                continue
            self._raise_if_dead()
            tick()

    def _raise_if_dead(self) -> None:
        for pid in self.pids:
            if pid in self._gone:
                continue
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self._gone[pid] = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                                   else f"exit status {os.WEXITSTATUS(status)}")
        if self._gone:
            self.flags[FAILED] = self.flags[STOP] = 1
            dead = ", ".join(f"pid {p}: {why}" for p, why in self._gone.items())
            raise WorkerError(f"a Hogwild worker process failed ({dead}); continue from the last checkpoint "
                              f"with --resume")

    def _work(self, rank: int, tick) -> str:
        """Worker ``rank``'s share of the current pass, until done or STOP (``tally.work``)."""
        W, row = self.workers, self.stats[rank]
        epoch, n_batches, t0 = (int(self.job[i]) for i in (EPOCH, N_BATCHES, T0))
        first = int(row[NEXT_COLUMN])
        if first >= n_batches:
            return FINISHED
        try:
            return work(self.step, self.batches(epoch, first, W), row, W, n_batches, self.max_bad,
                        lambda: self.flags[STOP], tick, t_of=lambda k: t0 + rank + k * W)
        except _Stopped:
            return STOPPED

    # -- the worker processes ------------------------------------------------------------------------

    def _worker_main(self, rank: int, parent: int) -> None:
        status = 0
        self._rank = rank
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
                if self._work(rank, alive) == ROLLBACK:
                    self.flags[ROLLBACK_FLAG] = self.flags[STOP] = 1
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
        pending = [p for p in self.pids if p not in self._gone]
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
