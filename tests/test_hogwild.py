"""Hogwild workers (rnnlab.hogwild): shared memory, every batch trained once, learning, stop and resume,
blow-up recovery, failing workers, and the CLI's checks."""
import json
import os

import numpy as np
import pytest
from test_train import ToyData

from rnnlab import checkpoint, hogwild
from rnnlab.errors import ConfigError, WorkerError
from rnnlab.lm import LanguageModel, state_from_arrays
from rnnlab.optim import make_optimizer
from rnnlab.training import StepResult, TrainConfig, Trainer

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="Hogwild workers are forked processes")


@pytest.fixture
def workers(monkeypatch):
    """The process ids of the Hogwild workers the test starts."""
    pids, start = [], hogwild.Pool.start

    def recording_start(self):
        start(self)
        pids.extend(self.pids)

    monkeypatch.setattr(hogwild.Pool, "start", recording_start)
    return pids


def all_reaped(pids):
    """Every one of these child processes has exited and been reaped."""
    for pid in pids:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == 0:
                return False          # still running
        except ChildProcessError:
            pass                      # reaped already
    return True


def make(tmp_path, name="run", workers=2, data=None, **kw):
    lm = LanguageModel(12, 8, cell="gru", embedding_size=6, dtype=np.float64, seed=1)
    cfg = TrainConfig(**{"optimizer": "adam", "lr": 0.02, "epochs": 4, **kw})
    return Trainer(lm, cfg, data or ToyData(n_batches=9), tmp_path / name, meta={}, log=lambda s: None,
                   progress=False, workers=workers)


def test_shared_array_keeps_values_and_order_and_sees_a_childs_writes():
    for a in (np.arange(12.0).reshape(3, 4), np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))):
        s = hogwild.shared_array(a)
        np.testing.assert_array_equal(s, a)
        assert s.dtype == a.dtype and s.flags.f_contiguous == a.flags.f_contiguous
        pid = os.fork()
        if pid == 0:
            s[1, 2] = -7
            os._exit(0)
        os.waitpid(pid, 0)
        assert s[1, 2] == -7 and a[1, 2] != -7


def test_share_model_moves_every_parameter_and_keeps_the_function():
    lm = LanguageModel(30, 8, output="class", seed=3)        # one-hot input: U stored column-major
    x = np.random.default_rng(0).integers(0, 30, (5, 2))
    before = lm.loss_and_grads(x, x)
    hogwild.share_model(lm)
    for k, v in lm.layer.params.items():
        assert lm.params[f"rnn.{k}"] is v
    assert lm.params["rnn.weight_ih_l0"].flags.f_contiguous
    after = lm.loss_and_grads(x, x)
    assert before[0] == after[0]
    for k in before[1]:
        np.testing.assert_array_equal(before[1][k], after[1][k])


@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad", "rmsprop", "adam", "sparseadam"])
def test_init_state_then_step_equals_lazy_slots(name):
    rng = np.random.default_rng(0)
    params = {"a": rng.normal(size=(4, 3)), "b": rng.normal(size=5)}
    grads = {"a": rng.normal(size=(4, 3)), "b": rng.normal(size=5)}
    lazy, eager = make_optimizer(name, 0.1), make_optimizer(name, 0.1)
    p1, p2 = {k: v.copy() for k, v in params.items()}, {k: v.copy() for k, v in params.items()}
    eager.init_state(p2)
    assert len(eager.state) == len(eager.slots) * len(params)
    for _ in range(2):
        lazy.step(p1, grads)
        eager.step(p2, grads)
    for k in params:
        np.testing.assert_array_equal(p1[k], p2[k])


def test_async_beta1():
    assert hogwild.async_beta1(0.9, 1) == 0.9
    assert hogwild.async_beta1(0.9, 2) == pytest.approx(0.45)
    assert hogwild.async_beta1(0.8, 4) == pytest.approx(0.2)


def test_two_workers_train_every_batch_once_and_learn(tmp_path, workers):
    data = ToyData(n_batches=9)
    tr = make(tmp_path, data=data)
    assert tr.opt.betas[0] == pytest.approx(0.45)
    assert tr.run() == 0
    assert len(workers) == 1 and all_reaped(workers)
    st = tr.state
    assert st["epoch"] == 4 and st["done"]
    assert st["step"] == 4 * 9 and tr.opt.t == 4 * 9
    assert st["tokens"] == 4 * 9 * data.T * data.B
    log = [json.loads(line) for line in open(tmp_path / "run" / "log.jsonl")]
    epochs = [r for r in log if r["event"] == "epoch"]
    assert len(epochs) == 4 and epochs[-1]["valid_ppl"] < 0.5 * epochs[0]["valid_ppl"]
    arrays, meta = checkpoint.load(tmp_path / "run" / "last.npz")
    params = state_from_arrays(arrays)
    for k, v in tr.lm.params.items():
        np.testing.assert_array_equal(params[k], v)


def test_the_workers_update_the_shared_model(tmp_path):
    """With the parent's own steps made no-ops, the model still changes: the other worker's updates land."""
    tr = make(tmp_path, epochs=1)
    start = {k: v.copy() for k, v in tr.lm.params.items()}
    parent, orig = os.getpid(), tr.step

    def step(batch, t=None):
        if os.getpid() == parent:
            return StepResult(0.0, 0.0, batch.x.size, True)
        return orig(batch, t)

    tr.step = step
    tr.run()
    assert any(not np.array_equal(start[k], v) for k, v in tr.lm.params.items())


def test_time_budget_stops_the_workers_and_resume_finishes(tmp_path, workers):
    tr = make(tmp_path, "part", epochs=3)
    calls = {"n": 0}
    orig = tr.step

    def step(batch, t=None):
        calls["n"] += 1
        if calls["n"] == 3:
            tr.cfg.time_budget = 1e-9
        return orig(batch, t)

    tr.step = step
    assert tr.run() == 0
    assert len(workers) == 1 and all_reaped(workers)
    _, meta = checkpoint.load(tmp_path / "part" / "last.npz")
    assert not meta["state"]["done"] and meta["state"]["step"] < 3 * 9
    resumed = make(tmp_path, "part", epochs=3)
    resumed.restore(tmp_path / "part" / "last.npz")
    assert resumed.run() == 0 and resumed.state["done"] and resumed.state["epoch"] == 3
    # batches done before the stop are not trained again, except those a worker had started past the
    # first unfinished one
    assert 3 * 9 <= resumed.state["step"] <= 3 * 9 + 2


def test_nonfinite_steps_in_a_worker_roll_back_and_never_save_nan(tmp_path):
    tr = make(tmp_path, "nan", epochs=2, max_bad_steps=2)
    orig, parent = tr.lm.forward_backward, os.getpid()
    calls = {"n": 0}

    def poisoned(*a, **k):
        loss, grads, hn, n = orig(*a, **k)
        if os.getpid() != parent:  # the other worker: its first three steps go bad
            calls["n"] += 1
            if calls["n"] <= 3:
                grads["rnn.weight_hh_l0"] = grads["rnn.weight_hh_l0"] * np.nan
        return loss, grads, hn, n

    tr.lm.forward_backward = poisoned
    assert tr.run() == 0
    assert all(np.all(np.isfinite(v)) for v in tr.lm.params.values())
    log = [json.loads(line) for line in open(tmp_path / "nan" / "log.jsonl")]
    assert any(r["event"] == "rollback" for r in log)
    assert tr.state["lr"] <= 0.01
    arrays, _ = checkpoint.load(tmp_path / "nan" / "last.npz")
    params = state_from_arrays(arrays)
    assert all(np.all(np.isfinite(v)) for v in params.values())


def test_a_failing_worker_stops_the_run_with_a_clear_error(tmp_path, capfd, workers):
    tr = make(tmp_path, "fail", epochs=2)
    parent, orig = os.getpid(), tr.step

    def step(batch, t=None):
        if os.getpid() != parent:
            raise MemoryError("worker out of memory")
        return orig(batch, t)

    tr.step = step
    with pytest.raises(WorkerError, match="Hogwild worker"):
        tr.run()
    assert len(workers) == 1 and all_reaped(workers)
    assert "worker out of memory" in capfd.readouterr().err


def test_workers_refuse_stream_training(tmp_path):
    class Stream(ToyData):
        stream = True

    with pytest.raises(ConfigError, match="--stream"):
        make(tmp_path, data=Stream())
    with pytest.raises(ConfigError, match="at least 1"):
        make(tmp_path, workers=0)


@pytest.mark.parametrize("argv, needles", [(["--workers", "2", "--stream"], ["--workers", "--stream"]),
                                           (["--workers", "0"], ["--workers"])])
def test_cli_rejects_bad_worker_options(tmp_path, capsys, argv, needles):
    from test_cli_errors import assert_one_line_error, run_cli

    rc, _, err = run_cli(capsys, "train", "--out", tmp_path / "m", "--quiet", *argv)
    assert_one_line_error(rc, err, *needles)
    assert not (tmp_path / "m").exists()


def test_workers_lower_the_momentum_of_sgd_with_momentum(tmp_path):
    assert make(tmp_path, optimizer="momentum", lr=0.1).opt.momentum == pytest.approx(0.45)
    assert make(tmp_path, workers=1, optimizer="momentum", lr=0.1).opt.momentum == pytest.approx(0.9)


def test_optimiser_updates_never_overlap_across_workers(tmp_path):
    """Forward and backward run at once; the optimiser steps (m and v written together) take turns."""
    import time

    tr = make(tmp_path, epochs=1, data=ToyData(n_batches=12))
    spans = hogwild.shared_array(np.zeros((2, 12, 2)))      # (worker, step, enter/leave)
    count = hogwild.shared_array(np.zeros(2, dtype=np.int64))
    parent, orig = os.getpid(), tr.opt.step

    def step(params, grads):
        w = 0 if os.getpid() == parent else 1
        spans[w, count[w], 0] = time.monotonic()
        orig(params, grads)
        time.sleep(0.003)                                     # long enough to overlap without the lock
        spans[w, count[w], 1] = time.monotonic()
        count[w] += 1

    tr.opt.step = step
    assert tr.run() == 0
    assert count.tolist() == [6, 6]
    a, b = spans[0, :6], spans[1, :6]
    for s0, e0 in a:
        assert np.all((b[:, 1] <= s0) | (b[:, 0] >= e0))


@pytest.mark.parametrize("embedding", [None, 6])
def test_reader_model_copies_what_a_step_reads_twice_and_shares_the_lookup_table(embedding):
    lm = LanguageModel(30, 8, output="class", embedding_size=embedding, seed=3)
    hogwild.share_model(lm)
    reader = hogwild.reader_model(lm)
    lookup = "encoder.weight" if embedding else "rnn.weight_ih_l0"
    for k, v in lm.params.items():
        assert (reader.params[k] is v) == (k == lookup)
        np.testing.assert_array_equal(reader.params[k], v)
    for k, v in reader.layer.params.items():
        assert reader.params[f"rnn.{k}"] is v and lm.layer.params[k] is lm.params[f"rnn.{k}"]
    for v in lm.params.values():
        v += 0.01                                        # another worker's update
    assert not np.array_equal(reader.params["decoder.weight"], lm.params["decoder.weight"])
    hogwild.refresh(reader, lm)
    x = np.random.default_rng(0).integers(0, 30, (5, 3))
    l1, g1 = lm.loss_and_grads(x, x)
    l2, g2 = reader.loss_and_grads(x, x)
    assert l1 == l2
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k])


@pytest.mark.parametrize("where", ["holding the update lock", "in forward-backward"])
def test_a_worker_killed_at_any_moment_ends_the_run_with_a_worker_error(tmp_path, workers, where):
    """Defect 1: a worker killed (SIGKILL) while holding the update lock never released it, and the trainer
    waited for it forever. Any worker death must end the run promptly with WorkerError, the last
    checkpoint intact. (The alarm turns a hang into a failure instead of a stuck test run.)"""
    import signal

    tr = make(tmp_path, "killed", epochs=3, checkpoint_every=1e-9)
    parent, calls = os.getpid(), {"n": 0}
    if where == "holding the update lock":
        target, name = tr.opt, "step"
    else:
        target, name = tr.lm, "forward_backward"
    orig = getattr(target, name)

    def dying(*a, **k):
        if os.getpid() != parent:
            calls["n"] += 1
            if calls["n"] == 4:                          # in the second epoch's pass
                os.kill(os.getpid(), signal.SIGKILL)
        return orig(*a, **k)

    setattr(target, name, dying)

    def hung(signum, frame):
        raise TimeoutError("the trainer hangs after a worker died")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)
    try:
        with pytest.raises(WorkerError, match="Hogwild worker.*signal 9.*--resume"):
            tr.run()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert len(workers) == 1 and all_reaped(workers)
    arrays, meta = checkpoint.load(tmp_path / "killed" / "last.npz")   # complete, checksum verified
    assert 1 <= meta["state"]["step"] < 3 * 9 and not meta["state"]["done"]


def test_each_worker_builds_only_its_own_batches(tmp_path):
    """Defect 10: every worker built every batch of the epoch and threw away W-1 of W."""
    built = hogwild.shared_array(np.zeros(2, dtype=np.int64))     # (this process, the other worker)
    parent = os.getpid()

    class Counting(ToyData):
        def epoch_batches(self, epoch, start=0, stride=1):
            own = super().epoch_batches(epoch, start, *([stride] if stride > 1 else []))
            for b in own:
                built[0 if os.getpid() == parent else 1] += 1
                yield b

    tr = make(tmp_path, epochs=2, data=Counting(n_batches=9))
    assert tr.run() == 0 and tr.state["step"] == 2 * 9
    assert built.sum() == 2 * 9 and built[1] > 0
