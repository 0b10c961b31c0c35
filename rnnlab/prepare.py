"""Data preparation: files -> vocabulary -> encoded corpora -> the batches the trainer reads.

    from rnnlab.prepare import DataConfig, prepare_data, SentenceData
    vocab, train, valid = prepare_data(DataConfig(train="corpus.txt", format="lines"), "runs/lm/cache")
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .config import ConfigMixin
from .errors import ConfigError, DataError
from .training.step import Batch

EVAL_BATCH = 64
DEFAULT_VOCAB = 8000  # the vocabulary cap of a corpus without its own <unk>


@dataclass
class DataConfig(ConfigMixin):
    """Where the text comes from and how it is read (the data flags of ``rnnlab train``); saved in every
    checkpoint so that evaluation and sampling read text the same way.

    Raises:
        ConfigError: a vocabulary below 4 or a validation fraction outside (0, 0.5).
    """

    _what = "data configuration"

    train: str = "builtin:agreement"  # a file, or builtin:agreement
    valid: str | None = None          # None: the builtin's valid split, or the last 5% of the training sentences
    format: str = "text"              # text | lines | csv | jsonl
    column: str | None = None         # csv: the text column
    field: str = "text"               # jsonl: the text field
    level: str = "word"               # word | char
    vocab_size: int | None = None     # ids including <unk>, <s>, </s>; None: every word of a corpus with its
    #                                   own <unk> (a closed vocabulary), else DEFAULT_VOCAB
    errors: str = "strict"            # strict | replace: what to do with bytes that are not UTF-8
    skip_bad_lines: bool = False      # jsonl/csv: skip malformed lines instead of stopping
    lowercase: bool | None = None     # None: lower-case word-level prose, keep `lines` as they are
    valid_fraction: float = 0.05      # held-out share of the training sentences when no valid set is given

    def __post_init__(self):
        if self.vocab_size is not None and self.vocab_size < 4:
            raise ConfigError(f"vocab-size must be at least 4 (three special tokens and a word), got {self.vocab_size}")
        if not 0 < self.valid_fraction < 0.5:
            raise ConfigError("valid-fraction must lie in (0, 0.5)")

    def read_options(self):
        """The keyword arguments of ``rnnlab.data.iter_sentences`` and ``rnnlab.data.encode_file``."""
        return {"format": self.format, "level": self.level, "column": self.column, "field": self.field,
                "errors": self.errors, "skip_bad_lines": self.skip_bad_lines, "lowercase": self.lowercase}



# -- data behind the trainer ---------------------------------------------------------------------------


class SentenceData:
    """Sentences as independent sequences, bucketed by length, reshuffled every epoch (seeded)."""

    stream = False

    def __init__(self, train, valid, batch_size, seed):
        self.train, self.valid, self.batch_size, self.seed = train, valid, batch_size, seed
        self._n = {}

    def epoch_batches(self, epoch, start=0, stride=1):
        """The batches start, start + stride, ... of ``epoch`` (Batch objects, (T, B) each); the order is
        a function of (seed, epoch). Only these are built (a Hogwild worker reads every stride-th)."""
        from .data import sentence_batches
        for x, y in sentence_batches(self.train, self.batch_size, rng=(self.seed, epoch), start=start, step=stride):
            yield Batch(x, y)

    def n_batches(self, epoch):
        """Batches per epoch."""
        from .data import n_sentence_batches
        return n_sentence_batches(self.train, self.batch_size)

    def valid_batches(self):
        """The validation sentences in batches of ``EVAL_BATCH``, in order."""
        return eval_batches(self.valid)

    def probe_batch(self):
        """The validation batch of the longest sentences: where the gradient's reach shows."""
        from .data import sentence_batches
        return max(sentence_batches(self.valid, 32, shuffle=False), key=lambda b: b[0].shape[0])


class StreamData:
    """The corpus as one stream, as the classic RNNLM toolkits read it, cut into B parallel streams.

    Targets are every token with a </s> after each sentence; the input after a </s> is <s>, so each
    sentence is read exactly as in sentence mode, but the state flows on from the sentence before. Each
    update runs forward over a window of k2 steps that ends k1 steps after the previous one and learns from
    its last k1 outputs: TBPTT(k1, k2) of Williams & Peng (1990). With k2 = k1 the windows do not overlap.
    Each window is read from the (memory-mapped) corpus when it is needed (``data.stream_window``), so
    memory does not grow with the corpus.
    """

    stream = True

    def __init__(self, train, valid, batch_size, k1, k2=None):
        self.train, self.valid, self.B, self.k1 = train, valid, batch_size, k1
        self.k2 = k2 or k1
        M = train.n_predicted
        if M < 2 * batch_size:
            raise DataError(f"the training corpus ({M} targets) is too small for {batch_size} parallel streams; "
                            f"lower --batch-size to at most {M // 2}")
        self.L = -(-M // batch_size)                                   # ceil: only the last stream is padded

    def _windows(self):
        """(s, p, e, s'): window [s, e) learns from outputs [p, e); the next window starts at s'."""
        overlap = self.k2 - self.k1
        for p in range(0, self.L, self.k1):
            yield max(0, p - overlap), p, min(p + self.k1, self.L), max(0, p + self.k1 - overlap)

    def epoch_batches(self, epoch, start=0, stride=1):
        """The windows of an epoch from window ``start`` on, as Batch objects: x, y (T <= k2, B), targets
        already learnt from in the previous window -1; ``carry_from``, the step whose state enters the
        next window; ``continues``, False for the first window (the streams start from zeros). The same
        every epoch. Windows hand their state on, so they are read in order (``stride`` must be 1)."""
        from .data import stream_window

        if stride != 1:
            raise ConfigError("stream windows carry the state from one to the next: read them in order")
        for i, (s, p, e, s_next) in enumerate(self._windows()):
            if i < start:
                continue
            x, y = stream_window(self.train, self.B, s, e)
            y[: p - s] = -1             # outputs already learnt from in the previous window
            # the state entering s' (-1: this window's own entering state); the last window has no next one
            yield Batch(x, y, carry_from=min(s_next - 1 - s, e - s - 1), continues=i > 0)

    def n_batches(self, epoch):
        """Windows per epoch: ceil(L / k1) for streams of length L."""
        return -(-self.L // self.k1)

    def valid_batches(self):
        """The validation sentences in batches of ``EVAL_BATCH``, in order (sentences, not a stream)."""
        return eval_batches(self.valid)

    def probe_batch(self):
        """60 steps of 4 validation streams, the state carried across sentences as in training."""
        from .data import stream_batches
        return next(stream_batches(self.valid, 4, 60))


def eval_batches(corpus):
    """The sentences of an EncodedCorpus as (x, y) batches of ``EVAL_BATCH``, unshuffled."""
    from .data import sentence_batches
    return sentence_batches(corpus, EVAL_BATCH, shuffle=False)


# -- building ------------------------------------------------------------------------------------------


def _split_valid(corpus, fraction):
    """Hold out the last `fraction` of the sentences (at least one) as a validation corpus."""
    from .data import EncodedCorpus

    S = corpus.n_sentences
    if S < 2:
        raise DataError(f"{corpus.source}: only {S} sentence; give a validation file with --valid")
    k = max(1, int(round(S * fraction)))
    cut = S - k
    o = np.asarray(corpus.offsets)
    train = EncodedCorpus(corpus.tokens[: o[cut]], o[: cut + 1], corpus.vocab, corpus.source, {})
    valid = EncodedCorpus(corpus.tokens[o[cut]:], o[cut:] - o[cut], corpus.vocab, corpus.source + " (held out)", {})
    return train, valid


def skipped_lines_note(corpus) -> str | None:
    """One line saying how many bad lines reading ``corpus`` (an EncodedCorpus) skipped, and the first one:
    "train.jsonl: 3 bad lines skipped (first: line 7: not valid JSON ...)"; None when none were skipped.
    The counts come from the reading pass, kept in the encoding cache, so a cached corpus reports them too."""
    stats = corpus.stats or {}
    k = int(stats.get("skipped_lines", 0))
    if not k:
        return None
    bad = stats.get("bad_lines") or []
    first = f" (first: line {bad[0][0]}: {bad[0][1]})" if bad else ""
    return f"{corpus.source}: {k} bad line{'s' if k > 1 else ''} skipped{first}"


def prepare_data(dcfg: DataConfig, cache_dir, log=print):
    """(vocab, train corpus, valid corpus). Logs one line per corpus that had bad lines skipped
    (``skip_bad_lines``), then one line about the data."""
    from .data import builtin_split, encode_file, is_builtin

    opts = dcfg.read_options()
    t0 = time.perf_counter()
    vocab, vocab_note = _vocabulary(dcfg, cache_dir, opts)
    train = encode_file(dcfg.train, vocab, cache_dir=str(cache_dir), **opts)
    read = [train]
    if dcfg.valid is not None:
        valid = encode_file(dcfg.valid, vocab, cache_dir=str(cache_dir), **opts)
        read.append(valid)
    elif is_builtin(dcfg.train):
        valid = encode_file(builtin_split(dcfg.train, "valid"), vocab, cache_dir=str(cache_dir), **opts)
    else:
        train, valid = _split_valid(train, dcfg.valid_fraction)
    for note in filter(None, map(skipped_lines_note, read)):
        log(note)
    log(f"data: {train.n_sentences} training sentences ({train.n_predicted} predicted tokens), "
        f"{valid.n_sentences} validation sentences, vocabulary {len(vocab)} ({vocab_note}) "
        f"({time.perf_counter() - t0:.1f} s)")
    return vocab, train, valid


def _vocabulary(dcfg: DataConfig, cache_dir, opts):
    """(Vocab, a note for the data line): ``vocab_size`` ids; without one, every word of a corpus that has
    its own <unk> (it folded its rare words itself, as PTB and WikiText do), else ``DEFAULT_VOCAB``."""
    from .data import Vocab, count_tokens

    counts = count_tokens(dcfg.train, str(cache_dir), **opts)
    types = sum(1 for t in counts if t not in ("<unk>", "<s>", "</s>"))
    closed = counts.get("<unk>", 0) > 0
    size = dcfg.vocab_size or (types + 3 if closed else DEFAULT_VOCAB)
    vocab = Vocab.from_counts(counts, size, level=opts.get("level") or "word")
    folded = types - (len(vocab) - 3)
    if closed and not dcfg.vocab_size:
        return vocab, f"all {types} word types kept: the corpus has its own <unk>"
    return vocab, f"{folded} word types folded into <unk>" if folded > 0 else "every word type kept"
