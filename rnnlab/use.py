"""Using a trained model: perplexity on a corpus, sampled sentences."""
from __future__ import annotations

import math
import time

import numpy as np

from . import checkpoint
from .lm import load_model
from .prepare import DataConfig, eval_batches, skipped_lines_note
from .training.loop import evaluate


def load_trained(model_dir):
    """(lm, meta) of a model directory or checkpoint for evaluation and sampling: the model with its
    vocabulary (``lm.vocab``) and the checkpoint's metadata (how its text was read: ``meta["data"]``).

    Raises:
        CheckpointError: as ``rnnlab.lm.load_model``, or a checkpoint without a vocabulary.
    """
    lm = load_model(model_dir)
    if lm.vocab is None:
        raise checkpoint.CheckpointError(f"{model_dir}: the checkpoint holds no vocabulary; it cannot read text")
    return lm, checkpoint.read_meta(checkpoint.find_model_file(model_dir))


def load_for_use(model_dir):
    """(lm, vocab, meta): ``load_trained`` in rnnlab 0.2's shape."""
    lm, meta = load_trained(model_dir)
    return lm, lm.vocab, meta


def evaluate_model(model_dir, test, read_options: dict | None = None, cache_dir=None, stream=None):
    """Perplexity of a trained model on a corpus: {'perplexity', 'cross_entropy', 'tokens', ...,
    'skipped_lines', 'skipped_note', 'stream'} (bad lines skipped with ``skip_bad_lines``, and
    ``skipped_lines_note`` of the corpus or None). ``stream``: carry the state across sentences
    (``rnnlab.stream_eval``); None: as the model was trained (``--stream`` or not)."""
    from .data import encode_file

    lm, meta = load_trained(model_dir)
    vocab = lm.vocab
    opts = DataConfig.from_dict(meta.get("data", {})).read_options()
    opts.update({k: v for k, v in (read_options or {}).items() if v is not None})
    corpus = encode_file(test, vocab, cache_dir=None if cache_dir is None else str(cache_dir), **opts)
    t0 = time.perf_counter()
    if stream is None:
        stream = bool(meta.get("train", {}).get("stream", False))
    if stream:
        from .stream_eval import evaluate_stream
        r = evaluate_stream(lm, corpus)
    else:
        r = evaluate(lm, eval_batches(corpus))
    r["stream"] = bool(stream)
    r.update(sentences=corpus.n_sentences, seconds=time.perf_counter() - t0,
             bits_per_token=r["cross_entropy"] / math.log(2),
             skipped_lines=int((corpus.stats or {}).get("skipped_lines", 0)), skipped_note=skipped_lines_note(corpus))
    return r


def generate_text(model_dir, n=10, temperature=1.0, prime=None, max_length=None, seed=None, allow_unk=False):
    """Sample ``n`` sentences; returns a list of strings."""
    from .data import tokenize_text
    from .sample import sample

    lm, meta = load_trained(model_dir)
    vocab = lm.vocab
    dcfg = DataConfig.from_dict(meta.get("data", {}))
    level = dcfg.level
    if max_length is None:
        max_length = 200 if level == "char" else 50
    prime_ids = []
    if prime:
        toks = tokenize_text(prime, format=dcfg.format, level=level, lowercase=dcfg.lowercase)
        prime_ids = [int(i) for i in vocab.encode(toks)]
    rng = np.random.default_rng(seed)
    ids = sample(lm, vocab.bos, vocab.eos, n=n, prime=prime_ids, temperature=temperature, max_length=max_length,
                 rng=rng, banned=() if allow_unk else (vocab.unk,))
    prefix = vocab.decode(prime_ids) if prime_ids else []
    return [vocab.join(prefix + vocab.decode(s)) for s in ids]
