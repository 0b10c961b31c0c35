"""Bad input on the command line: every mistake gives exit status 2 and exactly one line on stderr that names
the problem and what to do, and no traceback. Most cases run `rnnlab.cli.main` in-process (fast); a few run
the real `rnnlab` process to prove that nothing else reaches the terminal."""
import errno
import os
import subprocess
import sys

import numpy as np
import pytest

from rnnlab import checkpoint
from rnnlab.cli import main

LINES = ["the cat sat", "the dog ran", "a cat ran", "the dog sat"] * 30   # 120 sentences, 6 words


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of `rnnlab ARGV` run in this process."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:   # argparse: usage errors and --help
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc, err, *needles):
    """Exit 2, one line on stderr, no traceback; the line names the problem (needles, case-insensitive)."""
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("rnnlab"), err
    for n in needles:
        assert n.lower() in lines[0].lower(), (n, lines[0])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpora")
    f = {"small": d / "small.txt", "empty": d / "empty.txt", "binary": d / "binary.txt",
         "latin1": d / "latin1.txt", "csv": d / "c.csv", "jsonl": d / "broken.jsonl", "one": d / "one.txt",
         "other": d / "other.txt", "dir": d}
    f["small"].write_text("\n".join(LINES) + "\n")
    f["other"].write_text("\n".join(LINES[:40] + ["a wholly new sentence"]) + "\n")
    f["empty"].write_bytes(b"")
    f["binary"].write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00 the cat\n")
    f["latin1"].write_bytes("caf\u00e9 au lait\nthe cat sat\n".encode("latin-1") * 20)
    f["csv"].write_text("id,body\n1,The cat sat.\n2,The dog ran.\n")
    f["jsonl"].write_text('{"text": "The cat sat."}\n{"text": "The dog ran."\n' + '{"text": "A cat ran."}\n' * 20)
    f["one"].write_text("just one sentence\n")
    return f


def train_args(tmp_path, corpus, *extra, out="m"):
    return ["train", "--quiet", "--train", corpus, "--format", "lines", "--epochs", "1", "--hidden", "6",
            "--batch-size", "8", "--out", tmp_path / out, *extra]


@pytest.fixture(scope="module")
def model(tmp_path_factory, files):
    """A tiny trained model directory (and its training corpus)."""
    d = tmp_path_factory.mktemp("model")
    rc = main([str(a) for a in train_args(d, files["small"], "--epochs", "2", out="m")])
    assert rc == 0
    return d / "m"


# -- files ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("which, needles", [
    ("missing", ["nowhere.txt", "no such file", "check the path"]),
    ("empty", ["empty.txt", "empty", "give a corpus"]),
    ("dir", ["directory", "give a corpus file"]),
    ("binary", ["binary.txt", "binary", "NUL", "UTF-8 text"]),
    ("latin1", ["latin1.txt", "not valid UTF-8", "line 1", "--errors replace"]),
])
def test_bad_training_files(capsys, tmp_path, files, which, needles):
    corpus = tmp_path / "nowhere.txt" if which == "missing" else files[which]
    rc, _, err = run_cli(capsys, *train_args(tmp_path, corpus))
    assert_one_line_error(rc, err, *needles)
    assert not (tmp_path / "m" / "last.npz").exists()


def test_replace_undecodable_bytes_then_trains(capsys, tmp_path, files):
    rc, out, err = run_cli(capsys, *train_args(tmp_path, files["latin1"], "--errors", "replace"))
    assert rc == 0, err
    assert checkpoint.load(tmp_path / "m" / "last.npz")[1]["data"]["errors"] == "replace"


def test_unreadable_file(capsys, tmp_path, files, monkeypatch):
    p = tmp_path / "secret.txt"
    p.write_text("the cat sat\n" * 20)
    p.chmod(0)
    if os.access(p, os.R_OK):  # root reads it anyway: make the permission check see what a user would
        import rnnlab.data.reader as reader
        real = os.access
        monkeypatch.setattr(reader.os, "access", lambda q, mode: False if str(q) == str(p) else real(q, mode))
    rc, _, err = run_cli(capsys, *train_args(tmp_path, p))
    assert_one_line_error(rc, err, "secret.txt", "permission denied", "check its permissions")


def test_csv_without_the_column(capsys, tmp_path, files):
    rc, _, err = run_cli(capsys, "train", "--quiet", "--train", files["csv"], "--format", "csv", "--column", "text",
                         "--out", tmp_path / "m")
    assert_one_line_error(rc, err, "no column 'text'", "'id', 'body'", "--column")
    rc, _, err = run_cli(capsys, "train", "--quiet", "--train", files["csv"], "--format", "csv",
                         "--out", tmp_path / "m")
    assert_one_line_error(rc, err, "column", "--column")


def test_jsonl_broken_line_then_skip_bad_lines(capsys, tmp_path, files):
    rc, _, err = run_cli(capsys, "train", "--quiet", "--train", files["jsonl"], "--format", "jsonl", "--hidden", "4",
                         "--epochs", "1", "--out", tmp_path / "m")
    assert_one_line_error(rc, err, "broken.jsonl:2:", "not valid JSON", "--skip-bad-lines")
    rc, out, err = run_cli(capsys, "train", "--quiet", "--train", files["jsonl"], "--format", "jsonl", "--hidden",
                           "4", "--epochs", "1", "--skip-bad-lines", "--out", tmp_path / "m")
    assert rc == 0, err
    assert "21 training" in out or "training sentences" in out


def test_skipped_bad_lines_are_reported_once_per_corpus_also_when_cached(capsys, tmp_path):
    good = ['{"text": "The cat sat."}', '{"text": "A dog ran."}'] * 10
    rows = good[:6] + ['{"text": "cut sho'] + good[6:12] + ['[1, 2]', '{"body": "x"}'] + good[12:]
    corpus = tmp_path / "train.jsonl"
    corpus.write_text("\n".join(rows) + "\n")
    valid = tmp_path / "valid.jsonl"
    valid.write_text("\n".join(good[:4]) + "\n")
    args = ["train", "--quiet", "--no-report", "--train", corpus, "--valid", valid, "--format", "jsonl",
            "--skip-bad-lines", "--hidden", "4", "--out", tmp_path / "m"]
    for extra in (["--epochs", "1"], ["--epochs", "2", "--resume"]):     # the second run reads the cache
        rc, out, err = run_cli(capsys, *args, *extra)
        assert rc == 0, err
        notes = [line for line in out.splitlines() if "bad line" in line]
        assert len(notes) == 1 and notes[0].startswith(f"{corpus}: 3 bad lines skipped (first: line 7: "
                                                       f"not valid JSON"), out
    assert len(list((tmp_path / "m" / "cache").glob("train.jsonl-*.json"))) == 1
    rc, out, err = run_cli(capsys, "evaluate", "--model", tmp_path / "m", "--test", corpus, "--skip-bad-lines")
    assert rc == 0 and f"{corpus}: 3 bad lines skipped (first: line 7:" in out.splitlines()[0], out
    rc, out, err = run_cli(capsys, "evaluate", "--model", tmp_path / "m", "--test", valid)
    assert rc == 0 and "bad line" not in out and len(out.splitlines()) == 1, out


def test_corpus_too_small(capsys, tmp_path, files):
    rc, _, err = run_cli(capsys, *train_args(tmp_path, files["small"], "--stream", "--batch-size", "5000"))
    assert_one_line_error(rc, err, "too small", "5000", "--batch-size")
    rc, _, err = run_cli(capsys, *train_args(tmp_path, files["one"]))
    assert_one_line_error(rc, err, "only 1 sentence", "--valid")
    # more classes than the corpus has words: known only once the vocabulary is built
    rc, _, err = run_cli(capsys, *train_args(tmp_path, files["small"], "--output", "class", "--classes", "50"))
    assert_one_line_error(rc, err, "--classes 50", "vocabulary", "at most")


# -- hyperparameters: rejected while parsing, before any file is read (the corpus here does not exist) ----

@pytest.mark.parametrize("flag, value", [
    ("--hidden", "0"), ("--hidden", "-3"), ("--hidden", "ten"), ("--layers", "0"), ("--embedding", "0"),
    ("--lr", "-1"), ("--lr", "0"), ("--lr", "nan"), ("--lr", "inf"), ("--truncate", "-1"), ("--epochs", "-1"),
    ("--batch-size", "0"), ("--bptt-chunk", "0"), ("--bptt-window", "0"), ("--vocab-size", "3"),
    ("--classes", "1"), ("--seed", "-1"), ("--clip", "-1"), ("--clip-value", "0"), ("--time-budget", "0"),
    ("--checkpoint-every", "-5"), ("--forget-bias", "nan"), ("--cell", "transformer"), ("--dtype", "float16"),
])
def test_nonsensical_hyperparameters(capsys, tmp_path, flag, value):
    rc, _, err = run_cli(capsys, *train_args(tmp_path, tmp_path / "not-read.txt", flag, value))
    assert_one_line_error(rc, err, f"argument {flag}", value, "--help")
    assert "not-read" not in err and not (tmp_path / "m").exists()


@pytest.mark.parametrize("extra, needles", [
    (["--stream", "--bptt-chunk", "5", "--bptt-window", "3"], ["bptt-window", "bptt-chunk"]),
    (["--bptt-window", "30"], ["--bptt-window", "add --stream"]),
    (["--classes", "5"], ["--classes", "add --output class"]),
    (["--output", "class", "--classes", "500", "--vocab-size", "100"], ["--classes 500", "--vocab-size 100"]),
    (["--resume", "--force"], ["--resume", "--force", "choose one"]),
    (["--no-such-flag"], ["rnnlab train: error: unrecognized arguments", "--no-such-flag", "rnnlab train --help"]),
])
def test_inconsistent_options(capsys, tmp_path, extra, needles):
    rc, _, err = run_cli(capsys, *train_args(tmp_path, tmp_path / "not-read.txt", *extra))
    assert_one_line_error(rc, err, *needles)
    assert "not-read" not in err


def test_out_is_a_file_and_out_holds_a_model(capsys, tmp_path, files, model):
    rc, _, err = run_cli(capsys, *train_args(tmp_path, files["small"], out="f"), "--out", files["small"])
    assert_one_line_error(rc, err, "is a file", "another --out")
    # a fresh run into a model directory would mix two runs: refused, nothing touched
    before = (model / "last.npz").read_bytes()
    rc, _, err = run_cli(capsys, *train_args(model.parent, files["small"], "--hidden", "5", out="m"))
    assert_one_line_error(rc, err, "already holds a model", "--resume", "--force")
    assert (model / "last.npz").read_bytes() == before


def test_force_replaces_the_old_run(capsys, tmp_path, files):
    assert run_cli(capsys, *train_args(tmp_path, files["small"], "--epochs", "2"))[0] == 0
    rc, _, err = run_cli(capsys, *train_args(tmp_path, files["small"], "--hidden", "5", "--epochs", "0", "--force"))
    assert rc == 0, err
    _, meta = checkpoint.load(tmp_path / "m" / "last.npz")
    assert meta["model"]["hidden_size"] == 5
    assert not (tmp_path / "m" / "best.npz").exists()   # the old run's best is gone, not mistaken for this one's
    assert not (tmp_path / "m" / "log.jsonl").exists()  # zero epochs: nothing logged, the old log is gone


# -- model directories and checkpoints --------------------------------------------------------------------

@pytest.mark.parametrize("command", ["evaluate", "generate"])
def test_not_a_model(capsys, tmp_path, files, command):
    extra = ["--test", files["small"]] if command == "evaluate" else []
    cases = [(tmp_path / "nowhere", ["does not exist"]),
             (files["dir"], ["not an rnnlab model directory", "rnnlab train --out"]),
             (files["small"], ["not an rnnlab checkpoint", "not an .npz"]),
             (files["empty"], ["is empty", "not a checkpoint"])]
    for path, needles in cases:
        rc, _, err = run_cli(capsys, command, "--model", path, *extra)
        assert_one_line_error(rc, err, str(path), *needles)
    np.savez(tmp_path / "foreign.npz", w=np.zeros(3))
    rc, _, err = run_cli(capsys, command, "--model", tmp_path / "foreign.npz", *extra)
    assert_one_line_error(rc, err, "not an rnnlab checkpoint")


def copy_model(model, dest):
    dest.mkdir()
    for name in ("best.npz", "last.npz"):
        (dest / name).write_bytes((model / name).read_bytes())
    return dest


def test_corrupt_and_truncated_checkpoints(capsys, tmp_path, files, model):
    m = copy_model(model, tmp_path / "c")
    data = bytearray((m / "best.npz").read_bytes())
    (m / "best.npz").write_bytes(bytes(data[: len(data) // 2]))
    rc, _, err = run_cli(capsys, "evaluate", "--model", m, "--test", files["small"])
    assert_one_line_error(rc, err, "best.npz", "corrupt or truncated", "use another checkpoint or retrain")
    for pos in (100, len(data) // 2, len(data) - 300):   # one flipped byte: zip CRC or our checksum catches it
        bad = bytearray(data)
        bad[pos] ^= 0x55
        (m / "best.npz").write_bytes(bytes(bad))
        rc, _, err = run_cli(capsys, "generate", "--model", m, "-n", "1")
        assert_one_line_error(rc, err, "best.npz", "corrupt")
    # a corrupt last.npz cannot be resumed; the message points at best.npz
    (m / "last.npz").write_bytes(bytes(data[:1000]))
    rc, _, err = run_cli(capsys, "train", "--resume", "--quiet", "--out", m)
    assert_one_line_error(rc, err, "cannot resume", "corrupt", "copy it to last.npz")


def test_checkpoint_from_another_configuration(capsys, tmp_path, files, model):
    arrays, meta = checkpoint.load(model / "best.npz")
    m = tmp_path / "mismatch"
    meta["model"]["hidden_size"] = 7                   # arrays of hidden 6, a config of hidden 7
    checkpoint.save(m / "best.npz", arrays, meta)
    rc, _, err = run_cli(capsys, "evaluate", "--model", m, "--test", files["small"])
    assert_one_line_error(rc, err, "does not match", "shape", "retrain")
    meta["model"]["hidden_size"] = 6
    meta["model"]["attention"] = "yes"                 # a key this rnnlab does not know
    checkpoint.save(m / "best.npz", arrays, meta)
    rc, _, err = run_cli(capsys, "generate", "--model", m)
    assert_one_line_error(rc, err, "does not match", "attention")
    meta["model"].pop("attention")
    meta["vocab"] = {"tokens": ["<unk>", "<s>", "</s>", "x"]}
    checkpoint.save(m / "best.npz", arrays, meta)
    rc, _, err = run_cli(capsys, "generate", "--model", m)
    assert_one_line_error(rc, err, "vocabulary")


def test_checkpoint_from_a_newer_version(capsys, tmp_path, files, model, monkeypatch):
    arrays, meta = checkpoint.load(model / "best.npz")
    monkeypatch.setattr(checkpoint, "FORMAT_VERSION", checkpoint.FORMAT_VERSION + 1)
    checkpoint.save(tmp_path / "new" / "best.npz", arrays, meta)
    monkeypatch.undo()
    rc, _, err = run_cli(capsys, "evaluate", "--model", tmp_path / "new", "--test", files["small"])
    assert_one_line_error(rc, err, "newer rnnlab", "upgrade rnnlab")


# -- resume -------------------------------------------------------------------------------------------------

def test_resume_with_nothing_to_resume(capsys, tmp_path, model):
    rc, _, err = run_cli(capsys, "train", "--resume", "--quiet", "--out", tmp_path / "never")
    assert_one_line_error(rc, err, "nothing to resume", "without --resume")
    (tmp_path / "empty").mkdir()
    rc, _, err = run_cli(capsys, "train", "--resume", "--quiet", "--out", tmp_path / "empty")
    assert_one_line_error(rc, err, "nothing to resume", "no last.npz")
    # a model without training state (as `rnnlab import` writes one) cannot be resumed
    arrays, meta = checkpoint.load(model / "best.npz")
    checkpoint.save(tmp_path / "imported" / "last.npz", arrays, {"model": meta["model"], "vocab": meta["vocab"]})
    rc, _, err = run_cli(capsys, "train", "--resume", "--quiet", "--out", tmp_path / "imported")
    assert_one_line_error(rc, err, "no training state", "cannot be resumed")


def test_resume_rejects_a_different_configuration(capsys, tmp_path, files, model):
    m = copy_model(model, tmp_path / "r")
    rc, _, err = run_cli(capsys, "train", "--resume", "--quiet", "--out", m, "--hidden", "50")
    assert_one_line_error(rc, err, "--hidden 50", "differs", "hidden_size 6", "drop --hidden")
    rc, _, err = run_cli(capsys, "train", "--resume", "--quiet", "--out", m, "--train", files["other"])
    assert_one_line_error(rc, err, "--train", "differs")
    # the same command line again plus --resume is fine: here the run has finished its 2 epochs
    rc, out, err = run_cli(capsys, *train_args(model.parent, files["small"], "--epochs", "2", "--resume", out="m"))
    assert rc == 0 and "nothing left to do" in out, err


def test_resume_after_the_corpus_changed(capsys, tmp_path, files):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(LINES) + "\n")
    assert run_cli(capsys, *train_args(tmp_path, corpus, "--time-budget", "1e-9"))[0] == 0
    corpus.write_text("\n".join(LINES[:60] + ["an entirely new line"]) + "\n")
    rc, _, err = run_cli(capsys, "train", "--resume", "--quiet", "--out", tmp_path / "m")
    assert_one_line_error(rc, err, "has changed", "restore the original corpus")


# -- generate and evaluate ---------------------------------------------------------------------------------

@pytest.mark.parametrize("flag, value", [("-n", "0"), ("-n", "-1"), ("-n", "many"), ("--temperature", "0"),
                                         ("--temperature", "-1"), ("--temperature", "nan"), ("--temperature", "inf"),
                                         ("--max-length", "0"), ("--seed", "-1")])
def test_generate_bad_values(capsys, model, flag, value):
    rc, _, err = run_cli(capsys, "generate", "--model", model, flag, value)
    assert_one_line_error(rc, err, f"argument {flag}", value)


def test_generate_extreme_temperatures_still_sample(capsys, model):
    for t in ("1e-300", "1e300"):
        rc, out, err = run_cli(capsys, "generate", "--model", model, "--temperature", t, "-n", "3", "--seed", "0")
        assert rc == 0, err
        assert len(out.splitlines()) == 3 and "<unk>" not in out and "<s>" not in out


def test_evaluate_bad_test_files(capsys, tmp_path, files, model):
    rc, _, err = run_cli(capsys, "evaluate", "--model", model, "--test", tmp_path / "none.txt")
    assert_one_line_error(rc, err, "none.txt", "no such file")
    rc, _, err = run_cli(capsys, "evaluate", "--model", model, "--test", files["latin1"])
    assert_one_line_error(rc, err, "not valid UTF-8", "--errors replace")
    rc, out, err = run_cli(capsys, "evaluate", "--model", model, "--test", files["latin1"], "--errors", "replace")
    assert rc == 0 and "perplexity" in out, err
    rc, _, err = run_cli(capsys, "evaluate", "--model", model, "--test", files["jsonl"], "--format", "jsonl")
    assert_one_line_error(rc, err, ":2:", "--skip-bad-lines")
    rc, out, err = run_cli(capsys, "evaluate", "--model", model, "--test", files["jsonl"], "--format", "jsonl",
                           "--skip-bad-lines")
    assert rc == 0 and "21 sentences" in out, err


def test_out_of_memory_is_one_line(capsys, tmp_path, files):
    rc, _, err = run_cli(capsys, *train_args(tmp_path, files["small"], "--hidden", "100000000"))
    assert_one_line_error(rc, err, "out of memory", "smaller model")


# -- the real process: nothing but the one line reaches the terminal ---------------------------------------

def rnnlab_process(*argv, cwd):
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "rnnlab", *map(str, argv)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("argv, needles", [
    (["train", "--train", "missing.txt", "--out", "m"], ["missing.txt", "no such file"]),
    (["train", "--hidden", "0", "--out", "m"], ["argument --hidden"]),
    (["train", "--train", "small.txt", "--format", "lines", "--hidden", "100000000", "--out", "m"],
     ["out of memory"]),
    (["evaluate", "--model", "small.txt", "--test", "small.txt"], ["not an rnnlab checkpoint"]),
    (["generate", "--model", "m0", "--temperature", "-1"], ["argument --temperature"]),
    (["train", "--resume", "--out", "nowhere"], ["nothing to resume"]),
])
def test_no_traceback_reaches_the_terminal(tmp_path, files, argv, needles):
    (tmp_path / "small.txt").write_text("\n".join(LINES) + "\n")
    r = rnnlab_process(*argv, cwd=tmp_path)
    assert "Traceback" not in r.stdout
    assert_one_line_error(r.returncode, r.stderr, *needles)


def test_disk_full_while_checkpointing(capsys, tmp_path, files, monkeypatch):
    # the third checkpoint write fails as on a full disk: one line, and the last complete checkpoint survives
    import errno
    real, calls = checkpoint.np.savez, {"n": 0}

    def savez(f, **arrays):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(f, **arrays)

    monkeypatch.setattr(checkpoint.np, "savez", savez)
    rc, _, err = run_cli(capsys, *train_args(tmp_path, files["small"], "--epochs", "3"))
    assert_one_line_error(rc, err, "No space left on device", "check the disk")
    monkeypatch.undo()
    _, meta = checkpoint.load(tmp_path / "m" / "last.npz")
    assert meta["state"]["epoch"] == 2  # one write per epoch (best.npz is a hard link): the third is epoch 3's
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["best.npz", "cache", "last.npz", "log.jsonl",
                                                                 "snapshots.json"]


def test_out_below_a_file(capsys, tmp_path, files):
    rc, _, err = run_cli(capsys, *train_args(tmp_path, files["small"]), "--out", files["small"] / "sub")
    assert_one_line_error(rc, err, "Not a directory", str(files["small"]))


def test_other_commands_bad_input(capsys, tmp_path, files):
    rc, _, err = run_cli(capsys, "gradcheck", "--seed", "-1")
    assert_one_line_error(rc, err, "argument --seed", "-1")
    pytest.importorskip("torch")
    rc, _, err = run_cli(capsys, "import", "--torch", files["small"], "--out", tmp_path / "q")
    assert_one_line_error(rc, err, "small.txt", "not a readable torch file", "rnnlab export")


# -- bugs: the traceback is kept, in a file, and one line says where --------------------------------------

def assert_internal_error(rc, err, exc_name, where):
    """Exit 70, one line on stderr naming the exception and the file (under ``where``) holding its traceback."""
    assert rc == 70, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "internal error" in lines[0] and exc_name in lines[0], err
    path = lines[0].split("the traceback is in ")[1].split(";")[0]
    assert os.path.dirname(path) == str(where), (path, where)
    text = open(path).read()
    assert "Traceback (most recent call last)" in text and exc_name in text and "command: rnnlab " in text
    return text


@pytest.mark.parametrize("exc", [KeyError("model"), TypeError("unsupported operand"),
                                 OSError(errno.EBADF, "Bad file descriptor")])
def test_internal_error_keeps_its_traceback_in_the_out_directory(capsys, tmp_path, files, monkeypatch, exc):
    """A bug (any exception that is not an error the user can act on) keeps its traceback, written into the
    command's --out directory (rnnlab 0.2 turned any OSError, EBADF included, into a one-line 'check the
    disk' message and lost its traceback)."""
    import rnnlab.pipeline

    def broken(*a, **k):
        raise exc

    monkeypatch.setattr(rnnlab.pipeline, "train_language_model", broken)
    (tmp_path / "m").mkdir()
    rc, _, err = run_cli(capsys, *train_args(tmp_path, files["small"]))
    text = assert_internal_error(rc, err, type(exc).__name__, tmp_path / "m")
    assert "in broken" in text  # the frame that raised


def test_internal_error_without_a_directory_goes_to_a_temporary_file(capsys, tmp_path, monkeypatch):
    import tempfile

    import rnnlab.finite_differences

    def broken(*a, **k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(rnnlab.finite_differences, "layer_gradcheck", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    rc, out, err = run_cli(capsys, "gradcheck")
    assert_internal_error(rc, err, "ZeroDivisionError", tmp_path)


@pytest.mark.parametrize("code, needles", [(errno.ENOSPC, ["No space left", "check the disk"]),
                                           (errno.EROFS, ["Read-only file system"]),
                                           (errno.EACCES, ["permission denied"]), (errno.ENOENT, ["no such file"])])
def test_errors_the_user_can_act_on_stay_one_line(capsys, tmp_path, files, monkeypatch, code, needles):
    import rnnlab.pipeline

    def full(*a, **k):
        raise OSError(code, os.strerror(code), str(tmp_path / "m" / "last.npz"))

    monkeypatch.setattr(rnnlab.pipeline, "train_language_model", full)
    rc, _, err = run_cli(capsys, *train_args(tmp_path, files["small"]))
    assert_one_line_error(rc, err, *needles)
    assert not list(tmp_path.rglob("rnnlab-error-*"))
