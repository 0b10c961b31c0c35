"""Scoring text with a trained model: sentence log probabilities, n-best rescoring, interpolation with an
ARPA n-gram model, dynamic evaluation (``rnnlab score``, and ``rnnlab evaluate --ngram/--dynamic``).

Modules: network (the only code that calls the model), score (Scorer: per-word log probabilities, the
mixture, OOV policies, dynamic updates), ngram (ArpaModel: the ARPA reader and back-off queries),
lines (input lines and their words), stream (the block loop and n-best utterances), evaluate
(perplexities of the network, the n-gram model and their mixture, static and dynamic).
"""
from .ngram import ArpaModel
from .score import Scored, Scorer

__all__ = ["ArpaModel", "Scorer", "Scored"]
