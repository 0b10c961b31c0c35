"""``rnnlab evaluate --ngram/--dynamic``: perplexities of the network, of an n-gram model and of their
mixture on the same tokens, statically and with dynamic evaluation.

Every sentence of the test corpus is read with the model's own options (as ``rnnlab evaluate`` reads it);
each model predicts every word and the </s> of each sentence, never <s>. The network reads unknown words
as <unk>, as plain ``rnnlab evaluate`` does, so its perplexity here equals that one; the n-gram model
reads them as its <unk>, or gives them the OOV penalty when it has none (counted in ``ngram_oov``).
"""
from __future__ import annotations

import math
import time

from .network import load_network
from .ngram import ArpaModel
from .score import Scorer


def _ppl(total_ln: float, n: int) -> float:
    return float(math.exp(min(-total_ln / n, 700))) if n else math.nan


def evaluate_mixture(model_dir, test, read_options: dict | None = None, ngram=None, lam=None, dynamic=None,
                     oov_penalty=-5.0) -> dict:
    """Perplexities on ``test``: {'network', 'ngram', 'mixture', 'network_dynamic', 'mixture_dynamic'
    (each a perplexity or None when not asked for), 'tokens', 'sentences', 'ngram_oov', 'lambda',
    'dynamic', 'seconds'}. ``ngram`` is an ARPA path or an ArpaModel; ``dynamic`` a learning rate."""
    from ..data import iter_sentences

    lm, vocab, dcfg = load_network(model_dir)
    opts = dcfg.read_options()
    opts.update({k: v for k, v in (read_options or {}).items() if v is not None})
    if isinstance(ngram, (str, bytes)) or hasattr(ngram, "__fspath__"):
        ngram = ArpaModel.read(ngram)
    sentences = list(iter_sentences(test, **opts))
    t0 = time.perf_counter()
    kw = dict(ngram=ngram, lam=lam, oov_penalty=oov_penalty, use_unk=True)
    static = Scorer(lm, vocab, **kw).score(sentences)
    n = sum(len(s) + 1 for s in sentences)
    r = {"tokens": n, "sentences": len(sentences), "lambda": None, "dynamic": dynamic,
         "network": _ppl(sum(float(s.network.sum()) for s in static), n),
         "ngram": None, "mixture": None, "ngram_oov": 0, "network_dynamic": None, "mixture_dynamic": None}
    if ngram is not None:
        r.update(ngram=_ppl(sum(float(s.ngram.sum()) for s in static), n),
                 mixture=_ppl(sum(s.total for s in static), n), ngram_oov=int(sum(s.ngram_oov for s in static)))
        r["lambda"] = 0.5 if lam is None else lam
    if dynamic is not None:
        dyn = Scorer(lm, vocab, dynamic=dynamic, **kw).score(sentences)
        r["network_dynamic"] = _ppl(sum(float(s.network.sum()) for s in dyn), n)
        if ngram is not None:
            r["mixture_dynamic"] = _ppl(sum(s.total for s in dyn), n)
    r["seconds"] = time.perf_counter() - t0
    return r


def format_mixture(r: dict) -> list[str]:
    """The lines ``rnnlab evaluate`` prints for ``evaluate_mixture``'s result."""
    out = []
    rows = [("network", r["network"], r["network_dynamic"])]
    if r["ngram"] is not None:
        rows.append(("n-gram", r["ngram"], None))
        rows.append((f"mixture (lambda {r['lambda']:g})", r["mixture"], r["mixture_dynamic"]))
    for name, ppl, dyn in rows:
        line = f"{name:<22} perplexity {ppl:.2f}"
        if dyn is not None:
            line += f" | dynamic (lr {r['dynamic']:g}) {dyn:.2f}"
        out.append(line)
    note = f", {r['ngram_oov']} unknown to the n-gram model (penalty)" if r["ngram_oov"] else ""
    out.append(f"{r['tokens']} tokens in {r['sentences']} sentences{note}")
    return out
