"""Property-based tests of argument parsing: arbitrary command lines for `rnnlab train`, `evaluate` and
`generate`, mixing sensible and nonsensical flags and values, never end in anything but exit status 0 or 2
(with one line on stderr for 2): no traceback, no other exception."""
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnlab.cli import main

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
LINES = ["the cat sat", "the dog ran", "a cat ran", "the dog sat"] * 10

WORDS = st.sampled_from(["0", "1", "2", "3", "-1", "-7", "x", "", "nan", "inf", "-inf", "1e-9", "0.5", "1e30",
                         "100000000", "2.5", "--", "-", "None", "\u00e9t\u00e9", "1_000"])
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
VALUE = st.one_of(WORDS, TEXT)


def flag(name, values=VALUE):
    return st.tuples(st.just(name), values).map(list)


def choice_flag(name, choices):
    return flag(name, st.one_of(st.sampled_from(choices), VALUE))


def switch(name):
    return st.just([name])


DATA_FLAGS = [choice_flag("--format", ["text", "lines", "csv", "jsonl"]), flag("--column"), flag("--field"),
              choice_flag("--errors", ["strict", "replace"]), switch("--skip-bad-lines")]
TRAIN_FLAGS = DATA_FLAGS + [
    choice_flag("--level", ["word", "char"]), flag("--vocab-size"), flag("--seed"), flag("--checkpoint-every"),
    choice_flag("--cell", ["rnn", "lstm", "gru"]), choice_flag("--nonlinearity", ["tanh", "relu", "sigmoid"]),
    flag("--hidden", st.sampled_from(["0", "1", "3", "-2", "x", "100000000"])), flag("--layers", st.sampled_from(
        ["0", "1", "2", "-1", "x"])), flag("--embedding", st.sampled_from(["0", "2", "-1", "x"])),
    choice_flag("--output", ["softmax", "class"]), flag("--classes", st.sampled_from(["0", "1", "2", "3", "50", "x"])),
    choice_flag("--init", ["uniform", "xavier", "orthogonal", "identity"]), flag("--forget-bias"),
    choice_flag("--dtype", ["float32", "float64"]), choice_flag("--optimizer", ["sgd", "momentum", "adagrad", "adam"]),
    flag("--lr"), switch("--no-halve-lr"), flag("--clip"), flag("--clip-value"),
    flag("--truncate", st.sampled_from(["0", "1", "3", "-1", "x"])),
    flag("--batch-size", st.sampled_from(["0", "1", "4", "200", "-3", "x", "5000"])),
    flag("--epochs", st.sampled_from(["0", "1", "2", "-1", "x"])), flag("--time-budget"), switch("--stream"),
    flag("--bptt-chunk", st.sampled_from(["0", "1", "3", "8", "-1", "x"])),
    flag("--bptt-window", st.sampled_from(["0", "2", "5", "12", "x"])), switch("--resume"), switch("--force"),
    flag("--valid"), st.just(["--bogus"]), st.just(["stray"]),
]
EVAL_FLAGS = DATA_FLAGS + [switch("--json"), flag("--test"), flag("--model"), st.just(["--bogus"])]
GENERATE_FLAGS = [flag("-n", st.sampled_from(["0", "1", "3", "-1", "x", "1.5"])), flag("--temperature"),
                  flag("--prime", st.one_of(TEXT, WORDS)), flag("--max-length", st.sampled_from(["0", "1", "7", "-2"])),
                  switch("--allow-unk"), flag("--seed"), flag("--model"), st.just(["--bogus"]), st.just(["-h"])]
_count = itertools.count()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("cliprop")
    (d / "c.txt").write_text("\n".join(LINES) + "\n")
    (d / "c.jsonl").write_text('{"text": "The cat."}\n{"text": \n' * 10)
    (d / "c.csv").write_text("id,text\n1,The cat sat.\n2,\"A dog\n" * 5)
    assert main(["train", "--quiet", "--train", str(d / "c.txt"), "--format", "lines", "--hidden", "4",
                 "--epochs", "1", "--out", str(d / "model")]) == 0
    return d


def check(capsys, argv):
    try:
        rc = main(argv)
    except SystemExit as e:      # argparse: usage errors (2) and --help (0)
        rc = e.code
    out, err = capsys.readouterr()
    assert rc in (0, 2), (argv, rc, err[-2000:])
    assert "Traceback" not in err and "Traceback" not in out
    if rc == 2:
        assert len(err.strip().splitlines()) == 1, (argv, err)


@settings(SETTINGS, max_examples=80)
@given(flags=st.lists(st.one_of(TRAIN_FLAGS), max_size=6), corpus=st.sampled_from(["c.txt", "c.jsonl", "c.csv",
                                                                                     "missing.txt", "model"]))
def test_train_command_lines(capsys, setup, flags, corpus):
    out = setup / f"run{next(_count)}"
    # a small, fast run unless the generated flags say otherwise (a later flag wins)
    argv = ["train", "--quiet", "--no-report", "--train", str(setup / corpus), "--format", "lines", "--hidden", "4",
            "--epochs", "1", "--out", str(out)] + [str(a) for f in flags for a in f]
    check(capsys, argv)


@SETTINGS
@given(flags=st.lists(st.one_of(EVAL_FLAGS), max_size=5), test=st.sampled_from(["c.txt", "c.jsonl", "c.csv", "x"]))
def test_evaluate_command_lines(capsys, setup, flags, test):
    argv = ["evaluate", "--model", str(setup / "model"), "--test", str(setup / test)]
    check(capsys, argv + [str(a) for f in flags for a in f])


@SETTINGS
@given(flags=st.lists(st.one_of(GENERATE_FLAGS), max_size=5))
def test_generate_command_lines(capsys, setup, flags):
    argv = ["generate", "--model", str(setup / "model")]
    check(capsys, argv + [str(a) for f in flags for a in f])
