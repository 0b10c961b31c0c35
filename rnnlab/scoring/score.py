"""Sentence scores: the log probability of each word of a sentence and of its ``</s>`` under the network,
an n-gram model, or their per-word linear mixture, with an optional dynamic update after each sentence.

    scorer = Scorer(lm, vocab)                          # or ngram=ArpaModel.read(...), lam=0.5, dynamic=0.1
    [s] = scorer.score([["the", "cat", "sat"]])
    s.logp                                              # (4,) ln p(the), ln p(cat | the), ..., ln p(</s> | ...)

A sentence w_1 .. w_n is read as the model was trained: inputs <s> w_1 .. w_n, targets w_1 .. w_n </s>, so
its score counts n + 1 predictions and never <s>. Per word, with lam the network's weight:

    p(w | h) = lam p_net(w | h) + (1 - lam) p_ngram(w | h)

A word is out of vocabulary (OOV) for the network when its vocabulary lacks it and ``use_unk`` is off
(by default ``use_unk`` is on exactly when the training text had words mapped to <unk>, so that p(<unk>)
was learnt); for the n-gram model when it has neither the word nor <unk>. As rnnlm does, a word only
one model knows gets that model's probability alone, and a word no model knows gets the fixed
``oov_penalty`` (a log10 probability, -5 as in rnnlm), or, with ``oov="skip"``, the sentence is not
scored (``Scored.skipped``). The network reads an OOV word as <unk>.

Static scoring batches sentences of similar length (sorted within the call, returned in order) and scores
each distinct sentence once, so identical sentences from the same state get identical scores.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from .network import broadcast_state, final_state, private_copy, sgd_step, target_log_probs

LN10 = math.log(10.0)
BATCH = 1024         # sentences per forward pass
MEMO = 100_000       # distinct sentences remembered across calls (fresh state, static scoring)


def _split(a, lengths):
    """Consecutive pieces of a flat array of the given lengths (views)."""
    ends = np.cumsum(lengths).tolist()
    return [a[e - n:e] for e, n in zip(ends, lengths)]


@dataclass
class Scored:
    """One scored sentence. Log probabilities are natural logs, one per word and one for </s>."""
    words: list
    logp: np.ndarray | None           # (n + 1,) what is reported: the mixture, or the one model in use
    oov: np.ndarray                   # (n + 1,) bool: words no model in use knows (penalty applied)
    network: np.ndarray | None = None  # (n + 1,) the network alone (penalty at its OOVs)
    ngram: np.ndarray | None = None    # (n + 1,) the n-gram model alone (penalty at its OOVs)
    notes: list = field(default_factory=list)
    ngram_oov: int = 0                 # words the n-gram model gave the penalty

    @property
    def skipped(self) -> bool:
        """True when the sentence was not scored (``oov="skip"`` and an OOV word)."""
        return self.logp is None

    @property
    def total(self) -> float:
        """ln p(sentence), </s> included; nan when skipped."""
        return math.nan if self.logp is None else float(self.logp.sum())


class Scorer:
    """Scores sentences (lists of word strings) with a network, optionally mixed with an n-gram model.

    Args:
        lm, vocab: the network and its vocabulary (``network.load_network``).
        ngram: an ``ArpaModel`` or None.
        lam: weight of the network in the mixture, in [0, 1] (needs ``ngram``; default 0.5 with one).
        oov: "penalty" or "skip" for words no model in use knows.
        oov_penalty: log10 probability given to such a word.
        use_unk: read unknown words as <unk> and score p(<unk>); None: when the training text had <unk>s.
        dynamic: learning rate of dynamic evaluation (an SGD step on each sentence after its score, on a
            private copy of ``lm``); None: static.
    Raises:
        ConfigError: lam outside [0, 1] or without an n-gram model, an unknown oov policy, a penalty that is
            not a finite log10 probability, a learning rate that is not positive.
    """

    def __init__(self, lm, vocab, ngram=None, lam=None, oov="penalty", oov_penalty=-5.0, use_unk=None,
                 dynamic=None):
        if lam is not None and ngram is None:
            raise ConfigError("--lambda weighs the network against an n-gram model; give --ngram FILE too")
        lam = 0.5 if ngram is not None and lam is None else lam
        if lam is not None and not 0.0 <= lam <= 1.0:
            raise ConfigError(f"--lambda must lie in [0, 1] (the network's weight), got {lam}")
        if oov not in ("penalty", "skip"):
            raise ConfigError(f"unknown OOV policy {oov!r}; choose penalty or skip")
        if not (math.isfinite(oov_penalty) and oov_penalty <= 0):
            raise ConfigError(f"--oov-penalty is a log10 probability: a number <= 0, got {oov_penalty}")
        if dynamic is not None and not (math.isfinite(dynamic) and dynamic > 0):
            raise ConfigError(f"--dynamic is a learning rate: a positive number, got {dynamic}")
        self.lm = private_copy(lm) if dynamic is not None else lm
        self.vocab, self.ngram, self.lam = vocab, ngram, lam
        self.oov, self.penalty, self.dynamic = oov, oov_penalty * LN10, dynamic
        self.use_unk = bool(vocab.counts[vocab.unk] > 0) if use_unk is None else bool(use_unk)
        self._memo: dict = {}

    # -- words -> ids --------------------------------------------------------------------------------

    def encode(self, words):
        """(ids (n,) int64 with OOVs read as <unk>, oov (n + 1,) bool: OOV for the network)."""
        [ids], oov = self._encode_many([words])
        return ids, oov

    def _encode_many(self, sentences):
        """([ids (n_i,) int64 per sentence], oov: one flat bool mask over the words and </s> of them all)."""
        get, unk = self.vocab.index.get, self.vocab.unk
        flat = np.array([get(w, unk) for s in sentences for w in s], dtype=np.int64)
        ids = _split(flat, [len(s) for s in sentences])
        return ids, self._oov_mask(ids)

    def _oov_mask(self, ids):
        """Flat bool mask over the words and </s> of sentences of ids: OOV for the network."""
        if self.use_unk:
            return np.zeros(sum(len(i) + 1 for i in ids), dtype=bool)
        return np.concatenate([np.append(i == self.vocab.unk, False) for i in ids])

    def _inputs(self, id_lists):
        """x, y (T, B) for sentences of ids: <s> w_1 .. w_n -> w_1 .. w_n </s>, targets -1 past the end."""
        v = self.vocab
        T = max(len(s) for s in id_lists) + 1
        x = np.full((T, len(id_lists)), v.eos, dtype=np.int64)
        y = np.full((T, len(id_lists)), -1, dtype=np.int64)
        x[0] = v.bos
        for b, s in enumerate(id_lists):
            x[1:len(s) + 1, b] = s
            y[:len(s), b] = s
            y[len(s), b] = v.eos
        return x, y

    # -- scoring -------------------------------------------------------------------------------------

    def _network(self, id_lists, h0):
        """ln p_net of every target of each sentence (a list of (n + 1,) arrays), all from state h0."""
        out = [None] * len(id_lists)
        order = sorted(range(len(id_lists)), key=lambda i: len(id_lists[i]))
        for lo in range(0, len(order), BATCH):
            part = order[lo:lo + BATCH]
            x, y = self._inputs([id_lists[i] for i in part])
            logp, _ = target_log_probs(self.lm, x, y, broadcast_state(h0, len(part)))
            for b, i in enumerate(part):
                out[i] = logp[:len(id_lists[i]) + 1, b]
        return out

    def _combine(self, sentences, net, net_oov):
        """Scored of each sentence from the network's ln p and OOV mask over all their words (flat arrays),
        mixing in the n-gram model when there is one."""
        pen = self.penalty
        net = np.where(net_oov, pen, net)
        if self.ngram is None:
            logp, oov, ng, ng_oov = net, net_oov, None, net_oov & False
        else:
            ng10 = np.concatenate([self.ngram.sentence_log10(s) for s in sentences])
            ng_oov = np.isnan(ng10)
            ng = np.where(ng_oov, pen, ng10 * LN10)
            with np.errstate(divide="ignore"):
                mix = np.logaddexp(np.log(self.lam) + net, np.log1p(-self.lam) + ng)
            # a word one model lacks gets the other's probability alone (rnnlm's rule); none: the penalty
            logp = np.where(net_oov, ng, np.where(ng_oov, net, mix))
            oov = net_oov & ng_oov
        lengths = [len(s) + 1 for s in sentences]
        parts = [_split(a, lengths) if a is not None else [None] * len(sentences)
                 for a in (logp, oov, net, ng, ng_oov)]
        out = []
        for words, lp, o, n, g, go in zip(sentences, *parts):
            r = Scored(list(words), lp, o, n, g, ngram_oov=int(go.sum()) if g is not None else 0)
            if self.oov == "skip" and o.any():
                r.logp = None
                r.notes.append("out of vocabulary: " + " ".join(w for w, b in zip(words, o) if b))
            out.append(r)
        return out

    def score(self, sentences, h0=None, adapt=True):
        """Score sentences (lists of words), each from state h0 (one column, or None for zeros).

        With dynamic evaluation and ``adapt``, they are scored one after the other in the order given,
        each followed by an SGD step on it; otherwise they are scored in batches. Returns a list of Scored
        in the order of ``sentences``."""
        if not sentences:
            return []
        if self.dynamic is not None and adapt:
            out = []
            for s in sentences:
                ids, oov = self.encode(s)
                out += self._combine([s], self._network([ids], h0)[0], oov)
                self.adapt_ids(ids, h0)
            return out
        memo = self._memo if (h0 is None and self.dynamic is None) else {}
        keys = [tuple(s) for s in sentences]
        todo = [k for k in dict.fromkeys(keys) if k not in memo]
        if todo:
            ids, oov = self._encode_many(todo)
            for k, lp, o in zip(todo, self._network(ids, h0), _split(oov, [len(i) + 1 for i in ids])):
                memo[k] = (lp, o)
        net = np.concatenate([memo[k][0] for k in keys])
        oov = np.concatenate([memo[k][1] for k in keys])
        out = self._combine(sentences, net, oov)
        if memo is self._memo and len(memo) > MEMO:
            memo.clear()
        return out

    def adapt(self, words, h0=None):
        """Dynamic evaluation: one SGD step on sentence ``words`` read from h0 (no-op when static)."""
        if self.dynamic is not None:
            self.adapt_ids(self.encode(words)[0], h0)

    def adapt_ids(self, ids, h0=None):
        """``adapt`` for a sentence already encoded as ids (n,); forgets the remembered static scores."""
        x, y = self._inputs([ids])
        sgd_step(self.lm, x, y, self.dynamic, h0=h0)
        self._memo.clear()

    def state_after(self, words, h0=None):
        """The network's state after reading <s> w_1 .. w_n from h0: the context of the next sentence."""
        x, _ = self._inputs([self.encode(words)[0]])
        return final_state(self.lm, x, h0)
