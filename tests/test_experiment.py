"""The experiment runner: output files, resume, config checks, and the CLI's errors."""
import csv
import json
import os

import pytest

from rnnlab.cli import main
from rnnlab.errors import ConfigError
from rnnlab.experiment import ExperimentConfig, load_results, run_experiment, run_one, summary_markdown
from rnnlab.tasks import TrainConfig

TINY = dict(hidden_size=4, batch_size=4, max_steps=3, eval_every=2, eval_quick=8, eval_sequences=16)


def cfg(**kw):
    base = dict(task="adding", models=["rnn-tanh", "gru"], lengths=[4, 6], seeds=1, train=TrainConfig(**TINY))
    base.update(kw)
    return ExperimentConfig(**base)


def test_runner_writes_every_file_and_resumes(tmp_path):
    out = str(tmp_path / "run")
    logs = []
    recs = run_experiment(cfg(), out, jobs=2, progress=False, log=logs.append)
    assert len(recs) == 4
    for name in ("config.json", "results.json", "results.csv", "summary.md", "figure.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    data = json.load(open(os.path.join(out, "results.json")))
    assert data["config"]["task"] == "adding" and data["config"]["train"]["max_steps"] == 3
    r = data["records"][0]
    for k in ("task", "model", "length", "seed", "metric", "success", "steps", "seconds", "baseline",
              "fraction_wrong", "diverged"):
        assert k in r
    assert {(r["model"], r["length"]) for r in data["records"]} == {("rnn-tanh", 4), ("rnn-tanh", 6), ("gru", 4),
                                                                    ("gru", 6)}
    assert all(r["steps"] == 3 and not r["success"] for r in data["records"])
    rows = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
    assert len(rows) == 4 and rows[0]["task"] == "adding"
    assert "| rnn-tanh |" in open(os.path.join(out, "summary.md")).read()

    # same grid again: nothing is re-run (the records, their timings included, are unchanged)
    again = run_experiment(cfg(), out, jobs=1, progress=False)
    assert sorted(again, key=str) == sorted(recs, key=str)
    # an interrupted grid: drop two records as if the run had been stopped, then resume with one more seed
    data["records"] = data["records"][:2]
    json.dump(data, open(os.path.join(out, "results.json"), "w"))
    logs.clear()
    recs = run_experiment(cfg(seeds=2), out, jobs=2, progress=True, log=logs.append)
    assert len(recs) == 8
    assert any("resuming: 2 run(s)" in line and "6 to go" in line for line in logs)
    assert len({(r["model"], r["length"], r["seed"]) for r in load_results(out)}) == 8


def test_runs_are_deterministic():
    train = TrainConfig(**TINY).to_dict()
    a, b = (run_one("copy", "lstm", 3, 1, train) for _ in range(2))
    c = run_one("copy", "lstm", 3, 2, train)
    strip = lambda r: {k: v for k, v in r.items() if k != "seconds"}
    assert strip(a) == strip(b) and strip(a) != strip(c)


def test_resume_refuses_other_settings(tmp_path):
    out = str(tmp_path / "run")
    run_experiment(cfg(models=["rnn-tanh"], lengths=[4]), out, jobs=1, progress=False)
    other = cfg(models=["rnn-tanh"], lengths=[4], train=TrainConfig(**{**TINY, "lr": 0.5}))
    with pytest.raises(ConfigError, match="lr"):
        run_experiment(other, out, jobs=1, progress=False)


def test_config_errors():
    with pytest.raises(ConfigError, match="unknown task"):
        cfg(task="parity")
    with pytest.raises(ConfigError, match="unknown model"):
        cfg(models=["lstm", "transformer"])
    with pytest.raises(ConfigError, match="length"):
        cfg(task="temporal-order", lengths=[5])
    with pytest.raises(ConfigError, match="seeds"):
        cfg(seeds=0)
    with pytest.raises(ConfigError, match="omega"):
        cfg(train=TrainConfig(omega=0.1))
    with pytest.raises(ConfigError, match="lr"):
        TrainConfig(lr=-1)
    with pytest.raises(ConfigError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ConfigError, match="unknown training setting"):
        TrainConfig.from_dict({"lr": 0.1, "momentum": 0.9})


def test_summary_markdown_counts():
    recs = [dict(model="lstm", length=10, seed=s, metric=m, metric_name="mse", baseline=0.5, success=ok,
                 steps=100, diverged=False) for s, (m, ok) in enumerate([(0.001, True), (0.2, False), (0.003, True)])]
    text = summary_markdown(recs)
    assert "| lstm | 2/3 (mse 0.003, solved in 100 steps) |" in text


def test_cli_runs_and_reports_bad_arguments(tmp_path, capsys):
    out = str(tmp_path / "cli")
    rc = main(["experiment", "temporal-order", "--models", "irnn", "--lengths", "10", "--seeds", "1", "--hidden", "4",
               "--steps", "2", "--batch-size", "3", "--eval-sequences", "8", "--jobs", "1", "--quiet", "--out", out])
    assert rc == 0
    assert "| irnn |" in capsys.readouterr().out
    assert json.load(open(os.path.join(out, "results.json")))["records"][0]["task"] == "temporal-order"
    for argv, needle in [(["experiment", "adding", "--models", "lstm,foo", "--out", out], "unknown model"),
                         (["experiment", "adding", "--lr", "-1", "--out", out], "lr"),
                         (["experiment", "adding", "--lengths", "1", "--out", out], "length"),
                         (["experiment", "agreement", "--out", out], "agreement")]:
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(SystemExit) as e:
        main(["experiment", "adding", "--lengths", "ten", "--out", out])
    assert e.value.code == 2


class _Built(Exception):
    """Raised by the patched LanguageModel once the agreement run has chosen its arguments."""


@pytest.mark.parametrize("model, train, want", [
    ("lstm", dict(forget_bias=0.0), dict(forget_bias=0.0, init="uniform")),
    ("rnn-tanh", dict(init="orthogonal"), dict(forget_bias=None, init="orthogonal")),
    ("irnn", dict(init="orthogonal"), dict(forget_bias=None, init="identity"))])
def test_agreement_run_takes_explicit_zero_and_keeps_irnn_identity(monkeypatch, model, train, want):
    """An explicit forget_bias=0.0 is used (rnnlab 0.2's `cfg.forget_bias or default` made it 1.0), and the
    IRNN stays identity-initialised under --init, as in the synthetic tasks (rnnlab 0.2 overrode it)."""
    import rnnlab.lm

    def capture(self, *args, **kw):
        raise _Built(kw)

    monkeypatch.setattr(rnnlab.lm.LanguageModel, "__init__", capture)
    with pytest.raises(_Built) as e:
        run_one("agreement", model, 2, 0, TrainConfig(**{**TINY, **train}).to_dict())
    got = e.value.args[0]
    assert {k: got[k] for k in want} == want


def _nonfinite_steps(monkeypatch, which):
    """Make the language model's steps whose index (from 0) satisfies ``which`` return a non-finite loss."""
    import rnnlab.lm

    real, calls = rnnlab.lm.LanguageModel.forward_backward, {"n": 0}

    def forward_backward(self, *a, **k):
        loss, grads, hn, n = real(self, *a, **k)
        calls["n"] += 1
        return (float("nan") if which(calls["n"] - 1) else loss), grads, hn, n

    monkeypatch.setattr(rnnlab.lm.LanguageModel, "forward_backward", forward_backward)
    return calls


def test_agreement_run_with_a_skipped_step_is_not_diverged(monkeypatch):
    """One non-finite step is skipped and training goes on: the run did not diverge (rnnlab 0.2 recorded
    any run with a skipped step as diverged)."""
    calls = _nonfinite_steps(monkeypatch, lambda i: i == 0)
    rec = run_one("agreement", "rnn-tanh", 2, 0, TrainConfig(**{**TINY, "budget_seconds": 1.0}).to_dict())
    assert calls["n"] > 1 and rec["steps"] > 1
    assert rec["diverged"] is False


def test_agreement_run_that_cannot_recover_is_diverged_and_not_a_success(monkeypatch):
    _nonfinite_steps(monkeypatch, lambda i: True)
    rec = run_one("agreement", "rnn-tanh", 2, 0, TrainConfig(**{**TINY, "budget_seconds": 5.0}).to_dict())
    assert rec["diverged"] is True and rec["success"] is False
