"""The ARPA reader: back-off probabilities against hand-computed values, against IRSTLM's own scorer on
models IRSTLM estimated, against KenLM when its Python module is installed; malformed files."""
import shutil
import subprocess

import numpy as np
import pytest

from rnnlab.errors import DataError
from rnnlab.scoring.ngram import ArpaModel

# log10 values chosen so that every path of the back-off recursion is taken (worked out in the tests)
ARPA = """\\data\\
ngram 1=5
ngram 2=3
ngram 3=1

\\1-grams:
-1.0\t<unk>
-99\t<s>\t-0.5
-0.6\t</s>
-0.4\ta\t-0.3
-0.7\tb\t-0.2

\\2-grams:
-0.2\t<s> a\t-0.1
-0.3\ta b
-0.5\tb </s>

\\3-grams:
-0.05\t<s> a b
\\end\\
"""

IRSTLM = "/usr/lib/irstlm/bin"
needs_irstlm = pytest.mark.skipif(shutil.which("tlm", path=IRSTLM) is None,
                                  reason="IRSTLM is not installed (Debian: apt-get install irstlm)")


def arpa(tmp_path, text=ARPA, name="m.arpa"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_hand_computed_backoff(tmp_path):
    ng = ArpaModel.read(arpa(tmp_path))
    assert ng.order == 3 and ng.has_unk
    # "a b": p(a|<s>) bigram; p(b|<s> a) trigram; p(</s>|a b): no trigram, no bow(a b), bigram "b </s>"
    np.testing.assert_allclose(ng.sentence_log10(["a", "b"]), [-0.2, -0.05, -0.5], rtol=0, atol=1e-12)
    # "b a": p(b|<s>) = bow(<s>) + p(b); p(a|<s> b) = bow(b) + p(a) (history "<s> b" unlisted: bow 0);
    # p(</s>|b a) = bow(a) + p(</s>)
    np.testing.assert_allclose(ng.sentence_log10(["b", "a"]), [-0.5 - 0.7, -0.2 - 0.4, -0.3 - 0.6], atol=1e-12)
    # an unknown word is <unk>, in the history too: p(<unk>|<s> a) = bow(<s> a) + bow(a) + p(<unk>)
    np.testing.assert_allclose(ng.sentence_log10(["a", "zzz"]), [-0.2, -0.1 - 0.3 - 1.0, -0.6], atol=1e-12)
    # a unigram model of the same file ignores histories
    np.testing.assert_allclose(ng.log10_prob((), ng.word_id("b")), -0.7)


def test_without_unk_unknown_words_are_nan_and_histories_back_off_past_them(tmp_path):
    text = ARPA.replace("ngram 1=5", "ngram 1=4").replace("-1.0\t<unk>\n", "")
    ng = ArpaModel.read(arpa(tmp_path, text))
    assert not ng.has_unk
    lp = ng.sentence_log10(["a", "zzz", "b"])
    assert lp[1] != lp[1]                                  # nan: out of vocabulary
    # p(b | a zzz): no n-gram ends in the unknown word's history, so the unigram, with no back-off weight
    np.testing.assert_allclose(lp[[0, 2, 3]], [-0.2, -0.7, -0.5], atol=1e-12)


def test_gzip_reads_the_same(tmp_path):
    import gzip
    p = tmp_path / "m.arpa.gz"
    with gzip.open(p, "wt") as f:
        f.write(ARPA)
    a, b = ArpaModel.read(p), ArpaModel.read(arpa(tmp_path))
    assert a.prob == b.prob and a.bow == b.bow


@pytest.mark.parametrize("text, where", [
    ("hello world\n", ":1: not an ARPA file"),
    ("\\data\\\nngram 1=2\n\n\\1-grams:\n-1\ta\n\\end\\\n", "1-grams section has 1 entries, the header says 2"),
    ("\\data\\\nngram 1=1\n\n\\1-grams:\n-1\ta\n", "no '\\end\\' line"),
    ("\\data\\\nngram 1=1\n\n\\1-grams:\nx\ta\n\\end\\\n", ":5: a number was expected"),
    ("\\data\\\nngram 1=1\nngram 2=1\n\\1-grams:\n-1\ta\n\\2-grams:\n-1\ta\n\\end\\\n", ":7: a 2-gram line needs"),
    ("\\data\\\nngram 1=1\nngram 2=1\n\\1-grams:\n-1\ta\n\\2-grams:\n-1\ta q\n\\end\\\n", ":7: the word 'q' has no"),
])
def test_malformed_files_name_the_line(tmp_path, text, where):
    with pytest.raises(DataError, match=None) as e:
        ArpaModel.read(arpa(tmp_path, text))
    assert where in str(e.value) and str(tmp_path / "m.arpa") in str(e.value) and "\n" not in str(e.value)


def test_not_utf8_and_missing(tmp_path):
    p = tmp_path / "bad.arpa"
    p.write_bytes(b"\\data\\\nngram 1=1\n\n\\1-grams:\n-1\t\xff\xfe\n\\end\\\n")
    with pytest.raises(DataError, match="line 5"):
        ArpaModel.read(p)
    with pytest.raises(DataError, match="no such file"):
        ArpaModel.read(tmp_path / "nope.arpa")


def _corpus(path, n, seed):
    words = "the cat dog sat ran on a mat log big small red".split()
    rng = np.random.default_rng(seed)
    path.write_text("".join(" ".join(rng.choice(words, size=rng.integers(2, 9))) + "\n" for _ in range(n)))
    return path


@needs_irstlm
@pytest.mark.parametrize("smoothing, order", [("wb", 3), ("sb", 4), ("wb", 2)])
def test_against_irstlm_scorer(tmp_path, smoothing, order):
    """IRSTLM estimates the model (tlm) and scores a text with it (compile-lm --eval --debug=2 prints each
    word's log10 probability to 2 decimals); our reader of its ARPA file must agree word by word."""
    train, test = _corpus(tmp_path / "train.txt", 300, 0), _corpus(tmp_path / "test.txt", 40, 1)
    se = tmp_path / "train.se"
    se.write_text("".join(f"<s> {line} </s>\n" for line in train.read_text().splitlines()))
    te = tmp_path / "test.se"
    te.write_text("".join(f"<s> {line} </s>\n" for line in test.read_text().splitlines()))
    model = tmp_path / "m.arpa"
    subprocess.run([f"{IRSTLM}/tlm", f"-tr={se}", f"-n={order}", f"-lm={smoothing}", "-bo=yes", f"-o={model}"],
                   check=True, capture_output=True)
    res = subprocess.run([f"{IRSTLM}/compile-lm", str(model), f"--eval={te}", "--debug=2"], check=True,
                         capture_output=True, text=True, cwd=tmp_path)
    theirs = [float(line.rsplit(None, 1)[1]) for line in (res.stdout + res.stderr).splitlines()
              if "-gram]" in line]
    ng = ArpaModel.read(model)
    ours = np.concatenate([ng.sentence_log10(line.split()) for line in test.read_text().splitlines()])
    assert len(theirs) == len(ours) == sum(len(s.split()) + 1 for s in test.read_text().splitlines())
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=0.005 + 1e-9)


def test_against_kenlm(tmp_path):
    kenlm = pytest.importorskip("kenlm", reason="KenLM's Python module is not installed (pip install kenlm)")
    p = arpa(tmp_path)
    m, ng = kenlm.Model(str(p)), ArpaModel.read(p)
    for s in (["a", "b"], ["b", "a"], ["a", "zzz", "b", "b"], ["b"]):
        theirs = [lp for lp, _, _ in m.full_scores(" ".join(s), bos=True, eos=True)]
        np.testing.assert_allclose(ng.sentence_log10(s), theirs, rtol=0, atol=1e-5)


@needs_irstlm
def test_against_kenlm_on_an_irstlm_model(tmp_path):
    kenlm = pytest.importorskip("kenlm", reason="KenLM's Python module is not installed (pip install kenlm)")
    train, test = _corpus(tmp_path / "train.txt", 300, 0), _corpus(tmp_path / "test.txt", 40, 1)
    se = tmp_path / "train.se"
    se.write_text("".join(f"<s> {line} </s>\n" for line in train.read_text().splitlines()))
    model = tmp_path / "m.arpa"
    subprocess.run([f"{IRSTLM}/tlm", f"-tr={se}", "-n=4", "-lm=sb", "-bo=yes", f"-o={model}"], check=True,
                   capture_output=True)
    m, ng = kenlm.Model(str(model)), ArpaModel.read(model)
    for line in test.read_text().splitlines() + ["the zebra sat on a mat"]:
        theirs = [lp for lp, _, _ in m.full_scores(line, bos=True, eos=True)]
        np.testing.assert_allclose(ng.sentence_log10(line.split()), theirs, rtol=0, atol=1e-5)
