"""Batches of an EncodedCorpus: (x, y) int64 arrays of shape (T, B), time-major; y == -1 is padding.

Sentence batches (each column one sentence, the state starts at zero):

    for x, y in sentence_batches(corpus, 32, rng=(seed, epoch)):     # x, y: (T, B), T = longest + 1
        ...
    x[:, b] = <s> w1 .. wn  [pad]          y[:, b] = w1 .. wn </s>  [-1 ...]

Stream batches (the corpus as one stream, cut into B parallel streams; carry the state across chunks):

    for x, y in stream_batches(corpus, 32, chunk=35):                # x, y: (T <= 35, B)
        ...
    stream = w1 .. wn </s> v1 .. vm </s> ...      (the targets; every token and every </s> once)
    x[t] = the previous target, except <s> at the start and after each </s>

So in both modes the model reads <s> where a sentence begins, never reads </s>, and never has to
predict <s>; a pass predicts `corpus.n_predicted` targets. Padding: y = -1, x = </s> (any valid id:
its outputs are masked).

Bucketing (sentence batches): the shuffled sentences are cut into pools of `pool` batches, each pool
is sorted by length and cut into batches, and the batch order is shuffled; a batch thus holds
sentences of similar length (little padding) while every epoch differs. Only the epoch's last batch
may be smaller than B. `max_len` caps T: a longer sentence (n + 1 targets) is cut into pieces of at
most `max_len` targets, each batched as its own sequence starting from a zero state, so a piece after
the first loses its left context (the first input of a piece is the true previous token).

Reproducibility and resuming: the batches are a pure function of (corpus, options, rng seed). Pass
`rng` as a seed, e.g. (seed, epoch); `start=k` resumes at batch (or chunk) k of that epoch, giving
exactly the batches a full run gives from k on. Stream batches do not shuffle: every epoch is the
same stream, and a resumed run must restore the carried state saved with batch index k.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DataError
from .encode import EncodedCorpus


def _check_pos_int(name: str, v, lo: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ConfigError(f"{name} must be an integer >= {lo}, not {v!r}")
    return int(v)


def _check_corpus(corpus) -> None:
    if not isinstance(corpus, EncodedCorpus):
        raise ConfigError(f"expected an EncodedCorpus, got {type(corpus).__name__}")
    if corpus.n_sentences == 0:
        raise DataError(f"{corpus.source or 'corpus'}: no sentences to batch")


def _gather(tokens: np.ndarray, idx: np.ndarray, use: np.ndarray, fill: int) -> np.ndarray:
    """tokens[idx] where `use`, else `fill`; safe when `tokens` is empty or idx is out of range."""
    out = np.full(idx.shape, fill, np.int64)
    if use.any():
        out[use] = tokens[idx[use]]
    return out


# ---- sentence batches ----------------------------------------------------------------------------

def sentence_segments(corpus: EncodedCorpus, max_len: int | None = None):
    """The sequences to batch: (sentence, first target position, number of targets), each (M,) int64.

    Without `max_len` a sentence is one sequence of n + 1 targets; with it, pieces of <= max_len."""
    n_targets = corpus.lengths + 1                                   # (S,) words + </s>
    S = len(n_targets)
    if max_len is None:
        return np.arange(S, dtype=np.int64), np.zeros(S, np.int64), n_targets.astype(np.int64)
    L = _check_pos_int("max_len", max_len)
    pieces = -(-n_targets // L)                                      # ceil
    sent = np.repeat(np.arange(S, dtype=np.int64), pieces)
    first = np.cumsum(pieces) - pieces                               # first piece of each sentence
    begin = (np.arange(len(sent)) - np.repeat(first, pieces)) * L
    return sent, begin, np.minimum(L, n_targets[sent] - begin)


def n_sentence_batches(corpus: EncodedCorpus, batch_size: int, max_len: int | None = None) -> int:
    """Batches per epoch of `sentence_batches` with these options."""
    _check_corpus(corpus)
    B = _check_pos_int("batch_size", batch_size)
    return -(-len(sentence_segments(corpus, max_len)[0]) // B)


def batch_plan(lengths: np.ndarray, batch_size: int, rng, shuffle: bool = True, bucket: bool = True,
               pool: int = 50) -> list[np.ndarray]:
    """Split sequence indices 0..M-1 (with these lengths) into batches; see the module docstring."""
    M, B = len(lengths), batch_size
    gen = np.random.default_rng(rng)
    order = gen.permutation(M) if shuffle else np.arange(M)
    if bucket:
        if shuffle:
            size = B * _check_pos_int("pool", pool)
            order = np.concatenate([p[np.argsort(lengths[p], kind="stable")]
                                    for p in np.split(order, range(size, M, size))])
        else:
            order = np.argsort(lengths, kind="stable")
    batches = np.split(order, range(B, M, B))
    if shuffle and bucket:
        batches = [batches[i] for i in gen.permutation(len(batches))]
    return batches


def make_sentence_batch(corpus: EncodedCorpus, sent: np.ndarray, begin: np.ndarray,
                        n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of shape (T, B) for B sequences: sentence ids, first target positions, target counts."""
    v = corpus.vocab
    T = int(n.max())
    t = np.arange(T)[:, None]                                        # (T, 1)
    p = begin[None, :] + t                                           # (T, B) target position
    valid = t < n[None, :]                                           # (T, B)
    length = corpus.lengths[sent][None, :]                           # (1, B) words per sentence
    off = corpus.offsets[:-1][sent][None, :]                         # (1, B)
    word = valid & (p < length)                                      # target is a word, not </s>
    y = _gather(corpus.tokens, off + p, word, v.eos)                 # (T, B)
    y[~valid] = -1
    x = _gather(corpus.tokens, off + p - 1, valid & (p > 0), v.bos)  # previous word, or <s>
    x[~valid] = v.eos
    return x, y


def sentence_batches(corpus: EncodedCorpus, batch_size: int, rng=0, shuffle: bool = True,
                     bucket: bool = True, max_len: int | None = None, start: int = 0, pool: int = 50,
                     step: int = 1):
    """Iterate over one epoch of sentence batches (x, y), each (T, B) int64; see the module docstring.

    Args:
        rng: seed (int or tuple such as (seed, epoch)) or np.random.Generator; drives shuffling.
        shuffle: shuffle sentences and batch order; bucket: group sentences of similar length.
        max_len: cap on T (longer sentences are cut into pieces); start: first batch index to yield.
        step: yield the batches start, start + step, ... only (the others are not built).
    """
    _check_corpus(corpus)
    B = _check_pos_int("batch_size", batch_size)
    sent, begin, n = sentence_segments(corpus, max_len)
    plan = batch_plan(n, B, rng, shuffle, bucket, pool)
    start = _check_pos_int("start", start, 0)
    step = _check_pos_int("step", step)
    if start > len(plan):
        raise ConfigError(f"start batch {start} is past the end of the epoch ({len(plan)} batches)")
    for idx in plan[start::step]:
        yield make_sentence_batch(corpus, sent[idx], begin[idx], n[idx])


# ---- stream batches ------------------------------------------------------------------------------

def _stream_geometry(corpus: EncodedCorpus, batch_size: int, chunk: int) -> tuple[int, int, int]:
    _check_corpus(corpus)
    B = _check_pos_int("batch_size", batch_size)
    _check_pos_int("chunk", chunk)
    N = corpus.n_predicted
    if N < B:
        raise DataError(f"{corpus.source or 'corpus'}: {N} tokens are too few for {B} parallel streams; "
                        f"lower --batch-size to at most {N}")
    L = -(-N // B)                                                   # stream length (last one padded)
    return N, L, -(-L // chunk)


def n_stream_chunks(corpus: EncodedCorpus, batch_size: int, chunk: int) -> int:
    """Chunks per epoch of `stream_batches`."""
    return _stream_geometry(corpus, batch_size, chunk)[2]


def stream_targets(corpus: EncodedCorpus, pos: np.ndarray) -> np.ndarray:
    """Token at each position of the stream w1 .. wn </s> v1 .. </s> (positions < n_predicted)."""
    starts = corpus.stream_starts                                    # (S,) stream start of sentence s
    s = np.searchsorted(starts, pos, side="right") - 1
    q = pos - starts[s]                                              # position inside the sentence
    word = q < corpus.lengths[s]
    return _gather(corpus.tokens, corpus.offsets[:-1][s] + q, word, corpus.vocab.eos)


def _stream_steps(corpus: EncodedCorpus, B: int, L: int, N: int, t0: int, t1: int):
    """(x, y), each (t1 - t0, B) int64: steps t0 .. t1-1 of the B parallel streams of length L."""
    v = corpus.vocab
    col = np.arange(B, dtype=np.int64)[None, :] * L                  # (1, B)
    pos = col + np.arange(t0, t1, dtype=np.int64)[:, None]           # (T, B) stream positions
    valid = pos < N
    y = np.full(pos.shape, -1, np.int64)
    y[valid] = stream_targets(corpus, pos[valid])
    prev = (pos >= 1) & valid
    x = np.full(pos.shape, v.bos, np.int64)
    x[prev] = stream_targets(corpus, pos[prev] - 1)
    x[x == v.eos] = v.bos                                            # a sentence starts after </s>
    x[~valid] = v.eos
    return x, y


def stream_window(corpus: EncodedCorpus, batch_size: int, begin: int, end: int):
    """(x, y), each (end - begin, B) int64: steps begin .. end-1 of the streams of `stream_batches` (any
    window, for chunked training whose windows overlap). Reads only those positions of the corpus."""
    N, L, _ = _stream_geometry(corpus, batch_size, 1)
    if not 0 <= begin < end <= L:
        raise ConfigError(f"stream window [{begin}, {end}) is not inside the streams' {L} steps")
    return _stream_steps(corpus, int(batch_size), L, N, int(begin), int(end))


def stream_batches(corpus: EncodedCorpus, batch_size: int, chunk: int, start: int = 0):
    """Iterate over one epoch of stream chunks (x, y), each (T <= chunk, B) int64 (module docstring).

    Stream b holds targets b*L .. (b+1)*L - 1 of the whole stream, L = ceil(n_predicted / B); only
    the last stream can end in padding. Raises DataError if the corpus has fewer targets than B.
    """
    N, L, n_chunks = _stream_geometry(corpus, batch_size, chunk)
    start = _check_pos_int("start", start, 0)
    if start > n_chunks:
        raise ConfigError(f"start chunk {start} is past the end of the epoch ({n_chunks} chunks)")
    for k in range(start, n_chunks):
        yield _stream_steps(corpus, int(batch_size), L, N, k * chunk, min((k + 1) * chunk, L))
