"""N-best rescoring: ``rnnlab score --nbest`` on 10,000 hypotheses of about 20 words (1,000 utterances of
10 hypotheses, each a copy of the utterance's sentence with one word changed), with a hidden-100 class
model over V = 8000 (90 frequency classes), on one core. Target: under 2 s for the 10,000.

Two rows: ``Scorer.score`` on word lists (the network and the bookkeeping), and the whole stream of the
command (bytes in, n-best lines parsed, scored, formatted lines out). A fresh Scorer each call: its memory
of sentences already scored would otherwise make every repeat free.
"""
from __future__ import annotations

import io

import numpy as np

from ..harness import Context, Row, compare


def nbest_setup(V: int = 8000, H: int = 100, n_utt: int = 1000, n_hyp: int = 10, seed: int = 0):
    """(lm, vocab, hypotheses as word lists, the same as n-best text bytes): Zipf words, 15-25 per sentence."""
    from rnnlab.data import Vocab
    from rnnlab.lm import LanguageModel

    rng = np.random.default_rng(seed)
    counts = np.r_[10, 0, n_utt, (1e6 / np.arange(1, V - 2)).astype(np.int64) + 1]
    vocab = Vocab(["<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(V - 3)], counts)
    lm = LanguageModel(V, H, output="class", class_of_word=vocab.frequency_classes(min(90, V // 2)),
                       dtype=np.float32, seed=seed)
    p = 1.0 / np.arange(1, V - 2)
    p /= p.sum()
    hyps, lines = [], []
    for u in range(n_utt):
        base = [f"w{i}" for i in rng.choice(V - 3, size=rng.integers(15, 26), p=p)]
        for _ in range(n_hyp):
            h = list(base)
            h[rng.integers(len(h))] = f"w{rng.choice(V - 3, p=p)}"
            hyps.append(h)
            lines.append(f"utt{u} " + " ".join(h))
    return lm, vocab, hyps, ("\n".join(lines) + "\n").encode()


def scorer_step(V=8000, H=100, n_utt=1000, n_hyp=10):
    from rnnlab.scoring import Scorer

    lm, vocab, hyps, _ = nbest_setup(V, H, n_utt, n_hyp)
    return lambda: Scorer(lm, vocab).score(hyps)


def stream_step(V=8000, H=100, n_utt=1000, n_hyp=10):
    from rnnlab.pipeline import DataConfig
    from rnnlab.scoring import Scorer
    from rnnlab.scoring.lines import LineSource
    from rnnlab.scoring.stream import score_stream

    lm, vocab, _, text = nbest_setup(V, H, n_utt, n_hyp)
    dcfg = DataConfig(format="lines")

    def step():
        out = io.StringIO()
        write = lambda lineno, key, r: out.write(f"{r.total / np.log(10):.6f}\n")  # noqa: E731
        score_stream(LineSource(io.BytesIO(text), "nbest"), Scorer(lm, vocab), dcfg, write, nbest=True)
        return out

    return step


def run(ctx: Context) -> list:
    from threadpoolctl import threadpool_limits

    cfg = ctx.config
    V, H, n_utt = cfg.pick((8000, 100, 1000), (200, 16, 20))
    kw = dict(V=V, H=H, n_utt=n_utt, n_hyp=10)
    with threadpool_limits(limits=1):
        timings = compare({"Scorer.score": scorer_step(**kw), "score --nbest stream": stream_step(**kw)}, cfg)
    case = f"n-best rescoring, {10 * n_utt} hypotheses of ~20 words, class LM V={V} H={H}, 1 thread"
    return [Row(case, impl, t, items=10 * n_utt, item_unit="hyps/s", note="target < 2 s")
            for impl, t in timings.items()]
