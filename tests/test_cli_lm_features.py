"""Models with direct connections (and the other issue-14 features) through the command line: they train,
resume bitwise, evaluate, generate, diagnose and export like any other; bad values are one-line errors."""
import numpy as np
import pytest

from rnnlab import checkpoint
from rnnlab.cli import main
from rnnlab.lm import state_from_arrays

WORDS = "the cat dog sat ran on a mat log big small red".split()

FEATURES = {
    "direct": ["--direct", "0.001", "--direct-order", "3", "--output", "class", "--classes", "3",
               "--optimizer", "sparseadam"],
    "direct-softmax": ["--direct", "0.001", "--cell", "gru", "--embedding", "6"],
    "direct-lr-l2": ["--direct", "0.001", "--direct-order", "3", "--direct-lr", "0.05", "--direct-l2", "0.01",
                     "--lr-decay-after", "1"],
    "dropout": ["--dropout", "0.3", "--embedding", "6", "--layers", "2", "--cell", "lstm"],
    "dropout-recurrent": ["--dropout-recurrent", "0.3", "--embedding", "6", "--layers", "2", "--cell", "gru",
                          "--truncate", "3"],
    "tie": ["--tie", "--embedding", "12", "--output", "class", "--classes", "3", "--optimizer", "sparseadam"],
}


def corpus(path, n=120, seed=0):
    rng = np.random.default_rng(seed)
    path.write_text("\n".join(" ".join(rng.choice(WORDS, size=rng.integers(3, 9))) for _ in range(n)) + "\n")
    return path


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out = capsys.readouterr()
    return status, out.out, out.err


def params(path):
    arrays, _ = checkpoint.load(path)
    return state_from_arrays(arrays)


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_feature_trains_resumes_bitwise_and_is_used_like_any_model(tmp_path, capsys, feature):
    train, valid = corpus(tmp_path / "train.txt"), corpus(tmp_path / "valid.txt", 30, seed=1)
    base = ["train", "--train", train, "--valid", valid, "--format", "lines", "--hidden", "12", "--batch-size", "8",
            "--quiet", "--no-report", *FEATURES[feature]]
    status, stdout, _ = run(capsys, *base, "--epochs", "3", "--out", tmp_path / "whole")
    assert status == 0 and "epoch 3" in stdout
    status, _, _ = run(capsys, *base, "--epochs", "1", "--out", tmp_path / "parts")
    status, stdout, _ = run(capsys, "train", "--resume", "--out", tmp_path / "parts", "--epochs", "3", "--quiet",
                            "--no-report")
    assert status == 0 and "resuming" in stdout
    a, b = params(tmp_path / "whole" / "last.npz"), params(tmp_path / "parts" / "last.npz")
    assert set(a) == set(b)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    if feature.startswith("direct"):
        assert np.abs(a["direct.weight"]).max() > 0      # the table learnt

    out = tmp_path / "whole"
    status, evaluated, _ = run(capsys, "evaluate", "--model", out, "--test", valid)
    assert status == 0 and "perplexity" in evaluated
    ppl = float(evaluated.split("perplexity")[1].split()[0])
    assert ppl < 15   # 12 words + </s>: uniform guessing would be 13
    status, stdout, _ = run(capsys, "generate", "--model", out, "-n", "3", "--seed", "1", "--prime", "the")
    assert status == 0 and len(stdout.strip().splitlines()) == 3
    status, _, _ = run(capsys, "diagnose", "--model", out, "--text", valid, "--steps", "6", "--out",
                       tmp_path / "diag")
    assert status == 0
    pytest.importorskip("torch")
    status, _, _ = run(capsys, "export", "--model", out, "--torch", tmp_path / "m.pt")
    assert status == 0
    status, _, _ = run(capsys, "import", "--torch", tmp_path / "m.pt", "--out", tmp_path / "back")
    assert status == 0
    status, stdout2, _ = run(capsys, "evaluate", "--model", tmp_path / "back", "--test", valid)
    assert status == 0 and stdout2.split("|")[0] == evaluated.split("|")[0]   # the same model came back


@pytest.mark.parametrize("argv, needle", [
    (["--direct", "0"], "--direct"),
    (["--direct", "1", "--direct-order", "0"], "--direct-order"),
    (["--direct", "1", "--direct-order", "9"], "direct-order"),
    (["--direct-order", "3"], "--direct"),
    (["--direct", "0.00001"], "too small"),
    (["--tie"], "--tie"),
    (["--dropout", "1.5"], "--dropout"),
    (["--dropout-recurrent", "1"], "--dropout-recurrent"),
    (["--direct-lr", "0.1"], "--direct"),
    (["--direct-l2", "0.1"], "--direct"),
    (["--direct", "1", "--direct-lr", "0"], "--direct-lr"),
    (["--direct", "1", "--direct-l2", "1"], "--direct-l2"),
    (["--dropout-recurrent", "-0.5"], "--dropout-recurrent"),
    (["--tie", "--embedding", "5", "--hidden", "6"], "--tie"),
])
def test_bad_values_are_one_line_errors(tmp_path, capsys, argv, needle):
    corpus(tmp_path / "t.txt")
    with pytest.raises(SystemExit) as e:
        status = main(["train", "--train", str(tmp_path / "t.txt"), "--format", "lines", "--out",
                       str(tmp_path / "m"), "--quiet", *argv])
        raise SystemExit(status)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and needle in err and len(err.splitlines()) == 1, err


def test_preset_sets_its_flags_and_explicit_flags_override(tmp_path, capsys):
    train = corpus(tmp_path / "t.txt")
    status, stdout, _ = run(capsys, "train", "--train", train, "--format", "lines", "--out", tmp_path / "p",
                            "--quiet", "--no-report", "--preset", "fast", "--hidden", "8", "--epochs", "1",
                            "--direct", "0.001", "--workers", "1", "--batch-size", "16")
    assert status == 0
    _, meta = checkpoint.load(tmp_path / "p" / "last.npz")
    m, t = meta["model"], meta["train"]
    assert (m["cell"], m["output"], m["direct_order"], t["optimizer"], t["lr"], t["lr_decay_after"]) == \
        ("gru", "class", 4, "sparseadam", 0.008, 1)                        # from the preset
    assert (m["hidden_size"], m["direct_size"], t["epochs"], t["batch_size"]) == (8, 1000, 1, 16)  # given
    status, _, err = run(capsys, "train", "--out", tmp_path / "p", "--resume", "--preset", "fast")
    assert status == 2 and "--preset" in err and len(err.strip().splitlines()) == 1


def test_apply_preset_leaves_given_flags():
    import argparse

    from rnnlab.presets import PRESETS, apply_preset

    p = argparse.ArgumentParser()
    for k in PRESETS["best"]:
        p.add_argument("--" + k, default=None)
    args = p.parse_args(["--hidden", "33"])
    args.get_default = p.get_default
    set_ = apply_preset(args, "best")
    assert args.hidden == "33" and "hidden" not in set_ and args.cell == PRESETS["best"]["cell"]


@pytest.mark.parametrize("own", [[], ["--direct-lr", "0.02", "--direct-l2", "0.001"]])
def test_direct_connections_with_hogwild_workers(tmp_path, capsys, own):
    """Two worker processes share the table (as the other weights) and both update it, with or without its
    own learning rate and L2 decay."""
    import os
    if not hasattr(os, "fork"):
        pytest.skip("Hogwild workers are forked processes")
    train, valid = corpus(tmp_path / "t.txt", 200), corpus(tmp_path / "v.txt", 30, seed=1)
    status, stdout, _ = run(capsys, "train", "--train", train, "--valid", valid, "--format", "lines", "--out",
                            tmp_path / "h", "--quiet", "--no-report", "--hidden", "8", "--epochs", "2",
                            "--batch-size", "8", "--direct", "0.002", "--output", "class", "--classes", "3",
                            "--optimizer", "sparseadam", "--workers", "2", *own)
    assert status == 0 and "2 Hogwild workers" in stdout and ("direct lr 0.02, direct l2 0.001" in stdout) == bool(own)
    p = params(tmp_path / "h" / "last.npz")
    assert np.count_nonzero(p["direct.weight"]) > 100
    status, out, _ = run(capsys, "evaluate", "--model", tmp_path / "h", "--test", valid)
    assert status == 0 and float(out.split("perplexity")[1].split()[0]) < 15


def test_direct_lr_and_l2_reach_the_table(tmp_path, capsys):
    """--direct-lr and --direct-l2 change the table's updates (and leave the other weights' rate alone)."""
    train = corpus(tmp_path / "t.txt")
    base = ["train", "--train", train, "--format", "lines", "--quiet", "--no-report", "--hidden", "8", "--epochs",
            "1", "--direct", "0.001", "--optimizer", "sgd", "--lr", "0.1"]
    tables = {}
    for name, own in (("plain", []), ("slow", ["--direct-lr", "1e-4"]), ("decayed", ["--direct-l2", "0.5"])):
        assert run(capsys, *base, *own, "--out", tmp_path / name)[0] == 0
        tables[name] = params(tmp_path / name / "last.npz")["direct.weight"]
    size = {k: np.abs(v).max() for k, v in tables.items()}
    assert 0 < size["slow"] < 0.01 * size["plain"]        # SGD: the steps scale with the rate, 1000x smaller
    assert 0 < size["decayed"] < 0.8 * size["plain"]


def test_a_flag_given_at_its_default_value_still_overrides_the_preset(tmp_path, capsys):
    """--cell rnn, --workers 1, --batch-size 32 are the defaults; given with --preset they win all the same."""
    train = corpus(tmp_path / "t.txt")
    status, stdout, _ = run(capsys, "train", "--train", train, "--format", "lines", "--out", tmp_path / "p",
                            "--quiet", "--no-report", "--preset", "best", "--hidden", "8", "--epochs", "1",
                            "--direct", "0.001", "--cell", "rnn", "--workers", "1", "--batch-size", "32")
    assert status == 0 and "Hogwild" not in stdout
    _, meta = checkpoint.load(tmp_path / "p" / "last.npz")
    assert (meta["model"]["cell"], meta["train"]["batch_size"]) == ("rnn", 32)
    assert (meta["model"]["output"], meta["train"]["optimizer"]) == ("class", "sparseadam")   # from the preset


@pytest.mark.parametrize("flag", ["--dropout", "--dropout-recurrent"])
def test_a_bad_probability_is_refused_before_any_data_is_read(tmp_path, capsys, flag):
    with pytest.raises(SystemExit) as e:
        main(["train", "--train", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "m"), flag, "1.5"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and flag in err and "[0, 1)" in err and "missing" not in err
