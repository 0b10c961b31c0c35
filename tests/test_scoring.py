"""rnnlab score and evaluate --ngram/--dynamic: per-target scores against the full log-softmax, sums against
evaluate, n-best grouping and context, OOV policies, the mixture, dynamic evaluation, bad input."""
import hashlib
import io
import json
import math

import numpy as np
import pytest

from rnnlab.cli import main
from rnnlab.lm import LanguageModel
from rnnlab.scoring import ArpaModel, Scorer
from rnnlab.scoring.lines import LineSource
from rnnlab.scoring.network import load_network, target_log_probs

WORDS = "the cat dog sat ran on a mat log big small red".split()
LN10 = math.log(10)


def corpus(path, n=150, seed=0, words=WORDS):
    rng = np.random.default_rng(seed)
    path.write_text("".join(" ".join(rng.choice(words, size=rng.integers(2, 9))) + "\n" for _ in range(n)))
    return path


def run(capsys, *argv):
    try:
        status = main([str(a) for a in argv])
    except SystemExit as e:                         # argparse's usage errors
        status = e.code
    out = capsys.readouterr()
    return status, out.out, out.err


def train(out, train_file, *extra):
    status = main(["train", "--train", str(train_file), "--format", "lines", "--hidden", "10", "--epochs", "2",
                   "--batch-size", "8", "--dtype", "float64", "--out", str(out), "--quiet", "--no-report", *extra])
    assert status == 0
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("scoring")
    corpus(d / "train.txt")
    corpus(d / "test.txt", 30, seed=1)
    train(d / "unk", d / "train.txt", "--vocab-size", "10")                    # 7 words: the rest is <unk>
    train(d / "full", d / "train.txt", "--vocab-size", "100")                  # every word: no <unk> learnt
    train(d / "class", d / "train.txt", "--vocab-size", "12", "--output", "class", "--classes", "3",
          "--cell", "gru", "--embedding", "6")
    # an n-gram model written by hand: unigrams of every word, two bigrams, back-off weights
    uni = [("<unk>", -2.0), ("<s>", -99.0), ("</s>", -0.9)] + [(w, -1.1 - 0.01 * i) for i, w in enumerate(WORDS)]
    lines = ["\\data\\", f"ngram 1={len(uni)}", "ngram 2=2", "", "\\1-grams:"]
    lines += [f"{p}\t{w}\t-0.25" for w, p in uni] + ["", "\\2-grams:", "-0.3\tthe cat", "-0.2\tcat sat", "\\end\\"]
    (d / "ng.arpa").write_text("\n".join(lines) + "\n")
    return d


# -- the network's per-target scores ------------------------------------------------------------------


@pytest.mark.parametrize("kw", [dict(), dict(output="class", num_classes=4), dict(cell="lstm", embedding_size=5),
                                dict(cell="gru", num_layers=2, output="class", num_classes=3)])
def test_target_log_probs_match_full_log_softmax(kw):
    """The fast path (targets only, class by class) against lm.log_probs, padding and an initial state."""
    V, T, B = 17, 6, 5
    lm = LanguageModel(V, 8, dtype=np.float64, seed=3, **kw)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    y[4:, 1] = -1
    y[2:, 3] = -1
    _, h0 = lm.log_probs(rng.integers(0, V, (3, B)))
    ours, hn = target_log_probs(lm, x, y, h0)
    full, hn_ref = lm.log_probs(x, h0)
    ref = np.where(y >= 0, np.take_along_axis(full, np.maximum(y, 0)[..., None], axis=2)[..., 0], 0.0)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(hn if isinstance(hn, tuple) else [hn], hn_ref if isinstance(hn_ref, tuple) else [hn_ref]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("output", ["softmax", "class"])
def test_target_log_probs_with_direct_connections_and_tying(output):
    """Direct connections' scores (a table with nonzero entries) and tied weights reach the scores."""
    V, T, B = 17, 6, 5
    lm = LanguageModel(V, 8, dtype=np.float64, seed=3, output=output, num_classes=4, embedding_size=8, tie=True,
                       direct_size=300, direct_order=3)
    rng = np.random.default_rng(1)
    lm.params["direct.weight"][:lm.direct.null] = rng.normal(0, 0.5, lm.direct.null)
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    y[3:, 2] = -1
    ours, _ = target_log_probs(lm, x, y)
    full, _ = lm.log_probs(x)
    ref = np.where(y >= 0, np.take_along_axis(full, np.maximum(y, 0)[..., None], axis=2)[..., 0], 0.0)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)
    loss, _, n = lm.loss(x, y)        # and the scores are what training's loss sees
    np.testing.assert_allclose(-ours.sum() / n, loss, rtol=1e-12)


# -- sentence scores ------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["unk", "class"])
def test_scores_sum_to_evaluate_total(data, capsys, model):
    status, out, _ = run(capsys, "evaluate", "--model", data / model, "--test", data / "test.txt", "--json")
    r = json.loads(out)
    total_ln = -r["cross_entropy"] * r["tokens"]
    for base, scale in (("e", 1.0), ("10", LN10)):
        status, out, _ = run(capsys, "score", "--model", data / model, data / "test.txt", "--json", "--base", base)
        recs = [json.loads(line) for line in out.splitlines()]
        assert status == 0 and [r["line"] for r in recs] == list(range(1, 31))
        assert sum(r["logprob"] for r in recs) * scale == pytest.approx(total_ln, rel=1e-6)
        assert all(abs(sum(r["word_logprobs"]) - r["logprob"]) < 1e-9 for r in recs)
    # the plain and --words outputs carry the same numbers (6 decimals)
    _, plain, _ = run(capsys, "score", "--model", data / model, data / "test.txt", "--words")
    first = plain.splitlines()[0].split("\t")
    assert float(first[0]) == pytest.approx(recs[0]["logprob"], abs=1e-6)
    assert [f.rsplit("=", 1)[0] for f in first[1:]] == recs[0]["words"]


def test_batched_scores_equal_one_at_a_time(data):
    lm, vocab, _ = load_network(data / "class")
    sents = [line.split() for line in (data / "test.txt").read_text().splitlines()]
    batched = Scorer(lm, vocab).score(sents)
    for s, r in zip(sents, batched):
        [alone] = Scorer(lm, vocab).score([s])
        np.testing.assert_allclose(r.logp, alone.logp, rtol=1e-12)


def test_blank_line_is_the_empty_sentence_and_lines_stay_aligned(data, capsys):
    f = data / "blank.txt"
    f.write_text("the cat\n\nthe cat\n")
    _, out, _ = run(capsys, "score", "--model", data / "unk", f)
    a, empty, b = out.splitlines()
    assert a == b and float(empty) < 0
    lm, vocab, _ = load_network(data / "unk")
    x = np.array([[vocab.bos]])
    lp, _ = lm.log_probs(x)
    assert float(empty) == pytest.approx(lp[0, 0, vocab.eos] / LN10, abs=1e-6)


# -- n-best ---------------------------------------------------------------------------------------------


NBEST = """u1 the cat sat
u1 the dog sat
u1 the cat sat
u2 a big red mat
u2 the cat sat
u3 the cat sat
"""


def test_nbest_fresh_state_and_identical_hypotheses(data, capsys):
    f = data / "nbest.txt"
    f.write_text(NBEST)
    _, out, _ = run(capsys, "score", "--model", data / "class", "--nbest", f)
    s = out.splitlines()
    assert len(s) == 6 and s[0] == s[2] == s[4] == s[5]        # the same words from a fresh state
    _, plain, _ = run(capsys, "score", "--model", data / "class", data / "test.txt")
    g = data / "plain.txt"
    g.write_text("".join(line.split(None, 1)[1] + "\n" for line in NBEST.splitlines()))
    _, plain, _ = run(capsys, "score", "--model", data / "class", g)
    assert plain == out                                        # --nbest only strips the IDs
    _, kaldi, _ = run(capsys, "score", "--model", data / "class", "--kaldi", f)
    k = [line.split() for line in kaldi.splitlines()]
    assert [a for a, _ in k] == ["u1", "u1", "u1", "u2", "u2", "u3"]
    np.testing.assert_allclose([-float(c) / LN10 for _, c in k], [float(v) for v in s], atol=2e-6)


def test_carry_context_continues_from_the_best_hypothesis(data, capsys):
    f = data / "nbest.txt"
    f.write_text(NBEST)
    _, out, _ = run(capsys, "score", "--model", data / "class", "--nbest", "--carry-context", f, "--base", "e")
    got = [float(v) for v in out.splitlines()]
    lm, vocab, _ = load_network(data / "class")
    sc = Scorer(lm, vocab)
    hyps = [line.split()[1:] for line in NBEST.splitlines()]
    # by hand: utterance 1 from zeros; its best hypothesis's state starts utterance 2, and so on
    u1 = [sc.score([h])[0].total for h in hyps[:3]]
    best1 = hyps[int(np.argmax(u1))]
    h = sc.state_after(best1)
    u2 = [sc.score([hh], h0=h)[0].total for hh in hyps[3:5]]
    h = sc.state_after(hyps[3 + int(np.argmax(u2))], h)
    u3 = [sc.score([hyps[5]], h0=h)[0].total]
    np.testing.assert_allclose(got, u1 + u2 + u3, atol=2e-6)
    assert got[0] == got[2] and got[4] != got[0]               # the context changes the score


# -- unknown words --------------------------------------------------------------------------------------


def test_unknown_words_map_to_unk_when_the_model_learnt_it(data, capsys):
    f = data / "oov.txt"
    f.write_text("the zebra sat\nthe <unk> sat\n")
    _, out, _ = run(capsys, "score", "--model", data / "unk", f)
    a, b = out.splitlines()
    assert a == b                                              # zebra is read as <unk>


def test_oov_penalty_and_skip(data, capsys):
    f = data / "oov.txt"
    f.write_text("the cat sat\nthe zebra sat\nthe cat sat\n")
    _, out, err = run(capsys, "score", "--model", data / "full", f, "--json")
    recs = [json.loads(line) for line in out.splitlines()]
    assert recs[1]["oov"] == [False, True, False, False]
    assert recs[1]["word_logprobs"][1] == pytest.approx(-5.0)
    _, out2, _ = run(capsys, "score", "--model", data / "full", f, "--json", "--oov-penalty", "-7")
    assert json.loads(out2.splitlines()[1])["logprob"] == pytest.approx(recs[1]["logprob"] - 2)
    _, out3, err3 = run(capsys, "score", "--model", data / "full", f, "--oov", "skip")
    lines = out3.splitlines()
    assert len(lines) == 3 and lines[1] == "OOV" and float(lines[0]) == pytest.approx(recs[0]["logprob"], abs=1e-6)
    assert "line 2: skipped (out of vocabulary: zebra)" in err3


# -- the n-gram mixture ---------------------------------------------------------------------------------


def test_mixture_is_linear_per_word(data, capsys):
    ng = data / "ng.arpa"
    f = data / "mix.txt"
    f.write_text("the cat sat\nzebra on a mat\n")

    def words(*extra):
        _, out, _ = run(capsys, "score", "--model", data / "unk", f, "--json", "--ngram", ng, *extra)
        return [np.array(json.loads(line)["word_logprobs"]) for line in out.splitlines()]

    net, ngram, mix = words("--lambda", "1"), words("--lambda", "0"), words("--lambda", "0.3")
    _, plain, _ = run(capsys, "score", "--model", data / "unk", f, "--json")
    for a, b in zip(net, plain.splitlines()):
        np.testing.assert_allclose(a, json.loads(b)["word_logprobs"], rtol=1e-12)
    for a, b, m in zip(net, ngram, mix):
        np.testing.assert_allclose(10 ** m, 0.3 * 10 ** a + 0.7 * 10 ** b, rtol=1e-10)
    # the n-gram side by hand: p(the|<s>) backs off: bow(<s>) + p(the); p(cat|the) is listed
    np.testing.assert_allclose(ngram[0][:2], [-0.25 - 1.1, -0.3], atol=1e-12)
    # zebra is <unk> for the n-gram model too
    np.testing.assert_allclose(ngram[1][0], -0.25 - 2.0, atol=1e-12)


def test_word_one_model_lacks_gets_the_others_probability(data):
    lm, vocab, _ = load_network(data / "full")
    ng = ArpaModel.read(data / "ng.arpa")
    [r] = Scorer(lm, vocab, ngram=ng, lam=0.5).score([["the", "zebra"]])
    assert not r.oov.any()                       # the n-gram model knows zebra (as <unk>)
    assert r.logp[1] == pytest.approx(r.ngram[1]) and r.network[1] == pytest.approx(-5 * LN10)


def test_evaluate_prints_three_perplexities(data, capsys):
    status, out, _ = run(capsys, "evaluate", "--model", data / "unk", "--test", data / "test.txt",
                         "--ngram", data / "ng.arpa", "--lambda", "0.4", "--json")
    r = json.loads(out)
    _, plain, _ = run(capsys, "evaluate", "--model", data / "unk", "--test", data / "test.txt", "--json")
    assert r["network"] == pytest.approx(json.loads(plain)["perplexity"], rel=1e-9)
    _, sc, _ = run(capsys, "score", "--model", data / "unk", data / "test.txt", "--json", "--base", "e",
                   "--ngram", data / "ng.arpa", "--lambda", "0.4")
    recs = [json.loads(line) for line in sc.splitlines()]
    n = r["tokens"]
    assert r["mixture"] == pytest.approx(math.exp(-sum(x["logprob"] for x in recs) / n), rel=1e-9)
    assert r["ngram"] == pytest.approx(math.exp(-sum(x["ngram"] for x in recs) / n), rel=1e-9)
    status, text, _ = run(capsys, "evaluate", "--model", data / "unk", "--test", data / "test.txt",
                          "--ngram", data / "ng.arpa")
    assert status == 0 and "mixture (lambda 0.5)" in text and "n-gram" in text


# -- dynamic evaluation ---------------------------------------------------------------------------------


def _digest(d):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir()) if p.is_file()}


def test_dynamic_lowers_perplexity_on_repeated_text_and_never_writes_the_model(data, capsys):
    rep = data / "repeat.txt"
    rep.write_text("the red dog ran on the big log\n" * 20)
    before = _digest(data / "unk")
    status, out, _ = run(capsys, "evaluate", "--model", data / "unk", "--test", rep, "--dynamic", "0.3", "--json")
    r = json.loads(out)
    assert status == 0 and r["network_dynamic"] < 0.8 * r["network"]
    _, out, _ = run(capsys, "score", "--model", data / "unk", rep, "--dynamic", "0.3")
    scores = [float(v) for v in out.splitlines()]
    assert scores[-1] > scores[0] + 1                             # it learns the repeated sentence
    assert _digest(data / "unk") == before
    _, again, _ = run(capsys, "score", "--model", data / "unk", rep)
    assert len(set(again.splitlines())) == 1                       # the static model is unchanged


def test_dynamic_scores_each_sentence_before_its_update(data):
    lm, vocab, _ = load_network(data / "unk")
    sents = [["the", "cat"], ["the", "cat"]]
    first, second = Scorer(lm, vocab, dynamic=0.5).score(sents)
    [static] = Scorer(lm, vocab).score(sents[:1])
    assert first.total == pytest.approx(static.total, rel=1e-12) and second.total > first.total


# -- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content, args, where", [
    (b"u1 the cat\nu1 the dog\n\nu2 a mat\n", ["--nbest"], "bad.txt:3: an empty line"),
    (b"u1 the cat\nu2\n", ["--nbest"], "bad.txt:2: hypothesis 'u2' has no words"),
    (b"the cat\nthe dog\n\xff\xfe sat\nthe mat\n", [], "bad.txt:3: not valid UTF-8"),
    (b"u1 the cat\nu1 the \xffdog\n", ["--nbest", "--carry-context"], "bad.txt:2: not valid UTF-8"),
])
def test_bad_lines_one_error_after_the_lines_before(data, capsys, content, args, where):
    f = data / "bad.txt"
    f.write_bytes(content)
    status, out, err = run(capsys, "score", "--model", data / "unk", f, *args)
    n_good = int(where.split(":")[1]) - 1
    good = data / "good.txt"
    good.write_bytes(b"\n".join(content.split(b"\n")[:n_good]) + b"\n")
    _, ref, _ = run(capsys, "score", "--model", data / "unk", good, *args)
    assert status == 2 and where in err and len(err.strip().splitlines()) == 1
    assert out == ref and len(out.splitlines()) == n_good


@pytest.mark.parametrize("args, msg", [
    (["--ngram", "NOTARPA", "--lambda", "0.5"], "not an ARPA file"),
    (["--ngram", "ARPA", "--lambda", "1.5"], "must be a number in [0, 1]"),
    (["--ngram", "ARPA", "--lambda", "-0.1"], "must be a number in [0, 1]"),
    (["--lambda", "0.5"], "give --ngram FILE too"),
    (["--dynamic", "0"], "must be a positive number"),
    (["--carry-context"], "add --nbest"),
])
def test_bad_options(data, capsys, args, msg):
    (data / "notarpa.txt").write_text("the cat sat\n")
    args = [str(data / "ng.arpa") if a == "ARPA" else str(data / "notarpa.txt") if a == "NOTARPA" else a for a in args]
    for cmd in (["score", "--model", data / "unk", data / "test.txt"],
                ["evaluate", "--model", data / "unk", "--test", data / "test.txt"]):
        if "--carry-context" in args and cmd[0] == "evaluate":
            continue
        status, out, err = run(capsys, *cmd, *args)
        assert status == 2 and msg in err and len(err.strip().splitlines()) == 1 and out == ""


def test_not_a_model_directory(data, capsys, tmp_path):
    status, out, err = run(capsys, "score", "--model", tmp_path, data / "test.txt")
    assert status == 2 and str(tmp_path) in err and len(err.strip().splitlines()) == 1 and out == ""


def test_line_source_reads_pipes_and_files_alike(tmp_path):
    raw = b"\xef\xbb\xbfa b\r\nc\n\nd"
    p = tmp_path / "f.txt"
    p.write_bytes(raw)
    with open(p, "rb") as f:
        from_file = list(LineSource(f, "f"))
    assert from_file == list(LineSource(io.BytesIO(raw), "b")) == [(1, "a b"), (2, "c"), (3, ""), (4, "d")]


def test_stdin_is_answered_line_by_line(data, capsys):
    """An interactive pipe: each line's score comes back before the next line is written."""
    import os
    import select
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    p = subprocess.Popen([sys.executable, "-m", "rnnlab", "score", "--model", str(data / "unk"), "-"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    try:
        got = []
        for line in (b"the cat sat\n", b"a dog ran on the mat\n"):
            p.stdin.write(line)
            p.stdin.flush()
            ready, _, _ = select.select([p.stdout], [], [], 120)
            assert ready, "no answer while the input stayed open"
            got.append(p.stdout.readline())
        p.stdin.close()
        assert p.wait(60) == 0 and p.stdout.read() == b""
    finally:
        p.kill()
    (data / "two.txt").write_text("the cat sat\na dog ran on the mat\n")
    status, out, _ = run(capsys, "score", "--model", data / "unk", data / "two.txt")
    assert status == 0 and b"".join(got).decode() == out


def test_benchmark_case_runs():
    """The n-best benchmark at smoke size: rows well formed (no timing assertion)."""
    import os
    import sys
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks.cases import score
    from benchmarks.harness import Config, Context

    rows = score.run(Context(Config(quick=True, repeats=1, warmup=0, settle=0, memory=False)))
    assert [r.impl for r in rows] == ["Scorer.score", "score --nbest stream"]
    assert all(r.items == 200 and r.timing.median > 0 for r in rows)


def test_dynamic_nbest_adapts_on_each_utterances_best_after_scoring_it(data, capsys):
    f = data / "nbest.txt"
    f.write_text(NBEST)
    _, out, _ = run(capsys, "score", "--model", data / "class", "--nbest", "--dynamic", "0.5", f, "--base", "e")
    got = [float(v) for v in out.splitlines()]
    lm, vocab, _ = load_network(data / "class")
    sc = Scorer(lm, vocab, dynamic=0.5)
    hyps = [line.split()[1:] for line in NBEST.splitlines()]
    want = []
    for group in (hyps[:3], hyps[3:5], hyps[5:]):
        scores = [r.total for r in sc.score(group, adapt=False)]
        want += scores
        sc.adapt(group[int(np.argmax(scores))])
    np.testing.assert_allclose(got, want, atol=2e-6)
    assert got[0] == got[2] and got[4] != got[0]          # within a group the model is fixed; after it, not
