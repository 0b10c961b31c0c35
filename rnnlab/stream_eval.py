"""Perplexity with the state carried across sentences, as the standard benchmarks report it (Zaremba et
al. 2014 and most papers since; Mikolov's rnnlm without ``-independent``).

The test corpus is read as one stream (every sentence's words and its </s> are targets; the input after a
</s> is <s>, as in training with ``--stream``), cut into B parallel streams that are read chunk by chunk,
the state of each chunk entering the next. Every target counts once, as in sentence-by-sentence evaluation,
so the two perplexities compare directly; only the context differs.
"""
from __future__ import annotations

STREAMS = 16   # parallel streams: each starts from the zero state once, so few of them, but enough for speed
CHUNK = 50     # steps per chunk (state carried; no gradient, so the length only trades memory for calls)


def evaluate_stream(lm, corpus, streams: int = STREAMS, chunk: int = CHUNK) -> dict:
    """{'cross_entropy', 'perplexity', 'tokens'} of ``lm`` on an EncodedCorpus read as ``streams`` streams
    whose state carries from chunk to chunk (fewer streams for a corpus with fewer targets)."""
    from .data import stream_batches
    from .training.loop import evaluate

    B = max(1, min(streams, corpus.n_predicted // 2))
    return evaluate(lm, stream_batches(corpus, B, chunk), carry=True)
