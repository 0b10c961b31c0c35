"""The data layer: corpus -> sentences -> vocabulary -> memory-mapped ids -> (x, y) batches.

    from rnnlab import data
    opts = dict(format="lines")                                     # or text / csv (column=) / jsonl
    vocab = data.build_vocab("train.txt", 8000, cache_dir="out/cache", **opts)
    train = data.encode_file("train.txt", vocab, cache_dir="out/cache", **opts)
    for x, y in data.sentence_batches(train, 32, rng=(seed, epoch)):   # (T, B) int64, y == -1 padding
        ...
    for x, y in data.stream_batches(train, 32, chunk=35):               # carry the state across chunks
        ...
    data.agreement_items(500, seed=1, distance=7)                       # long-range agreement tests

`builtin:agreement[:train|valid|test][?n=..&seed=..&max_distance=..]` is accepted wherever a corpus
path is. Every bad input raises rnnlab.errors.DataError (bad files) or ConfigError (bad options) with
a one-line message.

Modules: reader (bytes -> lines), tokenize (formats, levels -> sentences), vocab (Vocab, classes),
encode (EncodedCorpus, cache), batching (sentence and stream batches), agreement (the generator),
builtin (corpus specs), npyfile (streaming .npy writer).
"""
from .agreement import AgreementItem, agreement_items, generate_sentences
from .batching import (
    n_sentence_batches,
    n_stream_chunks,
    sentence_batches,
    stream_batches,
    stream_window,
)
from .builtin import CorpusSpec, builtin_split, is_builtin, resolve_corpus
from .encode import EncodedCorpus, build_vocab, count_tokens, encode_file, encode_sentences
from .tokenize import FORMATS, LEVELS, ReadStats, iter_sentences, tokenize_text
from .vocab import BOS, EOS, SPECIALS, UNK, Vocab, frequency_classes

__all__ = [
    "iter_sentences", "tokenize_text", "ReadStats", "FORMATS", "LEVELS",
    "Vocab", "frequency_classes", "UNK", "BOS", "EOS", "SPECIALS",
    "EncodedCorpus", "count_tokens", "build_vocab", "encode_file", "encode_sentences",
    "sentence_batches", "stream_batches", "stream_window", "n_sentence_batches", "n_stream_chunks",
    "generate_sentences", "agreement_items", "AgreementItem",
    "resolve_corpus", "builtin_split", "is_builtin", "CorpusSpec",
]
