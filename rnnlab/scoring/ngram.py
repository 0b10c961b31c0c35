"""ARPA back-off n-gram models (the text format SRILM, KenLM and IRSTLM write): read one, and give the
log10 probability of each word of a sentence, its ``</s>`` included.

    ng = ArpaModel.read("model.arpa")            # or model.arpa.gz
    ng.sentence_log10(["the", "cat", "sat"])     # (4,) float64: the, cat, sat, </s>; nan for an OOV

Back-off (Katz 1987), for a history h = (w_1 .. w_k) cut to the model's order - 1 last words:

    log10 p(w | h) = logp(h w)                        if the n-gram "h w" is listed
                   = bow(h) + log10 p(w | w_2 .. w_k)  otherwise (bow(h) = 0 when h is not listed)

down to the unigram logp(w). A word without a unigram is the model's ``<unk>`` when it lists one (in
histories too, as KenLM reads it); otherwise it is out of vocabulary: its probability is nan, and the
caller applies its OOV policy. Histories start with ``<s>``, which is never predicted.

Why not KenLM's Python module: it ships only as source (``pip install kenlm`` compiles C++), which not
every machine can do; this reader needs nothing but the standard library. It holds the model in Python
dicts, which suits models up to a few million n-grams; for larger ones, prune or use KenLM.
"""
from __future__ import annotations

import gzip
import math
import os
import re

import numpy as np

from ..errors import DataError

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
_COUNT = re.compile(r"^ngram\s+(\d+)\s*=\s*(\d+)$")
_SECTION = re.compile(r"^\\(\d+)-grams:$")


def _read_text(path: str) -> list[str]:
    """The lines of a UTF-8 file, gzip-compressed when its name ends in .gz; DataError naming the file (and
    the line, for bytes that are not UTF-8). Read whole: one decode and one split are far faster than a
    loop over lines, and an ARPA file this reader suits fits in memory anyway."""
    from ..data.reader import check_file

    check_file(path)
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            with open(path, "rb") as f:
                raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read it ({e}); give an ARPA file (.arpa or .arpa.gz)") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 (line {line}); an ARPA file is UTF-8 text") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.split("\n")


def _skip_blank(lines, i):
    while i < len(lines) and not lines[i].strip():
        i += 1
    return i


def _read_section(lines, i, n, path, words, prob, bow):
    """Parse the n-gram lines from line index i to the next line starting with a backslash into prob and
    bow (and words, for n = 1). Returns (index of that line, entries read)."""
    k = 0
    get = words.__getitem__
    while i < len(lines):
        fields = lines[i].split()
        if not fields:
            i += 1
            continue
        if fields[0].startswith("\\"):
            break
        if not n < len(fields) < n + 3:
            raise DataError(f"{path}:{i + 1}: a {n}-gram line needs a log10 probability, {n} words and an "
                            f"optional back-off weight; got {len(fields)} fields")
        try:
            lp = float(fields[0])
            bo = float(fields[n + 1]) if len(fields) == n + 2 else 0.0
            if n == 1:
                words.setdefault(fields[1], len(words))
            key = tuple(map(get, fields[1:n + 1]))
        except ValueError:
            raise DataError(f"{path}:{i + 1}: a number was expected (log10 probability, back-off weight), "
                            f"got {lines[i].strip()[:40]!r}") from None
        except KeyError as e:
            raise DataError(f"{path}:{i + 1}: the word {e.args[0]!r} has no unigram; the file is damaged") from None
        if not (lp <= 0 and math.isfinite(bo)):
            raise DataError(f"{path}:{i + 1}: log10 probability {lp} or back-off {bo} out of range")
        prob[key] = lp
        if bo != 0.0:
            bow[key] = bo
        k += 1
        i += 1
    return i, k


class ArpaModel:
    """A back-off n-gram model. ``words`` maps a word to its id; ``prob`` and ``bow`` map a tuple of ids to
    a log10 probability and a log10 back-off weight (``prob`` keys are n-grams, ``bow`` keys histories)."""

    def __init__(self, words: dict, prob: dict, bow: dict, order: int, source: str = "<memory>"):
        self.words, self.prob, self.bow, self.order, self.source = words, prob, bow, order, source
        self.unk = words.get(UNK)          # None: no <unk>, unknown words are OOV
        self.bos = words.get(BOS, -1)      # -1 matches no n-gram: the history backs off past it

    @property
    def has_unk(self) -> bool:
        """Whether the model gives unknown words the probability of its <unk>."""
        return self.unk is not None and (self.unk,) in self.prob

    def __repr__(self):
        counts = [sum(1 for k in self.prob if len(k) == n) for n in range(1, self.order + 1)]
        return f"ArpaModel(order={self.order}, ngrams={counts}, source={self.source!r})"

    # -- reading -------------------------------------------------------------------------------------

    @classmethod
    def read(cls, path) -> ArpaModel:
        """Read an ARPA file (gzip-compressed if its name ends in .gz).

        Raises:
            DataError: the file is missing, not UTF-8, not ARPA, or its sections disagree with its header;
                the message names the file and line.
        """
        p = os.fspath(path)
        lines = _read_text(p)
        counts, words, prob, bow = {}, {}, {}, {}
        i = _skip_blank(lines, 0)
        if i == len(lines) or lines[i].strip() != "\\data\\":
            got = lines[i].strip()[:40] if i < len(lines) else "nothing"
            raise DataError(f"{p}:{i + 1}: not an ARPA file (expected the line '\\data\\', got {got!r}); give "
                            "an n-gram model in ARPA format")
        i += 1
        while i < len(lines) and not lines[i].startswith("\\"):      # ngram N=COUNT lines
            line = lines[i].strip()
            m = _COUNT.match(line)
            if line and not m:
                raise DataError(f"{p}:{i + 1}: expected 'ngram N=COUNT' or a '\\1-grams:' section, got "
                                f"{line[:40]!r}; not an ARPA file")
            if m:
                counts[int(m.group(1))] = int(m.group(2))
            i += 1
        while i < len(lines):
            line = lines[i].strip()
            if line == "\\end\\":
                break
            m = _SECTION.match(line)
            if not m:
                raise DataError(f"{p}:{i + 1}: expected a '\\N-grams:' section or '\\end\\', got {line[:40]!r}")
            n = int(m.group(1))
            if n not in counts:
                raise DataError(f"{p}:{i + 1}: a {n}-grams section the header does not announce")
            i, k = _read_section(lines, i + 1, n, p, words, prob, bow)
            if k != counts[n]:
                raise DataError(f"{p}:{i + 1}: the {n}-grams section has {k} entries, the header says "
                                f"{counts[n]}; the file is damaged")
        if i == len(lines):
            raise DataError(f"{p}: not a complete ARPA file: no '\\end\\' line (truncated?)")
        if not words:
            raise DataError(f"{p}: the ARPA file lists no unigrams")
        return cls(words, prob, bow, max(counts), p)

    # -- queries -------------------------------------------------------------------------------------

    def word_id(self, w: str) -> int:
        """Id of word w: its own, <unk>'s when the model lists no w, or -1 (out of vocabulary)."""
        i = self.words.get(w)
        if i is None or (i,) not in self.prob:
            return self.unk if self.has_unk else -1
        return i

    def log10_prob(self, history: tuple, w: int) -> float:
        """log10 p(w | history) by back-off; ``history`` holds ids, most recent last (at most order - 1
        are used); nan for w == -1."""
        if w < 0:
            return math.nan
        h = history[-(self.order - 1):] if self.order > 1 else ()
        acc = 0.0
        for k in range(len(h) + 1):                 # drop the oldest word of the history each time round
            ctx = h[k:]
            lp = self.prob.get(ctx + (w,))
            if lp is not None:
                return acc + lp
            acc += self.bow.get(ctx, 0.0)
        return math.nan                             # unreachable: word_id only returns listed unigrams

    def sentence_log10(self, words) -> np.ndarray:
        """(len(words) + 1,) float64 log10 probability of each word and of </s>, the history starting
        with <s>; nan where a word is out of vocabulary."""
        ids = [self.word_id(w) for w in words] + [self.word_id(EOS)]
        hist = (self.bos,)
        out = np.empty(len(ids), dtype=np.float64)
        keep = max(self.order - 1, 0)
        for t, w in enumerate(ids):
            out[t] = self.log10_prob(hist, w)
            hist = (hist + (w,))[-keep:] if keep else ()
        return out
