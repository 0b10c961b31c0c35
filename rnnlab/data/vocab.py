"""Vocabulary: tokens <-> integer ids, with the three special tokens of a language model.

    vocab = Vocab.from_counts(count_tokens("train.txt"), max_size=8000)
    ids = vocab.encode(["the", "cat", "zyzzyva"])          # int32, unknown words -> vocab.unk
    vocab.decode(ids)                                      # ["the", "cat", "<unk>"]
    classes = vocab.frequency_classes(90)                  # (V,) class of each id, for output="class"

Ids 0, 1, 2 are always `<unk>`, `<s>`, `</s>` (`vocab.unk`, `vocab.bos`, `vocab.eos`); corpus tokens
follow by decreasing count, ties broken by the token's code points, so a vocabulary is a deterministic
function of the counts.

Size convention: `max_size` counts the specials. `--vocab-size 8000` means 8000 ids, 8000 softmax
outputs: the 7997 most frequent corpus tokens plus `<unk>`, `<s>`, `</s>`. Every other token maps to
`<unk>`, whose count is the total of the tokens it stands for (a literal `<unk>` in the corpus
included). If the corpus has fewer distinct tokens, the vocabulary is smaller (`strict=True` makes
that a DataError instead).

`<s>` is the first input of every sentence and is never predicted; `</s>` is predicted at the end of
every sentence. Perplexity therefore counts each sentence's tokens and its `</s>`, never `<s>`.
`counts[eos]` is the number of sentences and `counts[bos]` is 0.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

import numpy as np

from ..errors import ConfigError, DataError

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
SPECIALS = (UNK, BOS, EOS)
LEVELS = ("word", "char")
_JSON_FORMAT = "rnnlab.vocab"
_JSON_VERSION = 1


class Vocab:
    """An ordered list of distinct tokens; a token's position is its id.

    Args:
        tokens: all tokens, the first three being "<unk>", "<s>", "</s>".
        counts: (V,) corpus counts per id (zeros if not given).
        level: "word" or "char": how `join` puts decoded tokens back together.
    """

    unk, bos, eos = 0, 1, 2

    def __init__(self, tokens: Iterable[str], counts=None, level: str = "word"):
        tokens = list(tokens)
        if tuple(tokens[:3]) != SPECIALS:
            raise DataError(f"a vocabulary must start with {', '.join(SPECIALS)}; got {tokens[:3]}")
        if not all(isinstance(t, str) for t in tokens):
            raise DataError("vocabulary tokens must be strings")
        if level not in LEVELS:
            raise ConfigError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
        self.tokens = tuple(tokens)
        self.index = {t: i for i, t in enumerate(tokens)}
        if len(self.index) != len(tokens):
            dup = next(t for i, t in enumerate(tokens) if self.index[t] != i)
            raise DataError(f"vocabulary lists the token {dup!r} twice")
        counts = np.zeros(len(tokens), np.int64) if counts is None else np.asarray(counts)
        if counts.shape != (len(tokens),) or not np.issubdtype(counts.dtype, np.integer) \
                or (counts < 0).any():
            raise DataError(f"vocabulary counts must be {len(tokens)} non-negative integers")
        self.counts = counts.astype(np.int64)
        self.level = level

    # ---- construction --------------------------------------------------------------------------

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], max_size: int, level: str = "word",
                    min_count: int = 1, strict: bool = False) -> Vocab:
        """The `max_size` - 3 most frequent tokens of `counts` plus the specials (see module docstring).

        `counts` maps token -> count; its `</s>` entry, if any, is the number of sentences (as
        `count_tokens` returns it); `<unk>` counts add to the unknown token; `<s>` is ignored.
        """
        if isinstance(max_size, bool) or not isinstance(max_size, (int, np.integer)) or max_size < 4:
            raise ConfigError(f"vocabulary size must be an integer >= 4 (3 specials + 1 word), "
                              f"not {max_size!r}")
        if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
            raise ConfigError(f"min_count must be an integer >= 1, not {min_count!r}")
        words = [(t, int(c)) for t, c in counts.items() if t not in SPECIALS and c >= min_count]
        words.sort(key=lambda tc: (-tc[1], tc[0]))
        n_words = int(max_size) - len(SPECIALS)
        if strict and len(words) < n_words:
            raise DataError(f"the corpus has only {len(words)} distinct tokens (counted at least "
                            f"{min_count} times), fewer than a vocabulary of {max_size} needs; "
                            f"lower --vocab-size to at most {len(words) + len(SPECIALS)}")
        kept, dropped = words[:n_words], words[n_words:]
        n_unk = int(counts.get(UNK, 0)) + sum(c for _, c in dropped) \
            + sum(int(c) for t, c in counts.items() if t not in SPECIALS and c < min_count)
        tokens = list(SPECIALS) + [t for t, _ in kept]
        cnt = [n_unk, 0, int(counts.get(EOS, 0))] + [c for _, c in kept]
        return cls(tokens, np.array(cnt, np.int64), level)

    @classmethod
    def from_sentences(cls, sentences: Iterable[list[str]], max_size: int, level: str = "word") -> Vocab:
        """Count the sentences' tokens (plus one `</s>` per sentence) and call `from_counts`."""
        from collections import Counter
        counts: Counter = Counter()
        n = 0
        for s in sentences:
            counts.update(s)
            n += 1
        counts[EOS] += n
        return cls.from_counts(counts, max_size, level)

    # ---- lookup --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token) -> bool:
        return token in self.index

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.tokens == other.tokens and self.level == other.level \
            and np.array_equal(self.counts, other.counts)

    __hash__ = None

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, level={self.level!r})"

    def id(self, token: str) -> int:
        """Id of `token`; `unk` for a token outside the vocabulary."""
        return self.index.get(token, self.unk)

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """(N,) int32 ids of `tokens`; unknown tokens -> `unk`."""
        get, unk = self.index.get, self.unk
        toks = tokens if isinstance(tokens, (list, tuple)) else list(tokens)
        return np.fromiter((get(t, unk) for t in toks), dtype=np.int32, count=len(toks))

    def decode(self, ids) -> list[str]:
        """Tokens of an integer id array (any shape, flattened)."""
        ids = np.asarray(ids)
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise DataError(f"token ids must be integers, got dtype {ids.dtype}")
        ids = ids.reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            bad = int(ids[(ids < 0) | (ids >= len(self))][0])
            raise DataError(f"token id {bad} is outside the vocabulary (size {len(self)})")
        toks = self.tokens
        return [toks[i] for i in ids.tolist()]

    def join(self, tokens: Iterable[str]) -> str:
        """Text of decoded tokens: words joined by spaces, characters by nothing."""
        return ("" if self.level == "char" else " ").join(tokens)

    # ---- class-factorised softmax --------------------------------------------------------------

    def frequency_classes(self, n_classes: int) -> np.ndarray:
        """(V,) int64 class of each id for a class-factorised softmax: ``frequency_classes(self.counts,
        n_classes)``. A vocabulary orders its words by decreasing count, so this is frequency binning with
        the three specials at the front; `<s>` (count 0) shares the first class (it is never a target)."""
        return frequency_classes(self.counts, n_classes)

    # ---- serialisation -------------------------------------------------------------------------

    def to_json(self) -> dict:
        """A JSON-able dict (saved in checkpoints); `Vocab.from_json` inverts it."""
        return {"format": _JSON_FORMAT, "version": _JSON_VERSION, "level": self.level,
                "tokens": list(self.tokens), "counts": self.counts.tolist()}

    @classmethod
    def from_json(cls, d) -> Vocab:
        """The Vocab that ``to_json`` wrote.

        Raises:
            DataError: ``d`` is not a vocabulary record of a supported version, or is malformed.
        """
        if not isinstance(d, dict) or d.get("format") != _JSON_FORMAT:
            raise DataError("not an rnnlab vocabulary (expected a dict with format 'rnnlab.vocab')")
        if d.get("version") != _JSON_VERSION:
            raise DataError(f"vocabulary version {d.get('version')!r} is not supported "
                            f"(this rnnlab reads version {_JSON_VERSION})")
        tokens, counts = d.get("tokens"), d.get("counts")
        if not isinstance(tokens, list) or not isinstance(counts, list) or len(tokens) != len(counts) \
                or not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
            raise DataError("vocabulary JSON is malformed: 'tokens' and 'counts' must be lists of "
                            "equal length (strings and integers)")
        return cls(tokens, np.array(counts, np.int64), d.get("level", "word"))

    def fingerprint(self) -> str:
        """A hex digest of the tokens and level (names encoded caches; counts do not matter)."""
        blob = json.dumps([self.level, list(self.tokens)], ensure_ascii=False).encode("utf-8",
                                                                                       "surrogatepass")
        return hashlib.sha256(blob).hexdigest()


def frequency_classes(counts, n_classes: int) -> np.ndarray:
    """(V,) int64 class of each id for a class-factorised softmax; every class is non-empty. The one rule
    of rnnlab: ``Vocab.frequency_classes`` (what ``rnnlab train --output class`` uses) and
    ``rnnlab.lm.default_classes`` both call it.

    Ids are walked in order and cut into `n_classes` consecutive bins of about equal sqrt-frequency
    mass, as in Mikolov's RNNLM toolkit (its default since 0.3e):
        m_i = sqrt(c_i) / sum_j sqrt(c_j),   class_i = floor(n_classes * sum_{j before i} m_j),
    then adjusted so no class is empty (a class never holds more than its share allows, and one very
    frequent token fills its class alone). With ids ordered by decreasing count (as a Vocab orders
    them), frequent tokens sit in small classes and rare ones in large classes. Every class is a run of
    consecutive ids, which lets the class softmax slice the decoder instead of gathering rows
    (``ClassSoftmax.contiguous``). All-zero counts bin the ids evenly.

    Args:
        counts: (V,) non-negative finite counts (or any frequency profile), in id order.
        n_classes: an integer in 1..V.
    Raises:
        ConfigError: counts that are not (V,) non-negative finite numbers, or n_classes outside 1..V.
    """
    c = np.asarray(counts)
    if c.ndim != 1 or c.size == 0 or not (np.issubdtype(c.dtype, np.integer) or np.issubdtype(c.dtype, np.floating)):
        raise ConfigError(f"class counts must be a non-empty (V,) array of numbers, got shape {c.shape}, "
                          f"dtype {c.dtype}")
    c = c.astype(np.float64)
    if not np.isfinite(c).all() or (c < 0).any():
        raise ConfigError("class counts must be non-negative finite numbers")
    V = len(c)
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or not 1 <= n_classes <= V:
        raise ConfigError(f"number of classes must be an integer in 1..{V} (the vocabulary size), "
                          f"not {n_classes!r}")
    n = int(n_classes)
    mass = np.sqrt(c)                                        # (V,) in id order
    mass = mass / mass.sum() if mass.sum() > 0 else np.full(V, 1.0 / V)
    before = np.concatenate([[0.0], np.cumsum(mass)[:-1]])   # mass strictly before each id
    raw = np.minimum(np.floor(before * n).astype(np.int64), n - 1)
    rank = np.arange(V)
    # Id r may not exceed class r (earlier classes need a token each) nor fall below n - (V - r) (later
    # classes need one each); then no class may be skipped.
    x = np.clip(raw, n - V + rank, rank)
    return rank + np.minimum.accumulate(x - rank)            # c_r = min(x_r, c_{r-1} + 1)
