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

from ..data.reader import read_lines
from ..errors import DataError

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
_COUNT = re.compile(r"^ngram\s+(\d+)\s*=\s*(\d+)$")
_SECTION = re.compile(r"^\\(\d+)-grams:$")


def _gz_lines(path):
    """(line number, text) of a gzip-compressed UTF-8 file, with reader.read_lines' one-line errors."""
    try:
        with gzip.open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                try:
                    yield lineno, raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise DataError(f"{path}:{lineno}: not valid UTF-8; an ARPA file is UTF-8 text") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read it as gzip ({e}); give an ARPA file (.arpa or .arpa.gz)") from None


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
        lines = _gz_lines(p) if p.endswith(".gz") else read_lines(p)
        counts, seen, words, prob, bow = {}, {}, {}, {}, {}
        where = "header"     # header -> data -> n (inside the \n-grams: section) -> end
        n = 0
        for lineno, text in lines:
            line = text.strip()
            if not line:
                continue
            if where == "header":
                if line != "\\data\\":
                    raise DataError(f"{p}:{lineno}: not an ARPA file (expected the line '\\data\\', got "
                                    f"{line[:40]!r}); give an n-gram model in ARPA format")
                where = "data"
                continue
            m = _SECTION.match(line)
            if m or line == "\\end\\":
                if where != "data" and seen.get(n, 0) != counts[n]:
                    raise DataError(f"{p}:{lineno}: the {n}-grams section has {seen.get(n, 0)} entries, the "
                                    f"header says {counts[n]}; the file is damaged")
                if line == "\\end\\":
                    where = "end"
                    break
                n = int(m.group(1))
                if n not in counts:
                    raise DataError(f"{p}:{lineno}: a {n}-grams section the header does not announce")
                where = n
                continue
            if where == "data":
                m = _COUNT.match(line)
                if not m:
                    raise DataError(f"{p}:{lineno}: expected 'ngram N=COUNT' or a '\\1-grams:' section, got "
                                    f"{line[:40]!r}; not an ARPA file")
                counts[int(m.group(1))] = int(m.group(2))
                continue
            fields = line.split()
            if len(fields) not in (n + 1, n + 2):
                raise DataError(f"{p}:{lineno}: a {n}-gram line needs a log10 probability, {n} words and an "
                                f"optional back-off weight; got {len(fields)} fields")
            try:
                lp = float(fields[0])
                bo = float(fields[n + 1]) if len(fields) == n + 2 else None
            except ValueError:
                raise DataError(f"{p}:{lineno}: {fields[0]!r} is not a number (a log10 probability)") from None
            if lp > 0 or math.isnan(lp) or (bo is not None and not math.isfinite(bo)):
                raise DataError(f"{p}:{lineno}: log10 probability {lp} / back-off {bo} out of range")
            if n == 1:
                words.setdefault(fields[1], len(words))
            try:
                key = tuple(words[w] for w in fields[1:n + 1])
            except KeyError as e:
                raise DataError(f"{p}:{lineno}: the word {e.args[0]!r} has no unigram; the file is damaged") from None
            prob[key] = lp
            seen[n] = seen.get(n, 0) + 1
            if bo is not None and bo != 0.0:
                bow[key] = bo
        if where != "end":
            what = "no '\\data\\' line" if where == "header" else "no '\\end\\' line (truncated?)"
            raise DataError(f"{p}: not a complete ARPA file: {what}")
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
