"""Property-based tests: arbitrary bytes, text, counts and sentence lengths never crash the data layer
with anything but the documented errors, and the invariants hold."""
import os
import tempfile
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnlab.data import (
    EOS,
    SPECIALS,
    Vocab,
    encode_file,
    encode_sentences,
    iter_sentences,
    resolve_corpus,
    sentence_batches,
    stream_batches,
)
from rnnlab.errors import ConfigError, DataError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
READ_OPTS = st.fixed_dictionaries({
    "format": st.sampled_from(["text", "lines", "csv", "jsonl"]),
    "level": st.sampled_from(["word", "char"]),
    "errors": st.sampled_from(["strict", "replace"]),
    "skip_bad_lines": st.booleans()})
# bytes that look a little like corpora: separators, quotes, braces, non-ASCII, invalid UTF-8, NUL
CHUNKS = st.sampled_from([b"a", b"the cat", b" ", b"\n", b"\r\n", b",", b'"', b"{", b"}", b'"text"',
                          b":", b"\xff", b"\xc3\xa9", b"\xe2\x80", b"\x00", b"<s>", b"</s>", b"<unk>",
                          b"text", b"\t", b"[1]", b".", b"!"])
BYTES = st.one_of(st.binary(max_size=200), st.lists(CHUNKS, max_size=40).map(b"".join))


def read_all(data: bytes, **opts):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "c.txt")
        with open(p, "wb") as f:
            f.write(data)
        if opts["format"] == "csv":
            opts["column"] = "text"
        try:
            return list(iter_sentences(p, **opts))
        except DataError as e:
            assert "\n" not in str(e) and str(e)
            return None


@SETTINGS
@given(data=BYTES, opts=READ_OPTS)
def test_any_bytes_read_or_raise_data_error(data, opts):
    sents = read_all(data, **opts)
    if sents is not None:
        assert sents and all(s and all(isinstance(t, str) and t for t in s) for s in sents)
        assert not any(t in ("<s>", "</s>") for s in sents for t in s)
        if opts["level"] == "char":
            assert all(len(t) == 1 for s in sents for t in s)


@SETTINGS
@given(data=BYTES)
def test_replace_never_fails_on_decoding(data):
    if b"\0" in data:
        return
    for fmt in ("text", "lines"):
        sents = read_all(data, format=fmt, level="word", errors="replace", skip_bad_lines=False)
        if sents is None:        # only a file of whitespace (and, as lines, sentence markers) may fail
            assert set(data.decode("utf-8-sig", "replace").split()) <= {"<s>", "</s>"}


@SETTINGS
@given(text=st.text(max_size=300))
def test_any_text_tokenises(text):
    data = text.encode("utf-8")
    for level in ("word", "char"):
        sents = read_all(data, format="text", level=level, errors="strict", skip_bad_lines=False)
        if sents is None:
            assert not text.strip() or "\0" in text
        elif level == "word":
            assert all(not any(c.isspace() for c in t) for s in sents for t in s)


@SETTINGS
@given(counts=st.dictionaries(st.text(max_size=5), st.integers(0, 50), max_size=40),
       size=st.integers(-2, 50), n_classes=st.integers(-1, 60))
def test_vocab_from_any_counts(counts, size, n_classes):
    try:
        v = Vocab.from_counts(Counter(counts), size)
    except ConfigError:
        assert size < 4
        return
    assert len(v) <= size and v.tokens[:3] == SPECIALS and len(set(v.tokens)) == len(v)
    words = [t for t in counts if t not in SPECIALS and counts[t] >= 1]
    assert len(v) == min(size, 3 + len(words))
    c = v.counts[3:]
    assert (np.diff(c) <= 0).all()                                  # most frequent first
    assert v.counts.sum() == sum(n for t, n in counts.items() if t != "<s>")
    kept = list(v.tokens[3:])
    assert v.decode(v.encode(kept)) == kept
    assert Vocab.from_json(v.to_json()) == v
    try:
        cls = v.frequency_classes(n_classes)
    except ConfigError:
        assert not 1 <= n_classes <= len(v)
        return
    assert np.bincount(cls, minlength=n_classes).min() >= 1


LENGTHS = st.lists(st.integers(0, 25), min_size=0, max_size=40)


@SETTINGS
@given(lengths=LENGTHS, B=st.integers(-1, 12), max_len=st.one_of(st.none(), st.integers(0, 8)),
       shuffle=st.booleans(), bucket=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_sentence_batches_cover_every_target_once(lengths, B, max_len, shuffle, bucket, seed):
    v = Vocab(list(SPECIALS) + ["a", "b"])
    rng = np.random.default_rng(seed)
    c = encode_sentences([list(rng.choice(["a", "b", "zz"], n)) for n in lengths], v)
    try:
        batches = list(sentence_batches(c, B, rng=seed, shuffle=shuffle, bucket=bucket, max_len=max_len))
    except ConfigError:
        assert B < 1 or max_len == 0
        return
    except DataError:
        assert not lengths
        return
    y = np.concatenate([y.reshape(-1) for _, y in batches])
    assert (y != -1).sum() == c.n_predicted
    assert (y == v.eos).sum() == c.n_sentences and (y != v.bos).all()
    assert sorted(y[y >= 0].tolist()) == sorted(c.tokens.tolist() + [v.eos] * c.n_sentences)
    if max_len:
        assert all(x.shape[0] <= max_len for x, _ in batches)


@SETTINGS
@given(lengths=LENGTHS, B=st.integers(1, 12), chunk=st.integers(1, 9))
def test_stream_batches_reconstruct(lengths, B, chunk):
    v = Vocab(list(SPECIALS) + ["a"])
    c = encode_sentences([["a"] * n for n in lengths], v)
    try:
        chunks = list(stream_batches(c, B, chunk))
    except DataError:
        assert not lengths or c.n_predicted < B
        return
    y = np.concatenate([y for _, y in chunks]).T.reshape(-1)
    expect = [t for n in lengths for t in [v.id("a")] * n + [v.eos]]
    assert y[y != -1].tolist() == expect


@SETTINGS
@given(spec=st.text(max_size=40))
def test_builtin_spec_parsing(spec):
    try:
        resolve_corpus("builtin:" + spec)
    except ConfigError as e:
        assert "\n" not in str(e)


def test_encode_file_from_bytes_roundtrip(tmp_path):
    """A fixed example through the whole pipeline with the cache (the properties above cover reading)."""
    p = tmp_path / "a.txt"
    p.write_bytes("é x\n\n y é z \n".encode())
    v = Vocab.from_counts(Counter({"é": 2, "x": 1, EOS: 2}), 10)
    c = encode_file(str(p), v, cache_dir=str(tmp_path / "c"), format="lines")
    assert [v.decode(c.sentence(i)) for i in range(2)] == [["é", "x"], ["<unk>", "é", "<unk>"]]
