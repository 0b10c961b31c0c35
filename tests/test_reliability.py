"""Interruptions and blow-ups lose nothing, through the command line: `kill -9` at random moments leaves the
last complete checkpoint loadable and `--resume` goes on from it; SIGINT/SIGTERM save and exit with 130; an
interrupted and resumed run ends bitwise equal to an uninterrupted one (float64, one BLAS thread) in sentence
and stream mode; an exploding learning rate never puts NaN/Inf into a checkpoint; training reads the
memory-mapped corpus.

The tests marked `slow` run real `rnnlab train` processes (a few seconds each); `make test` runs them too.
"""
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from rnnlab import checkpoint
from rnnlab.cli import main
from rnnlab.errors import ConfigError
from rnnlab.lm import LanguageModel, state_from_arrays
from rnnlab.training import TrainConfig, Trainer

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
       "MKL_NUM_THREADS": "1"}
STREAM = ["--stream", "--bptt-chunk", "5"]
STREAM_OVERLAP = ["--stream", "--bptt-chunk", "5", "--bptt-window", "12"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """600 random sentences of 3-12 words over 40 word types."""
    r = random.Random(3)
    words = [f"w{i}" for i in range(40)]
    p = tmp_path_factory.mktemp("rel") / "corpus.txt"
    p.write_text("".join(" ".join(r.choice(words) for _ in range(r.randint(3, 12))) + "\n" for _ in range(600)))
    return p


def train_argv(corpus, out, mode, epochs):
    return ["train", "--quiet", "--train", str(corpus), "--format", "lines", "--dtype", "float64", "--hidden", "8",
            "--embedding", "5", "--batch-size", "4", "--optimizer", "adam", "--lr", "0.01", "--epochs", str(epochs),
            "--out", str(out), *mode]


def run_here(argv):
    """`rnnlab ARGV` in this process with one BLAS thread (as the subprocesses run)."""
    with threadpool_limits(1):
        return main([str(a) for a in argv])


def assert_same_run(a, b):
    """Two model directories hold bitwise the same final parameters, optimiser state and schedule."""
    pa, ma = checkpoint.load(Path(a) / "last.npz")
    pb, mb = checkpoint.load(Path(b) / "last.npz")
    assert ma["state"]["done"] and mb["state"]["done"]
    for k in ("epoch", "step", "lr", "tokens"):
        assert ma["state"][k] == mb["state"][k], k
    assert sorted(pa) == sorted(pb)
    for k in pa:        # model, optimiser state, carried state (and a last good state where one was stored)
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)


def log_records(out):
    """The records of log.jsonl (a line cut short by kill -9 is skipped, as readers do) and the cut lines."""
    good, cut = [], 0
    for line in (Path(out) / "log.jsonl").read_text().splitlines():
        try:
            good.append(json.loads(line))
        except json.JSONDecodeError:
            cut += 1
    return good, cut


# -- resume exactness through the CLI (deterministic interruption by a fake clock) -------------------------

class FakeClock:
    """time.perf_counter for rnnlab.training.loop that advances one second per call: the time budget and the
    checkpoint interval then fall on the same steps in every run."""

    def __init__(self):
        self.t = 0.0

    def perf_counter(self):
        self.t += 1.0
        return self.t


@pytest.mark.parametrize("mode", [[], STREAM, STREAM_OVERLAP], ids=["sentences", "stream", "stream-k2>k1"])
def test_time_budget_then_resume_is_bitwise_equal(tmp_path, corpus, monkeypatch, mode):
    import rnnlab.training.loop

    assert run_here(train_argv(corpus, tmp_path / "ref", mode, 3)) == 0
    monkeypatch.setattr(rnnlab.training.loop, "time", FakeClock())
    argv = train_argv(corpus, tmp_path / "part", mode, 3) + ["--time-budget", "260", "--checkpoint-every", "7"]
    assert run_here(argv) == 0
    monkeypatch.undo()
    _, meta = checkpoint.load(tmp_path / "part" / "last.npz")
    st = meta["state"]
    assert not st["done"] and 1 <= st["epoch"] < 3 and st["batch"] > 0   # stopped in the middle of an epoch
    assert run_here(["train", "--resume", "--quiet", "--out", tmp_path / "part"]) == 0
    assert_same_run(tmp_path / "ref", tmp_path / "part")
    records, _ = log_records(tmp_path / "part")
    assert [r["step"] for r in records if r["event"] == "resume"] == [st["step"]]


def test_resume_keeps_the_saved_number_of_epochs(tmp_path, corpus):
    assert run_here(train_argv(corpus, tmp_path / "m", [], 2) + ["--time-budget", "1e-9"]) == 0
    assert run_here(["train", "--resume", "--quiet", "--out", tmp_path / "m"]) == 0     # no --epochs: 2, as saved
    _, meta = checkpoint.load(tmp_path / "m" / "last.npz")
    assert meta["state"]["epoch"] == 2 and meta["state"]["done"]
    assert run_here(["train", "--resume", "--quiet", "--out", tmp_path / "m", "--epochs", "3"]) == 0
    _, meta = checkpoint.load(tmp_path / "m" / "last.npz")
    assert meta["state"]["epoch"] == 3 and meta["train"]["epochs"] == 3


# -- real processes: signals and kill -9 --------------------------------------------------------------------

def start(argv, cwd):
    return subprocess.Popen([sys.executable, "-m", "rnnlab", *map(str, argv)], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path, proc, timeout=60.0):
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, f"no {path} after {timeout} s"
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.parametrize("sig, mode, epochs", [(signal.SIGINT, [], 20), (signal.SIGTERM, STREAM_OVERLAP, 8)],
                         ids=["SIGINT-sentences", "SIGTERM-stream-k2>k1"])
def test_signal_saves_exits_130_and_resume_finishes_exactly(tmp_path, corpus, sig, mode, epochs):
    out = tmp_path / "run"
    proc = start(train_argv(corpus, out, mode, epochs) + ["--checkpoint-every", "0.05"], cwd=tmp_path)
    wait_for(out / "last.npz", proc)
    time.sleep(0.15)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert "interrupted" in lines[0] and f"rnnlab train --resume --out {out}" in lines[0]
    _, meta = checkpoint.load(out / "last.npz")
    assert not meta["state"]["done"] and meta["state"]["epoch"] < epochs
    resumed = start(["train", "--resume", "--quiet", "--out", out], cwd=tmp_path)
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert f"resuming {out} at epoch {meta['state']['epoch'] + 1}, batch {meta['state']['batch']}" in stdout
    assert run_here(train_argv(corpus, tmp_path / "ref", mode, epochs)) == 0
    assert_same_run(tmp_path / "ref", out)


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_at_most_the_last_interval(tmp_path, corpus):
    rng = random.Random(2024)
    out, epochs = tmp_path / "run", 30
    last = out / "last.npz"
    argv = train_argv(corpus, out, [], epochs) + ["--checkpoint-every", "0.02"]
    proc = start(argv, cwd=tmp_path)
    steps, seen = [], 0
    for _ in range(6):
        # once this process has written a checkpoint of its own, kill it at a random moment within ~5 more
        while not (last.exists() and last.stat().st_mtime_ns > seen) and proc.poll() is None:
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.1))
        if proc.poll() is not None:    # finished before the kill: nothing left to interrupt
            break
        proc.kill()
        proc.wait()
        arrays, meta = checkpoint.load(last)   # complete, checksum verified
        params = state_from_arrays(arrays)
        assert all(np.isfinite(v).all() for v in params.values())
        steps.append(meta["state"]["step"])
        seen = last.stat().st_mtime_ns
        proc = start(["train", "--resume", "--quiet", "--out", out], cwd=tmp_path)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert len(steps) >= 3 and steps == sorted(steps) and steps[0] > 0
    assert not list(out.glob(".*.tmp"))                      # temporaries of cut-short saves are cleaned up
    records, cut = log_records(out)
    assert cut == 0 and sum(r["event"] == "resume" for r in records) == len(steps)   # torn lines dropped on resume
    assert [r["epoch"] for r in records if r["event"] == "epoch"] == list(range(1, epochs + 1))  # each once
    assert run_here(train_argv(corpus, tmp_path / "ref", [], epochs)) == 0
    assert_same_run(tmp_path / "ref", out)


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"), reason="Linux /proc")
def test_hogwild_workers_stop_with_ctrl_c_and_die_with_a_killed_trainer(tmp_path, corpus):
    out = tmp_path / "run"
    argv = train_argv(corpus, out, ["--workers", "2"], 40) + ["--checkpoint-every", "0.05"]
    proc = start(argv, cwd=tmp_path)
    wait_for(out / "last.npz", proc)
    workers = children(proc.pid)
    assert len(workers) == 1
    proc.send_signal(signal.SIGINT)                       # Ctrl-C: saved, one line, the worker gone too
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and len(stderr.strip().splitlines()) == 1, stderr
    assert not alive(workers[0])
    proc = start(["train", "--resume", "--quiet", "--out", out, "--workers", "2"], cwd=tmp_path)
    mtime = (out / "last.npz").stat().st_mtime_ns
    while (out / "last.npz").stat().st_mtime_ns == mtime:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    workers = children(proc.pid)
    proc.kill()                                           # kill -9: the kernel takes the worker down with it
    proc.wait()
    deadline = time.monotonic() + 10
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert workers and not any(alive(w) for w in workers)
    arrays, meta = checkpoint.load(out / "last.npz")
    params = state_from_arrays(arrays)
    assert all(np.isfinite(v).all() for v in params.values())
    proc = start(["train", "--resume", "--quiet", "--out", out, "--workers", "2"], cwd=tmp_path)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    _, meta = checkpoint.load(out / "last.npz")
    assert meta["state"]["done"] and meta["state"]["epoch"] == 40
    records, cut = log_records(out)
    complete = [r["epoch"] for r in records if r["event"] == "epoch" and r["complete"]]
    assert cut == 0 and complete == list(range(1, 41))     # (Ctrl-C logged its epoch as partial)


def test_sigterm_before_training_starts_exits_130_with_one_line(tmp_path, corpus, monkeypatch, capsys):
    import rnnlab.training.entry

    def prepare_data(*a, **k):   # SIGTERM while the corpus is being read: nothing to save yet
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        raise AssertionError("SIGTERM did not interrupt")

    monkeypatch.setattr(rnnlab.training.entry, "prepare_data", prepare_data)
    before = signal.getsignal(signal.SIGTERM)
    assert main([str(a) for a in train_argv(corpus, tmp_path / "m", [], 1)]) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["rnnlab train: interrupted"]
    assert signal.getsignal(signal.SIGTERM) is before


# -- numerical blow-up -------------------------------------------------------------------------------------

def test_exploding_tanh_rnn_skips_steps_rolls_back_and_saves_no_nan(tmp_path, corpus, capsys):
    # float32 sgd at lr 1e38 without clipping: logits overflow, losses and gradients become inf/nan
    argv = ["train", "--quiet", "--train", corpus, "--format", "lines", "--hidden", "16", "--batch-size", "8",
            "--optimizer", "sgd", "--lr", "1e38", "--clip", "0", "--epochs", "3", "--out", tmp_path / "boom"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)   # overflow is handled, not printed
        assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
    records, _ = log_records(tmp_path / "boom")
    events = [r["event"] for r in records]
    assert events.count("nonfinite") >= 3 and events.count("rollback") >= 1
    for r in records:
        if r["event"] == "epoch" and r["best"]:
            assert math.isfinite(r["valid_loss"])
    for name in ("best.npz", "last.npz"):
        arrays, meta = checkpoint.load(tmp_path / "boom" / name)
        params = state_from_arrays(arrays)
        assert all(np.isfinite(v).all() for v in params.values()), name
    assert meta["state"]["lr"] < 1e38 and meta["state"]["rollbacks"] == events.count("rollback")
    assert "rolled back to the last good state" in capsys.readouterr().out


def test_hopeless_blow_up_stops_with_one_numerical_error_line(tmp_path, corpus, capsys):
    # a relu RNN at sgd lr 1e12 keeps exploding however often (10 times) the learning rate is halved
    argv = ["train", "--quiet", "--train", corpus, "--format", "lines", "--hidden", "16", "--batch-size", "8",
            "--nonlinearity", "relu", "--optimizer", "sgd", "--lr", "1e12", "--clip", "0", "--epochs", "3",
            "--out", tmp_path / "boom"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)   # overflow is handled, not printed
        assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["rnnlab train: error: training keeps producing non-finite values after 10 rollbacks; lower "
                   "the learning rate or clip gradients"]
    for name in ("best.npz", "last.npz"):
        if (tmp_path / "boom" / name).exists():
            arrays, _ = checkpoint.load(tmp_path / "boom" / name)
            params = state_from_arrays(arrays)
            assert all(np.isfinite(v).all() for v in params.values()), name


class ToyData:
    """Sentences of a cyclic language (next token = token + 1 mod 12), 6 batches per epoch."""

    stream = False

    def epoch_batches(self, epoch, start=0):
        rng = np.random.default_rng([7, epoch])
        for b in range(6):
            seq = (rng.integers(0, 12, 4)[None, :] + np.arange(8)[:, None]) % 12
            if b >= start:
                yield seq[:-1], seq[1:]

    def n_batches(self, epoch):
        return 6

    def valid_batches(self):
        seq = (np.arange(4)[None, :] + np.arange(8)[:, None]) % 12
        yield seq[:-1], seq[1:]


def test_an_update_that_overflows_the_parameters_is_rolled_back(tmp_path):
    # finite loss and gradient, but the update itself overflows: caught before the epoch's snapshot/checkpoint
    lm = LanguageModel(12, 8, cell="gru", embedding_size=6, dtype=np.float32, seed=1)
    tr = Trainer(lm, TrainConfig(optimizer="adam", lr=0.01, epochs=2, checkpoint_every=1e-9), ToyData(),
                 tmp_path / "o", meta={}, log=lambda s: None, progress=False)
    real_step, calls = tr.opt.step, {"n": 0}

    def overflowing_step(params, grads):
        real_step(params, grads)
        calls["n"] += 1
        if calls["n"] == 4:
            params["decoder.weight"][0, 0] = np.inf

    tr.opt.step = overflowing_step
    assert tr.run() == 0
    records, _ = log_records(tmp_path / "o")
    assert [r["event"] for r in records].count("nonfinite_params") == 1
    assert tr.state["rollbacks"] == 1 and tr.state["lr"] == pytest.approx(0.005)
    for name in ("best.npz", "last.npz"):
        arrays, _ = checkpoint.load(tmp_path / "o" / name)
        params = state_from_arrays(arrays)
        assert all(np.isfinite(v).all() for v in params.values())


def test_a_second_ctrl_c_aborts_at_once_and_the_last_checkpoint_stays(tmp_path):
    lm = LanguageModel(12, 8, cell="gru", embedding_size=6, dtype=np.float64, seed=1)
    tr = Trainer(lm, TrainConfig(optimizer="adam", lr=0.01, epochs=50, checkpoint_every=1e-9), ToyData(),
                 tmp_path, meta={}, log=lambda s: None, progress=False)
    real_step, calls = tr.step, {"n": 0}

    def step(batch, t=None):
        calls["n"] += 1
        if calls["n"] == 9:
            os.kill(os.getpid(), signal.SIGINT)   # the first asks to save and stop ...
            os.kill(os.getpid(), signal.SIGINT)   # ... the second does not wait for it
        return real_step(batch, t)

    tr.step = step
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        tr.run()
    _, meta = checkpoint.load(tmp_path / "last.npz")
    assert meta["state"]["step"] == 8 and not list(tmp_path.glob(".*.tmp"))
    assert signal.getsignal(signal.SIGINT) is before   # the handler is given back


def test_a_log_line_cut_by_a_crash_does_not_swallow_the_next_record(tmp_path):
    lm = LanguageModel(12, 4, dtype=np.float64)
    tr = Trainer(lm, TrainConfig(epochs=1), ToyData(), tmp_path, meta={}, log=lambda s: None, progress=False)
    (tmp_path / "log.jsonl").write_text('{"event": "epoch"}\n{"event": "ep')
    tr._log_json({"event": "resume", "step": 3})
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert lines[1] == '{"event": "ep' and json.loads(lines[2]) == {"event": "resume", "step": 3}


# -- memory: training reads the memory-mapped encoding ------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["sentences", "stream"])
def test_training_reads_batches_from_the_memory_mapped_corpus(tmp_path, corpus, monkeypatch, stream):
    from rnnlab.pipeline import DataConfig, train_language_model

    seen = {}

    def capture(self):
        seen["data"] = self.data
        seen["first"] = next(iter(self.data.epoch_batches(0)))
        return 0

    monkeypatch.setattr(Trainer, "run", capture)
    train_language_model(DataConfig(train=str(corpus), format="lines"), {"hidden_size": 4},
                         TrainConfig(stream=stream, batch_size=4, bptt_chunk=5), tmp_path / "m", log=lambda s: None)
    data = seen["data"]
    assert isinstance(data.train.tokens, np.memmap) and isinstance(data.valid.tokens, np.memmap)
    assert Path(data.train.tokens.filename).parent == tmp_path / "m" / "cache"
    n = data.train.n_tokens
    big = [k for k, v in vars(data).items() if isinstance(v, np.ndarray) and v.size >= n // 4]
    assert big == []   # no copy of the corpus beside the memory map
    x, y = seen["first"]
    assert x.shape == y.shape and x.shape[1] == 4


@pytest.mark.parametrize("B, k1, k2", [(4, 5, None), (4, 5, 12), (3, 7, 8), (5, 3, 20)])
def test_stream_windows_read_lazily_cover_the_stream(corpus, B, k1, k2):
    """The windows StreamData reads from the corpus: every target learnt from exactly once, in order, and the
    steps a window shares with the one before hold the same inputs (the stream, not a copy of it)."""
    from rnnlab.data import build_vocab, encode_file, stream_batches, stream_window
    from rnnlab.pipeline import StreamData

    vocab = build_vocab(str(corpus), 100, format="lines")
    c = encode_file(str(corpus), vocab, format="lines")
    data = StreamData(c, c, B, k1, k2)
    full_x = np.concatenate([x for x, _ in stream_batches(c, B, chunk=data.L)])   # (L, B) in one piece
    full_y = np.concatenate([y for _, y in stream_batches(c, B, chunk=data.L)])
    learnt, n = [], 0
    for (s, p, e, s_next), batch in zip(data._windows(), data.epoch_batches(0)):
        x, y = batch
        np.testing.assert_array_equal(x, full_x[s:e])
        assert (y[: p - s] == -1).all()
        np.testing.assert_array_equal(y[p - s:], full_y[p:e])
        assert batch.carry_from == min(s_next, e) - 1 - s   # the state entering the next window
        learnt.append(y[p - s:])
        n += 1
    assert n == data.n_batches(0)
    np.testing.assert_array_equal(np.concatenate(learnt), full_y)
    for bad in ((0, data.L + 1), (3, 3), (-1, 2)):
        with pytest.raises(ConfigError, match="stream window"):
            stream_window(c, B, *bad)
