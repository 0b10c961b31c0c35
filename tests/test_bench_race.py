"""benchmarks.race, the faster-rnnlm race of ``make bench``: the command it builds from RACE_FRNN and
RACE_CORPUS, the one line without them, and one-line errors for a setup it cannot use. (The race itself
needs faster-rnnlm, built outside the project: not run here.)"""
import os
import stat
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import race  # noqa: E402


def setup(tmp_path, files=("train.txt", "valid.txt", "test.txt")):
    binary = tmp_path / "rnnlm"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in files:
        (corpus / f).write_text("a b\n")
    return str(binary), str(corpus)


def test_without_the_variables_it_says_how_in_one_line(capsys):
    assert race.command({}) is None
    assert race.main({"PATH": "/bin"}) == 0
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and "RACE_FRNN" in out and "RACE_CORPUS" in out


def test_the_command_runs_scripts_race_py(tmp_path):
    binary, corpus = setup(tmp_path)
    cmd = race.command({"RACE_FRNN": binary, "RACE_CORPUS": corpus})
    assert cmd[1].endswith(os.path.join("scripts", "race.py")) and os.path.isfile(cmd[1])
    assert cmd[2:] == [corpus, "--frnn", binary]
    assert race.command({"RACE_FRNN": binary, "RACE_CORPUS": corpus, "RACE_NCE": "1"})[-1] == "--nce"


@pytest.mark.parametrize("case, needle", [("only-binary", "RACE_CORPUS"), ("no-binary", "not an executable"),
                                          ("no-test", "test.txt")])
def test_a_setup_it_cannot_use_is_a_one_line_error(tmp_path, capsys, case, needle):
    binary, corpus = setup(tmp_path, ("train.txt", "valid.txt") if case == "no-test" else
                           ("train.txt", "valid.txt", "test.txt"))
    env = {"only-binary": {"RACE_FRNN": binary}, "no-binary": {"RACE_FRNN": binary + "x", "RACE_CORPUS": corpus},
           "no-test": {"RACE_FRNN": binary, "RACE_CORPUS": corpus}}[case]
    assert race.main(env) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
