"""`rnnlab diagnose`: argument parsing, training-log reading, model names, and (once the data layer is
present) the whole path train -> diagnose on a tiny builtin corpus."""
import json
import math
import os
import subprocess
import sys

import pytest

from rnnlab.cli import build_parser, main
from rnnlab.errors import ConfigError
from rnnlab.report.models import diagnose_model_dirs, model_names, read_grad_norm_log


def test_parser():
    args = build_parser().parse_args(["diagnose", "--model", "a", "--model", "b", "--out", "o",
                                      "--max-distance", "7", "--text", "t.txt"])
    assert args.model == ["a", "b"] and args.max_distance == 7 and args.text == "t.txt" and args.out == "o"
    assert args.jacobian == "auto" and args.steps == 100 and args.batch is None and args.batching is None
    assert "diagnose" in build_parser().format_help()


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["diagnose", "--out", "o"])                       # --model is required
    assert e.value.code == 2
    assert "--model" in capsys.readouterr().err


def test_bad_options_are_config_errors(tmp_path):
    with pytest.raises(ConfigError):
        diagnose_model_dirs([str(tmp_path)], str(tmp_path / "r"), max_distance=0)
    with pytest.raises(ConfigError):
        diagnose_model_dirs([], str(tmp_path / "r"))
    with pytest.raises(ConfigError):
        diagnose_model_dirs([str(tmp_path)], str(tmp_path / "r"), batching="chunks")


def test_read_grad_norm_log(tmp_path):
    p = tmp_path / "log.jsonl"
    recs = [{"event": "epoch", "grad_norm": 1.5}, {"event": "nonfinite", "grad_norm": "nan"},
            {"event": "rollback", "lr": 0.1}, {"event": "nonfinite", "grad_norm": "inf"},
            {"event": "epoch", "grad_norm": 0.7}]
    p.write_text("\n".join(json.dumps(r) for r in recs) + '\n{"event": "epo')   # last line cut by a crash
    g = read_grad_norm_log(p)
    assert g[0] == 1.5 and math.isnan(g[1]) and g[2] == math.inf and g[3] == 0.7 and len(g) == 4


def test_model_names():
    assert model_names(["runs/rnn", "runs/lstm/"]) == ["rnn", "lstm"]
    assert model_names(["a/m", "b/m"]) == ["a/m", "b/m"]


def rnnlab_cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "rnnlab", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_train_then_diagnose_end_to_end(tmp_path):
    pytest.importorskip("rnnlab.data", reason="the data layer (issue 3) is not in this checkout yet")
    corpus = "builtin:agreement?n=300"
    for cell in ("rnn", "lstm"):
        r = rnnlab_cli("train", "--train", corpus, "--cell", cell, "--hidden", "12", "--epochs", "1",
                       "--batch-size", "16", "--out", f"m_{cell}", cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
    r = rnnlab_cli("diagnose", "--model", "m_rnn", "--model", "m_lstm", "--max-distance", "12", "--steps", "30",
                   "--batching", "stream", "--out", "rep", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "rep/report.html" in r.stdout
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["model_names"] == ["m_rnn", "m_lstm"] and rep["distance"] == list(range(13))
    assert [m["cell"] for m in rep["models"]] == ["rnn", "lstm"]
    assert all(m["steps"] == 30 and m["batch"] == 4 for m in rep["models"])
    # not a model directory: one line, exit 2
    r = rnnlab_cli("diagnose", "--model", "nowhere", "--out", "rep2", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "nowhere" in r.stderr
