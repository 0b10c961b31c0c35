"""The Add task (its exact plateaus), online training with the estimators, and the two commands:
``rnnlab estimators`` and ``rnnlab experiment ... --estimator``."""
import json
import math

import numpy as np
import pytest

from rnnlab.cli import main
from rnnlab.estimators.measure import MeasureConfig, measure, synthetic_problem
from rnnlab.estimators.online import OnlineConfig, train_online
from rnnlab.tasks.add import Add, binary_entropy, plateaus, soft_xent


def test_add_plateaus_are_the_papers_numbers():
    p = plateaus()
    # by hand: E[y] = 0.625; given x1: 0.375 or 0.875; given both: 0.5, 0.25, 1.0, 0.75
    assert p["nothing"] == pytest.approx(binary_entropy(0.625), abs=1e-15)
    assert p["t1_only"] == pytest.approx((binary_entropy(0.375) + binary_entropy(0.875)) / 2, abs=1e-15)
    assert p["both"] == pytest.approx((math.log(2) + 2 * binary_entropy(0.25) + 0.0) / 4, abs=1e-15)
    assert round(p["nothing"], 4) == 0.6616 and round(p["t1_only"], 4) == 0.5192 and round(p["both"], 4) == 0.4545


def test_add_stream_targets_and_sampled_plateaus():
    task = Add(7, t1=3)
    rng = np.random.default_rng(0)
    b = task.sample(400, rng, steps=300)
    x, y = b.x[..., 0].astype(np.float64), b.y.astype(np.float64)
    t = np.arange(7, 300)
    np.testing.assert_allclose(y[t], 0.5 + 0.5 * x[t - 3] - 0.25 * x[t - 7])
    # the three ideal predictors, scored by the task on the sampled streams, give the plateaus
    p = plateaus()
    x1, x2 = np.zeros_like(x), np.zeros_like(x)
    x1[3:], x2[7:] = x[:-3], x[:-7]
    for q, want in ((np.full_like(x, 0.625), p["nothing"]), (0.375 + 0.5 * x1, p["t1_only"]),
                    (0.5 + 0.5 * x1 - 0.25 * x2, p["both"])):
        q = np.clip(q, 1e-12, 1 - 1e-12)
        logits = np.stack([np.log(q), np.log1p(-q)], axis=-1)
        assert task.sequence_loss(logits, b).mean() == pytest.approx(want, abs=3e-3)
    # the stream continues across chunks: chunk 2's first targets read chunk 1's last inputs
    s = task.stream(3, seed=1, steps=10)
    c1, c2 = next(s), next(s)
    whole = np.concatenate([c1.x[..., 0], c2.x[..., 0]])
    np.testing.assert_allclose(c2.y[:7], 0.5 + 0.5 * whole[7:14] - 0.25 * whole[3:10])


def test_soft_xent_gradient_by_finite_differences():
    rng = np.random.default_rng(0)
    o, y = rng.standard_normal((5, 2)), rng.random(5)
    loss, do = soft_xent(o, y)
    eps = 1e-6
    for i in range(5):
        for k in range(2):
            op = o.copy()
            op[i, k] += eps
            om = o.copy()
            om[i, k] -= eps
            assert (soft_xent(op, y)[0] - soft_xent(om, y)[0]) / (2 * eps) == pytest.approx(do[i, k], abs=1e-8)


def test_one_online_update_of_rtrl_equals_bptts():
    """One SGD update after 40 steps: forward-mode RTRL and reverse-mode BPTT compute the same gradient of
    those steps, hence the same weights and the same evaluated loss."""
    task = Add(4, t1=2)
    cfg = dict(hidden_size=5, batch_size=3, optimizer="sgd", lr=1e-3, clip=None, steps=40, eval_every=20,
               eval_sequences=10)
    a = train_online(task, "rnn-tanh", OnlineConfig(estimator="rtrl", update_every=40, **cfg))
    b = train_online(task, "rnn-tanh", OnlineConfig(estimator="bptt", update_every=40, **cfg))
    assert a["metric"] == pytest.approx(b["metric"], rel=1e-12)
    c = train_online(task, "rnn-tanh", OnlineConfig(estimator="snap-1", update_every=40, **cfg))
    assert abs(c["metric"] - b["metric"]) > 1e-9      # an approximate gradient moves the weights elsewhere


@pytest.mark.parametrize("task", ["add", "adding", "temporal-order", "copy"])
def test_online_training_runs_every_task(task):
    from rnnlab.estimators.online import make_online_task
    t = make_online_task(task, {"copy": 3, "temporal-order": 10}.get(task, 6))
    rec = train_online(t, "gru", OnlineConfig(estimator="snap-1", hidden_size=6, batch_size=4, steps=60,
                                              eval_every=20, eval_sequences=20))
    assert rec["steps"] >= 60 and rec["curve"] and math.isfinite(rec["metric"])
    assert rec["estimator"] == "snap-1" and rec["update_every"] == 1


def test_learning_the_add_task_beats_the_first_plateau():
    """A short online run with RTRL on a small Add task gets below 'nothing learned'."""
    rec = train_online(Add(3, t1=1), "rnn-tanh", OnlineConfig(estimator="rtrl", hidden_size=8, batch_size=8,
                                                             steps=1500, eval_every=500, eval_sequences=50,
                                                             lr=1e-2))
    assert rec["metric"] < plateaus()["t1_only"]


def test_measure_records_every_estimator():
    cfg = MeasureConfig(cell="rnn", hidden=5, length=12, draws=30, max_distance=6)
    layer, x, dout = synthetic_problem(cfg)
    recs = {r["estimator"]: r for r in measure(layer, x, dout, cfg)}
    assert set(recs) == {"bptt", "tbptt-5", "checkpointed", "rtrl", "uoro", "kf-rtrl", "snap-1", "snap-2", "rflo",
                         "eprop", "eprop-exact"}
    for name in ("bptt", "checkpointed", "rtrl", "snap-2", "eprop-exact"):
        assert recs[name]["relative_error"] < 1e-12 and recs[name]["recovered_distances"] == list(range(7))
    assert recs["tbptt-5"]["recovered_distances"] == list(range(6))
    assert recs["uoro"]["variance"] > 0 and recs["snap-1"]["variance"] == 0
    assert all(r["seconds_per_step"] > 0 and r["peak_bytes"] > 0 for r in recs.values())


def test_estimators_command_writes_json_and_figures(tmp_path, capsys):
    out = tmp_path / "est"
    rc = main(["estimators", "--cell", "gru", "--hidden", "3", "--length", "6", "--draws", "5",
               "--max-distance", "3", "--out", str(out), "--quiet"])
    assert rc == 0
    data = json.loads((out / "estimators.json").read_text())
    names = [r["estimator"] for r in data["records"]]
    assert names[:3] == ["bptt", "tbptt-5", "checkpointed"] and "eprop" in names
    kf = next(r for r in data["records"] if r["estimator"] == "kf-rtrl")
    assert kf["applicable"] is False and "Kronecker" in kf["reason"]
    for r in data["records"]:
        assert {"estimator", "cell", "hidden", "length", "dtype"} <= set(r)
        if r["applicable"]:
            assert {"cosine", "relative_error", "bias2", "variance", "seconds_per_step", "peak_bytes"} <= set(r)
    assert (out / "estimators_cosine.png").stat().st_size > 0
    assert "<section id='estimators'>" in (out / "estimators.html").read_text()


@pytest.mark.parametrize("argv,msg", [
    (["estimators", "--cell", "elman", "--out", "x"], "invalid choice"),
    (["estimators", "--hidden", "0", "--out", "x"], "--hidden"),
    (["estimators", "--estimators", "bptt,snap-3", "--out", "x"], "unknown estimator 'snap-3'"),
    (["experiment", "add", "--estimator", "kf-rtrl", "--models", "lstm", "--out", "x"], "Kronecker"),
    (["experiment", "add", "--estimator", "nope", "--out", "x"], "unknown estimator"),
    (["experiment", "add", "--lengths", "1", "--estimator", "rtrl", "--out", "x"], "length"),
])
def test_bad_flags_are_one_line_errors(argv, msg, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        rc = main(argv)
    except SystemExit as e:     # argparse's own errors
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1


def test_experiment_with_an_estimator_writes_results(tmp_path, capsys):
    out = tmp_path / "exp"
    rc = main(["experiment", "add", "--models", "rnn-tanh", "--lengths", "4", "--seeds", "1", "--hidden", "6",
               "--batch-size", "4", "--steps", "100", "--eval-every", "50", "--eval-sequences", "20",
               "--estimator", "uoro", "--quiet", "--out", str(out)])
    assert rc == 0
    rec = json.loads((out / "results.json").read_text())["records"][0]
    assert rec["estimator"] == "uoro" and rec["task"] == "add" and len(rec["curve"]) == 2
    assert "0.4545" in (out / "summary.md").read_text()


@pytest.mark.slow
def test_estimators_on_a_trained_language_model(tmp_path):
    """--model: the model's own weights, validation text and output layer's learning signals."""
    corpus = "builtin:agreement?n=300"
    assert main(["train", "--train", corpus, "--cell", "gru", "--hidden", "6", "--embedding", "5", "--epochs", "1",
                 "--batch-size", "16", "--out", str(tmp_path / "m"), "--quiet", "--no-report"]) == 0
    out = tmp_path / "est"
    assert main(["estimators", "--model", str(tmp_path / "m"), "--length", "8", "--batch", "2", "--draws", "3",
                 "--max-distance", "3", "--estimators", "bptt,rtrl,snap-1", "--out", str(out), "--quiet"]) == 0
    recs = {r["estimator"]: r for r in json.loads((out / "estimators.json").read_text())["records"]}
    assert recs["rtrl"]["relative_error"] < 1e-12 and recs["rtrl"]["cell"] == "gru" and recs["rtrl"]["hidden"] == 6
    assert recs["snap-1"]["relative_error"] > 1e-6


def _plain_online(task, model, cfg):
    """Online training written out step by step (the loop the windows of train_online replace): one
    estimator step and learning signal per time step, an update every k steps and at each sequence's end."""
    from rnnlab.estimators import make_estimator
    from rnnlab.estimators.online import _inputs, _Model
    from rnnlab.optim import clip_grads, make_optimizer
    from rnnlab.tasks.readout import mse_loss, xent_loss

    net = _Model(task, model, cfg)
    est = make_estimator(cfg.estimator, net.layer, draws=cfg.draws, seed=cfg.seed + 7)
    opt, k, rng, done = make_optimizer(cfg.optimizer, cfg.lr), cfg.k(), np.random.default_rng([cfg.seed, 1]), 0
    while done < cfg.steps:
        b = task.sample(cfg.batch_size, rng)
        x = _inputs(task, b.x)
        T, B = x.shape[:2]
        n_rows = B if task.readout == "last" else B * T
        est.reset(B)
        gV, gb, signal = np.zeros_like(net.V), np.zeros_like(net.b), False
        for t in range(T):
            h = est.step(x[t])
            o = h @ net.V.T + net.b
            do = None
            if task.readout != "last":
                do = xent_loss(o, b.y[t])[1] * (B / n_rows)
            elif t == T - 1:
                do = (mse_loss(o, b.y) if task.loss == "mse" else xent_loss(o, b.y))[1] * (B / n_rows)
            if do is None:
                est.learn(np.zeros_like(h))
            else:
                gV += do.T @ h
                gb += do.sum(axis=0)
                est.learn(do @ net.V)
                signal = True
            if (t + 1) % k == 0 or t == T - 1:
                g = {f"rnn.{n}": v for n, v in est.gradient().items()}
                if signal:
                    g.update({"readout.weight": gV, "readout.bias": gb})
                    clip_grads(g, clip_norm=cfg.clip, clip_value=cfg.clip_value)
                    opt.step(net.params, g)
                    gV, gb, signal = np.zeros_like(net.V), np.zeros_like(net.b), False
        done += T
    return net


@pytest.mark.parametrize("task,n,est,k,model", [
    ("adding", 8, "snap-1", 3, "gru"), ("temporal-order", 10, "uoro", 4, "rnn-tanh"), ("copy", 3, "bptt", 5, "lstm"),
    ("adding", 8, "tbptt-3", 2, "rnn-tanh")])
def test_online_windows_train_like_the_plain_step_by_step_loop(task, n, est, k, model):
    """train_online runs each window between updates as one train_step of the language model's loop; the
    weights it ends with are those of the plain loop above (updates every k steps and at sequence ends,
    none on a window without a target), so the final evaluation agrees."""
    from rnnlab.estimators.online import evaluate, make_online_task
    t = make_online_task(task, n)
    cfg = OnlineConfig(estimator=est, update_every=k, hidden_size=6, batch_size=4, steps=120, eval_every=40,
                       eval_sequences=30, clip=0.5, clip_value=0.05)
    rec = train_online(t, model, cfg)
    ref = evaluate(t, _plain_online(t, model, cfg), cfg)
    assert rec["metric"] == pytest.approx(ref["loss"], rel=1e-12)
    assert rec["fraction_wrong"] == ref["fraction_wrong"]


def test_online_config_shares_the_step_settings_of_every_trainer():
    from rnnlab.errors import ConfigError
    from rnnlab.tasks import TrainConfig as TaskTrainConfig
    from rnnlab.training import StepConfig, TrainConfig
    for cls in (OnlineConfig, TaskTrainConfig, TrainConfig):
        assert issubclass(cls, StepConfig)
        for bad, match in (({"optimizer": "nope"}, "unknown optimizer"), ({"lr": -1.0}, "lr"),
                           ({"clip": 0.0}, "clip"), ({"clip_value": float("nan")}, "clip-value")):
            with pytest.raises(ConfigError, match=match):
                cls(**bad)


def test_a_time_budget_matches_compute_across_estimators(monkeypatch):
    """--budget-seconds: every run stops once its wall-clock budget is spent (checked between windows), so
    every estimator gets the same time. A fake clock that ticks one second per reading makes it exact."""
    import itertools

    import rnnlab.estimators.online as online
    from rnnlab.errors import ConfigError

    cfg = dict(hidden_size=4, batch_size=2, steps=10**7, eval_every=5, eval_sequences=10, budget_seconds=30.0)
    seen = {}
    for est, k in (("bptt", 10), ("rtrl", 1)):
        clock = itertools.count()
        monkeypatch.setattr(online, "_clock", lambda clock=clock: float(next(clock)))
        seen[est] = train_online(Add(3, t1=1), "rnn-tanh", OnlineConfig(estimator=est, update_every=k, **cfg))
    # t0 is reading 0; the check before window j is reading j: windows 1..29 run, of k steps each
    assert seen["bptt"]["steps"] == 290 and seen["rtrl"]["steps"] == 29
    with pytest.raises(ConfigError, match="budget-seconds"):
        OnlineConfig(budget_seconds=-1.0)
