"""`rnnlab evaluate --stream` (the state carried across sentences) and the vocabulary of a corpus that has
its own <unk>."""
import json

import numpy as np

from rnnlab.cli import main
from rnnlab.data import Vocab, encode_sentences
from rnnlab.lm import LanguageModel
from rnnlab.stream_eval import evaluate_stream

WORDS = "the cat dog sat ran on a mat log big small red".split()


def corpus(path, n=120, seed=0, unk=False):
    rng = np.random.default_rng(seed)
    lines = [" ".join(rng.choice(WORDS + (["<unk>"] if unk else []), size=rng.integers(3, 9))) for _ in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    return status, capsys.readouterr().out


def test_stream_evaluation_carries_the_state_and_counts_every_target_once():
    """Against a plain loop: one stream, one token at a time, the state never reset."""
    rng = np.random.default_rng(0)
    vocab = Vocab(["<unk>", "<s>", "</s>", *WORDS])
    sents = [list(rng.choice(WORDS, size=rng.integers(2, 6))) for _ in range(9)]
    c = encode_sentences(sents, vocab)
    lm = LanguageModel(len(vocab), 6, cell="gru", dtype=np.float64, seed=1)
    r = evaluate_stream(lm, c, streams=1, chunk=4)
    total, n, h = 0.0, 0, None
    for s in sents:
        ids = [vocab.bos, *vocab.encode(s), vocab.eos]
        for a, b in zip(ids[:-1], ids[1:]):
            loss, h, _ = lm.loss(np.array([[a]]), np.array([[b]]), h0=h)
            total += loss
            n += 1
    assert r["tokens"] == n == c.n_predicted
    assert abs(r["cross_entropy"] - total / n) < 1e-12
    r4 = evaluate_stream(lm, c, streams=4, chunk=3)      # parallel streams: every target still counted once
    assert r4["tokens"] == n


def test_evaluate_says_which_context_and_follows_the_training(tmp_path, capsys):
    train, valid = corpus(tmp_path / "t.txt"), corpus(tmp_path / "v.txt", 30, seed=1)
    base = ["train", "--train", train, "--valid", valid, "--format", "lines", "--hidden", "8", "--epochs", "1",
            "--quiet", "--no-report", "--batch-size", "4"]
    assert run(capsys, *base, "--out", tmp_path / "s")[0] == 0
    assert run(capsys, *base, "--stream", "--bptt-chunk", "5", "--out", tmp_path / "st")[0] == 0
    _, out = run(capsys, "evaluate", "--model", tmp_path / "s", "--test", valid)
    assert out.strip().endswith("sentence by sentence")
    _, out = run(capsys, "evaluate", "--model", tmp_path / "st", "--test", valid)
    assert out.strip().endswith("state carried across sentences")
    _, a = run(capsys, "evaluate", "--model", tmp_path / "s", "--test", valid, "--stream", "--json")
    _, b = run(capsys, "evaluate", "--model", tmp_path / "s", "--test", valid, "--json")
    a, b = json.loads(a), json.loads(b)
    assert a["stream"] and not b["stream"] and a["tokens"] == b["tokens"]
    assert a["perplexity"] != b["perplexity"]


def test_closed_vocabulary_keeps_every_word_and_the_cap_says_what_it_folded(tmp_path, capsys):
    closed = corpus(tmp_path / "c.txt", unk=True)
    status, out = run(capsys, "train", "--train", closed, "--format", "lines", "--hidden", "4", "--epochs", "1",
                      "--quiet", "--no-report", "--out", tmp_path / "c")
    assert status == 0 and f"vocabulary {len(WORDS) + 3}" in out and "has its own <unk>" in out
    status, out = run(capsys, "train", "--train", corpus(tmp_path / "o.txt"), "--format", "lines", "--hidden",
                      "4", "--epochs", "1", "--quiet", "--no-report", "--vocab-size", "8", "--out", tmp_path / "o")
    assert status == 0 and "vocabulary 8 (7 word types folded into <unk>)" in out
