"""Subject-verb agreement, scored with a language model (Linzen et al. 2016).

An item is a sentence prefix that ends just before the verb ("the men who wore a wig on his head") and
the verb's two forms ("go" / "goes"). The model passes the item when

    log p(correct | <s> prefix) > log p(wrong | <s> prefix),

and the score is the fraction of items passed: by distance (words between the subject and the verb)
and by the number of intervening nouns of the other number (attractors). Chance is 0.5; a model that
reads the number of the nearest noun instead of the subject's scores below chance on attractors.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..errors import ConfigError


def agreement_scores(lm, vocab, items, batch_size: int = 256) -> dict:
    """Accuracy of ``lm`` on agreement ``items`` (see ``rnnlab.data.agreement_items``).

    Returns {"accuracy", "n", "by_distance": {d: accuracy}, "n_by_distance", "by_attractors": {k: accuracy},
    "n_by_attractors"}.
    """
    if not items:
        raise ConfigError("no agreement items to score")
    for it in items:
        for w in (it.correct, it.wrong):
            if w not in vocab:
                raise ConfigError(f"the verb form {w!r} is not in the model's vocabulary: agreement needs a model "
                                  f"trained on builtin:agreement (or a corpus with its words)")
    ok = np.empty(len(items), dtype=bool)
    H = lm.hidden_size
    params = lm.output_params()
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        lengths = np.array([len(it.prefix) for it in chunk])
        T = int(lengths.max()) + 1
        x = np.full((T, len(chunk)), vocab.eos, dtype=np.int64)
        x[0] = vocab.bos
        for j, it in enumerate(chunk):
            x[1:lengths[j] + 1, j] = vocab.encode(it.prefix)
        out, _, _ = lm.hidden(x)                                     # causal: padding after a prefix is harmless
        h = out[lengths, np.arange(len(chunk))]                       # (n, H): the state after each prefix
        direct = lm.direct_batch(x, lengths * len(chunk) + np.arange(len(chunk)))    # the rows of h
        logp = lm.output.log_probs(params, h.reshape(-1, H), direct=direct)
        good = np.array([vocab.id(it.correct) for it in chunk])
        bad = np.array([vocab.id(it.wrong) for it in chunk])
        rows = np.arange(len(chunk))
        ok[start:start + len(chunk)] = logp[rows, good] > logp[rows, bad]
    by_d, by_a = defaultdict(list), defaultdict(list)
    for it, o in zip(items, ok):
        by_d[it.distance].append(o)
        by_a[it.n_attractors].append(o)
    return {"accuracy": float(ok.mean()), "n": len(items),
            "by_distance": {d: float(np.mean(v)) for d, v in sorted(by_d.items())},
            "n_by_distance": {d: len(v) for d, v in sorted(by_d.items())},
            "by_attractors": {k: float(np.mean(v)) for k, v in sorted(by_a.items())},
            "n_by_attractors": {k: len(v) for k, v in sorted(by_a.items())}}


def agreement_benchmark(lm, vocab, per_distance: int = 200, max_distance: int = 12, seed: int = 12345) -> dict:
    """``agreement_scores`` on ``per_distance`` fresh items at every distance 0..max_distance."""
    from ..data import agreement_items

    items = [it for d in range(max_distance + 1) for it in agreement_items(per_distance, seed=seed + d, distance=d)]
    return agreement_scores(lm, vocab, items)


def format_scores(name: str, scores: dict) -> str:
    """One table row per model: overall accuracy and accuracy at each distance."""
    cells = " ".join(f"{100 * a:4.0f}" for a in scores["by_distance"].values())
    return f"{name:<14} {100 * scores['accuracy']:5.1f}%  | {cells}"


def format_header(scores: dict) -> str:
    """The two header lines of the table ``format_scores`` fills: one column per distance of ``scores``."""
    ds = " ".join(f"{d:>4}" for d in scores["by_distance"])
    return (f"{'':<14} {'':>6}  | agreement accuracy (%) at distance d (words between subject and verb)\n"
            f"{'model':<14} {'all':>6}  | {ds}")
