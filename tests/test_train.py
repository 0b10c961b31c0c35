"""The training loop: learning, exact resume, blow-up recovery, interruption."""
import json
import os
import signal
import threading

import numpy as np
import pytest

from rnnlab import checkpoint
from rnnlab.errors import ConfigError
from rnnlab.lm import LanguageModel, state_from_arrays
from rnnlab.training import TrainConfig, Trainer


class ToyData:
    """Sentences 'a b c ... ' of a cyclic language: the next token is (token + 1) % V."""

    stream = False

    def __init__(self, V=12, n_batches=6, T=7, B=4):
        self.V, self.nb, self.T, self.B = V, n_batches, T, B

    def epoch_batches(self, epoch, start=0, stride=1):
        rng = np.random.default_rng([7, epoch])
        for b in range(self.nb):
            first = rng.integers(0, self.V, self.B)
            seq = (first[None, :] + np.arange(self.T + 1)[:, None]) % self.V
            if b >= start and (b - start) % stride == 0:
                yield seq[:-1], seq[1:]

    def n_batches(self, epoch):
        return self.nb

    def valid_batches(self):
        yield self.probe_batch()

    def probe_batch(self):
        seq = (np.arange(4)[None, :] + np.arange(self.T + 1)[:, None]) % self.V
        return seq[:-1], seq[1:]


def make(tmp_path, name, dtype=np.float64, **kw):
    lm = LanguageModel(12, 8, cell="gru", embedding_size=6, dtype=dtype, seed=1)
    cfg = TrainConfig(**{"optimizer": "adam", "lr": 0.02, "epochs": 4, **kw})
    return Trainer(lm, cfg, ToyData(), tmp_path / name, meta={}, log=lambda s: None, progress=False)


def test_training_learns_and_writes_logs_and_checkpoints(tmp_path):
    tr = make(tmp_path, "run")
    assert tr.run() == 0
    log = [json.loads(line) for line in open(tmp_path / "run" / "log.jsonl")]
    epochs = [r for r in log if r["event"] == "epoch"]
    assert len(epochs) == 4 and epochs[-1]["valid_ppl"] < 0.5 * epochs[0]["valid_ppl"]
    assert (tmp_path / "run" / "best.npz").exists() and (tmp_path / "run" / "last.npz").exists()
    _, meta = checkpoint.load(tmp_path / "run" / "last.npz")
    assert meta["state"]["epoch"] == 4 and meta["state"]["done"]
    assert meta["train"]["optimizer"] == "adam"


@pytest.mark.parametrize("stop_after", [3, 6, 13])
@pytest.mark.parametrize("opt", [{"optimizer": "adam", "lr": 0.02}, {"optimizer": "sgd", "lr": 8.0}])
def test_resume_ends_bitwise_equal_to_uninterrupted(tmp_path, stop_after, opt):
    ref = make(tmp_path, "ref", **opt)
    ref.run()
    # interrupted run: stop after `stop_after` steps by a fake time budget, then resume in a new trainer
    part = make(tmp_path, "part", **opt)
    calls = {"n": 0}
    orig_step = part.step

    def counting_step(batch, t=None):
        calls["n"] += 1
        if calls["n"] == stop_after:
            part.cfg.time_budget = 1e-9  # stop right after this step
        return orig_step(batch, t)

    part.step = counting_step
    part.run()
    assert part.state["step"] == stop_after    # not a step more, also at an epoch's last step (6)
    resumed = make(tmp_path, "part", **opt)
    resumed.restore(tmp_path / "part" / "last.npz")
    assert resumed.run() == 0
    assert resumed.state["lr"] == ref.state["lr"]  # sgd at lr 8 halves once: the schedule is replayed too
    for k in ref.lm.params:
        np.testing.assert_array_equal(resumed.lm.params[k], ref.lm.params[k])


@pytest.mark.parametrize("every, saved_step", [(180.0, 6), (1e-9, 12)], ids=["epoch-1-end", "epoch-2-last-step"])
def test_resume_after_a_kill_logs_each_epoch_once(tmp_path, every, saved_step):
    """kill -9 after epoch 2 was logged but before its checkpoint: the resumed run logs epoch 2 again, and
    log.jsonl holds it once (as an uninterrupted run's would). The checkpoint left is epoch 1's (step 6) or,
    with a checkpoint after every step, the one of epoch 2's last step (12), which its epoch record follows."""
    out = tmp_path / "run"
    tr = make(tmp_path, "run", epochs=3, checkpoint_every=every)
    orig_end = tr._end_of_epoch

    def end_of_epoch(epoch, *a):
        if epoch == 1:   # epoch 2 ends: keep the state the kill will leave (epoch 1's checkpoint)
            (out / "epoch1.npz").write_bytes((out / "last.npz").read_bytes())
        return orig_end(epoch, *a)

    tr._end_of_epoch = end_of_epoch
    assert tr.run() == 0
    os.replace(out / "epoch1.npz", out / "last.npz")          # the kill: epoch 2's save never happened
    with open(out / "log.jsonl", "a") as f:
        f.write('{"event": "epoch", "epoch": 3, "step": 1')  # and a record it was writing was cut short
    lines = (out / "log.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines[:-1] if json.loads(x)["event"] == "epoch"] == [1, 2, 3]
    resumed = make(tmp_path, "run", epochs=3, checkpoint_every=every)
    resumed.restore(out / "last.npz")
    assert resumed.state["epoch"] == 1 and resumed.state["step"] == saved_step and resumed.run() == 0
    lines = (out / "log.jsonl").read_text().splitlines()
    log = [json.loads(x) for x in lines if x.endswith("}")]
    assert [r["epoch"] for r in log if r["event"] == "epoch"] == [1, 2, 3]
    assert len(log) == len(lines)                               # the torn line is gone
    assert [r["step"] for r in log if r["event"] == "epoch"] == [6, 12, 18]
    assert [r["step"] for r in log if r["event"] == "resume"] == [saved_step]


def test_trim_log_drops_later_and_torn_records_only(tmp_path):
    p = tmp_path / "log.jsonl"
    checkpoint.trim_log(p, 3)
    assert not p.exists()
    rows = ['{"event": "epoch", "epoch": 1, "complete": true, "step": 2}', '{"event": "old"}',
            '{"event": "epoch", "epoch": 2, "complete": false, "step": 3}', '{"event": "resume", "step": 3}',
            '{"event": "epoch", "epoch": 2, "complete": true, "step": 3}', '{"event": "nonfinite", "step": 4}',
            '{"event": "epoch", "st']
    p.write_text("\n".join(rows))
    assert checkpoint.trim_log(p, 3) == 2
    assert p.read_text() == "\n".join(rows[:5]) + "\n"
    assert checkpoint.trim_log(p, 3, epochs_done=1) == 1    # epoch 2 completed after a checkpoint in it
    assert p.read_text() == "\n".join(rows[:4]) + "\n"
    before = p.stat().st_mtime_ns
    assert checkpoint.trim_log(p, 3, 1) == 0 and p.stat().st_mtime_ns == before   # nothing to drop: not rewritten
    assert not [f for f in tmp_path.iterdir() if f.name != "log.jsonl"]       # no temporary left


def test_nonfinite_steps_are_skipped_and_rolled_back(tmp_path):
    tr = make(tmp_path, "nan", epochs=2, max_bad_steps=2)
    orig = tr.lm.forward_backward
    calls = {"n": 0}

    def poisoned(*a, **k):
        calls["n"] += 1
        loss, grads, hn, n = orig(*a, **k)
        if calls["n"] in (3, 4, 5):
            grads["rnn.weight_hh_l0"] = grads["rnn.weight_hh_l0"] * np.nan
        return loss, grads, hn, n

    tr.lm.forward_backward = poisoned
    assert tr.run() == 0
    for v in tr.lm.params.values():
        assert np.all(np.isfinite(v))
    log = [json.loads(line) for line in open(tmp_path / "nan" / "log.jsonl")]
    assert sum(r["event"] == "nonfinite" for r in log) == 3
    assert sum(r["event"] == "rollback" for r in log) == 1
    assert tr.state["lr"] == pytest.approx(0.01)


def poison_steps(tr, bad):
    """Make the steps with these global step numbers (0-based) non-finite, whatever process runs them."""
    orig = tr.lm.forward_backward

    def poisoned(*a, **k):
        loss, grads, hn, n = orig(*a, **k)
        if k.get("need_grad", True) and tr.state["step"] in bad:
            grads["rnn.weight_hh_l0"] = grads["rnn.weight_hh_l0"] * np.nan
        return loss, grads, hn, n

    tr.lm.forward_backward = poisoned


@pytest.mark.parametrize("stop_after", [8, 10])
def test_resume_around_a_rollback_is_bitwise_exact(tmp_path, stop_after):
    """Defect 8: the last good state and the count of non-finite steps in a row were not checkpointed, so a
    run resumed between the bad steps rolled back to another state (or not at all). Steps 9-11 go bad
    (three in a row roll back to the state of the end of epoch 1, step 6); the run is cut after step 8
    (the good state is older than the current one) or 10 (two bad steps already counted)."""
    bad = {9, 10, 11}
    ref = make(tmp_path, "ref", epochs=3, max_bad_steps=3)
    poison_steps(ref, bad)
    assert ref.run() == 0 and ref.state["rollbacks"] == 1
    part = make(tmp_path, "part", epochs=3, max_bad_steps=3)
    poison_steps(part, bad)
    orig_step = part.step

    def stopping_step(batch, t=None):
        result = orig_step(batch, t)
        if part.state["step"] + 1 == stop_after:
            part.cfg.time_budget = 1e-9
        return result

    part.step = stopping_step
    part.run()
    assert part.state["step"] == stop_after and part.state["rollbacks"] == 0
    resumed = make(tmp_path, "part", epochs=3, max_bad_steps=3)
    resumed.restore(tmp_path / "part" / "last.npz")
    poison_steps(resumed, bad)
    assert resumed.run() == 0
    assert resumed.state["rollbacks"] == 1 and resumed.state["lr"] == ref.state["lr"]
    for k in ref.lm.params:
        np.testing.assert_array_equal(resumed.lm.params[k], ref.lm.params[k])
    for k in ref.opt.state:
        np.testing.assert_array_equal(resumed.opt.state[k], ref.opt.state[k])


def test_where_an_overflow_rolls_back_does_not_depend_on_the_clock(tmp_path):
    """Defect 8: the check for overflowed parameters ran at wall-clock checkpoints, so where a rollback
    landed depended on timing. Checkpoints every step or once an epoch must end with the same model."""
    runs = []
    for every in (1e-9, 180.0):
        tr = make(tmp_path, f"every-{every}", epochs=2, dtype=np.float32)
        real_step, calls = tr.opt.step, {"n": 0}

        def overflowing_step(params, grads, real_step=real_step, calls=calls):
            real_step(params, grads)
            calls["n"] += 1
            if calls["n"] == 4:
                params["decoder.weight"][0, 0] = np.inf

        tr.opt.step = overflowing_step
        tr.cfg.checkpoint_every = every
        assert tr.run() == 0 and tr.state["rollbacks"] == 1
        runs.append(tr.lm.params)
    for k in runs[0]:
        np.testing.assert_array_equal(runs[0][k], runs[1][k])


def test_exploding_learning_rate_never_saves_nan(tmp_path):
    lm = LanguageModel(12, 16, cell="rnn", embedding_size=6, dtype=np.float32, seed=0)
    lm.params["rnn.weight_hh_l0"] *= 40  # a recurrent matrix far beyond the edge of chaos
    cfg = TrainConfig(optimizer="sgd", lr=1e4, clip=None, epochs=3)
    tr = Trainer(lm, cfg, ToyData(), tmp_path / "boom", meta={}, log=lambda s: None, progress=False)
    tr.run()
    for name in ("last.npz", "best.npz"):
        if (tmp_path / "boom" / name).exists():
            arrays, _ = checkpoint.load(tmp_path / "boom" / name)
            params = state_from_arrays(arrays)
            assert all(np.all(np.isfinite(v)) for v in params.values())


def test_sigint_saves_and_exits_cleanly(tmp_path):
    tr = make(tmp_path, "int", epochs=1000)
    orig = tr.step
    calls = {"n": 0}

    def step(batch, t=None):
        calls["n"] += 1
        if calls["n"] == 5:
            threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGINT)).start()
            threading.Event().wait(0.2)
        return orig(batch, t)

    tr.step = step
    assert tr.run() == 130
    _, meta = checkpoint.load(tmp_path / "int" / "last.npz")
    assert meta["state"]["step"] >= 5 and not meta["state"]["done"]


def test_bad_training_configuration():
    for kw in ({"lr": -1}, {"batch_size": 0}, {"truncate": -2}, {"optimizer": "newton"}, {"clip": 0},
               {"bptt_chunk": 5, "bptt_window": 3}):
        with pytest.raises(ConfigError):
            TrainConfig(**kw)
