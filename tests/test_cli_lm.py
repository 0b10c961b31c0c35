"""End to end through the command line: train -> evaluate -> generate -> resume, on tiny corpora."""
import json

import numpy as np
import pytest

from rnnlab import checkpoint
from rnnlab.cli import main

WORDS = "the cat dog sat ran on a mat log big small red".split()


def corpus(path, n=120, seed=0):
    rng = np.random.default_rng(seed)
    lines = [" ".join(rng.choice(WORDS, size=rng.integers(3, 9))) for _ in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize("extra", [[], ["--output", "class", "--classes", "3", "--cell", "gru", "--embedding", "6"],
                                   ["--stream", "--bptt-chunk", "5", "--bptt-window", "8", "--cell", "lstm"],
                                   ["--workers", "2", "--output", "class", "--optimizer", "sparseadam"]])
def test_train_evaluate_generate_resume(tmp_path, capsys, extra):
    train, valid = corpus(tmp_path / "train.txt"), corpus(tmp_path / "valid.txt", 30, seed=1)
    out = tmp_path / "model"
    args = ["train", "--train", train, "--valid", valid, "--format", "lines", "--hidden", "12", "--batch-size", "8",
            "--epochs", "2", "--out", out, "--quiet", "--no-report", *extra]
    status, stdout, _ = run(capsys, *args)
    assert status == 0 and "epoch 2" in stdout
    _, meta = checkpoint.load(out / "last.npz")
    assert meta["state"]["epoch"] == 2 and meta["data"]["format"] == "lines"
    assert meta["vocab"]["tokens"][:3] == ["<unk>", "<s>", "</s>"]

    status, stdout, _ = run(capsys, "evaluate", "--model", out, "--test", valid, "--json")
    r = json.loads(stdout)
    assert status == 0 and r["tokens"] == sum(len(s.split()) + 1 for s in valid.read_text().splitlines())
    assert abs(np.exp(r["cross_entropy"]) - r["perplexity"]) < 1e-6 * r["perplexity"]
    assert r["perplexity"] < 15  # 12 words + </s>: uniform guessing would be 13

    status, stdout, _ = run(capsys, "generate", "--model", out, "-n", "4", "--seed", "3", "--prime", "the cat")
    lines = stdout.strip().splitlines()
    assert status == 0 and len(lines) == 4
    assert all(line.startswith("the cat") and set(line.split()) <= set(WORDS) for line in lines)
    status2, stdout2, _ = run(capsys, "generate", "--model", out, "-n", "4", "--seed", "3", "--prime", "the cat")
    assert stdout2 == stdout  # seeded sampling is reproducible

    status, stdout, _ = run(capsys, "train", "--resume", "--out", out, "--epochs", "3", "--quiet", "--no-report")
    assert status == 0 and "resuming" in stdout and "epoch 3" in stdout
    _, meta = checkpoint.load(out / "last.npz")
    assert meta["state"]["epoch"] == 3


def test_char_level_and_builtin(tmp_path, capsys):
    out = tmp_path / "chars"
    corpus(tmp_path / "t.txt")
    status, stdout, _ = run(capsys, "train", "--train", tmp_path / "t.txt", "--format", "lines", "--level", "char",
                            "--hidden", "8", "--epochs", "1", "--out", out, "--quiet", "--no-report")
    assert status == 0
    status, stdout, _ = run(capsys, "generate", "--model", out, "-n", "2", "--seed", "0", "--max-length", "12")
    assert status == 0 and all(len(line) <= 12 for line in stdout.splitlines())


def test_truncated_training_runs(tmp_path, capsys):
    corpus(tmp_path / "t.txt")
    status, stdout, _ = run(capsys, "train", "--train", tmp_path / "t.txt", "--format", "lines", "--truncate", "2",
                            "--hidden", "8", "--epochs", "1", "--out", tmp_path / "m", "--quiet", "--no-report")
    assert status == 0 and "epoch 1" in stdout


def test_agreement_scores_cli(tmp_path, capsys):
    out = tmp_path / "ag"
    status, _, _ = run(capsys, "train", "--train", "builtin:agreement?n=2000", "--cell", "lstm", "--hidden", "16",
                       "--embedding", "8", "--epochs", "1",
                       "--out", out, "--quiet", "--no-report", "--optimizer", "adam", "--lr", "0.01")
    assert status == 0
    status, stdout, _ = run(capsys, "evaluate", "--model", out, "--agreement", "--per-distance", "20", "--json")
    r = json.loads(stdout)
    assert status == 0 and r["n"] == 20 * 13 and set(r["by_distance"]) == {str(d) for d in range(13)}
    assert 0.0 <= r["accuracy"] <= 1.0


def test_output_piped_into_head_stops_quietly(tmp_path, capsys):
    """`rnnlab generate | head -1`: the reader goes away; no error line, no traceback."""
    import os
    import subprocess
    import sys

    train = corpus(tmp_path / "train.txt")
    out = tmp_path / "model"
    status, _, _ = run(capsys, "train", "--train", train, "--format", "lines", "--hidden", "8", "--epochs", "1",
                       "--out", out, "--quiet", "--no-report")
    assert status == 0
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-m", "rnnlab", "generate", "--model", str(out), "-n", "200000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert proc.returncode == 141 and err == "", err
