"""Encoding: flat memory-mapped ids equal the plain per-sentence encoding; the cache is reused and
invalidated correctly; the streaming .npy writer."""
import json
import os

import numpy as np
import pytest

import rnnlab.data.encode as enc
from rnnlab.data import EncodedCorpus, Vocab, build_vocab, count_tokens, encode_file, encode_sentences, iter_sentences
from rnnlab.data.npyfile import NpyAppender
from rnnlab.errors import DataError

TEXT = "the cat sat on the mat\nthe dog ran\n\n<s> a b c d e f </s>\nthe <unk> zebra\n"


@pytest.fixture
def corpus_file(tmp_path):
    p = tmp_path / "train.txt"
    p.write_text(TEXT)
    return str(p)


def reference(path, vocab, **opts):
    """The plain way: a Python list per sentence."""
    sents = list(iter_sentences(path, **opts))
    return [vocab.encode(s).tolist() for s in sents]


def as_lists(c: EncodedCorpus):
    return [c.sentence(i).tolist() for i in range(c.n_sentences)]


def test_count_tokens_includes_one_eos_per_sentence(corpus_file):
    c = count_tokens(corpus_file, format="lines")
    assert c["the"] == 4 and c["</s>"] == 4 and c["<unk>"] == 1 and "<s>" not in c


@pytest.mark.parametrize("cache", [False, True])
@pytest.mark.parametrize("block", [3, 1 << 20])
def test_encoding_equals_reference(corpus_file, tmp_path, monkeypatch, cache, block):
    monkeypatch.setattr(enc, "BLOCK_TOKENS", block)
    monkeypatch.setattr(enc, "MAP_CHUNK", 5)
    cache_dir = str(tmp_path / "cache") if cache else None
    v = build_vocab(corpus_file, 8, cache_dir=cache_dir, format="lines")
    c = encode_file(corpus_file, v, cache_dir=cache_dir, format="lines")
    assert as_lists(c) == reference(corpus_file, v, format="lines")
    assert c.tokens.dtype == np.int32 and c.offsets.dtype == np.int64
    assert c.n_sentences == 4 and c.n_tokens == 6 + 3 + 6 + 3 and c.n_predicted == 18 + 4
    assert c.stats["sentences"] == 4
    if cache:
        assert isinstance(c.tokens, np.memmap) and isinstance(c.offsets, np.memmap)
        assert not c.tokens.flags.writeable


def test_unk_token_in_file_maps_to_unk(corpus_file):
    v = build_vocab(corpus_file, 100, format="lines")
    c = encode_file(corpus_file, v, format="lines")
    assert c.sentence(3).tolist() == [v.id("the"), v.unk, v.id("zebra")]


def _count_passes(monkeypatch):
    calls = []
    real = enc._tokenize_pass
    monkeypatch.setattr(enc, "_tokenize_pass", lambda *a: calls.append(1) or real(*a))
    return calls


def test_cache_is_reused(corpus_file, tmp_path, monkeypatch):
    calls = _count_passes(monkeypatch)
    d = str(tmp_path / "cache")
    v = build_vocab(corpus_file, 8, cache_dir=d, format="lines")
    a = encode_file(corpus_file, v, cache_dir=d, format="lines")
    files = sorted(os.listdir(d))
    b = encode_file(corpus_file, v, cache_dir=d, format="lines")
    assert len(calls) == 1 and sorted(os.listdir(d)) == files       # one read of the corpus in all
    assert np.array_equal(a.tokens, b.tokens)
    w = build_vocab(corpus_file, 6, cache_dir=d, format="lines")     # another vocabulary: remap only
    c = encode_file(corpus_file, w, cache_dir=d, format="lines")
    assert len(calls) == 1 and len(os.listdir(d)) == len(files) + 1
    assert as_lists(c) == reference(corpus_file, w, format="lines")


def test_cache_invalidated_by_edit_and_by_options(corpus_file, tmp_path, monkeypatch):
    calls = _count_passes(monkeypatch)
    d = str(tmp_path / "cache")
    v = build_vocab(corpus_file, 100, cache_dir=d, format="lines")
    encode_file(corpus_file, v, cache_dir=d, format="lines")
    encode_file(corpus_file, v, cache_dir=d, format="lines", level="char")
    assert len(calls) == 2
    with open(corpus_file, "a") as f:
        f.write("one more line\n")
    st = os.stat(corpus_file)
    os.utime(corpus_file, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    c = encode_file(corpus_file, v, cache_dir=d, format="lines")
    assert len(calls) == 3 and c.n_sentences == 5


@pytest.mark.parametrize("victim", [".json", ".raw.npy", ".offsets.npy", "vocab"])
def test_damaged_cache_is_rebuilt(corpus_file, tmp_path, victim):
    d = tmp_path / "cache"
    v = build_vocab(corpus_file, 100, cache_dir=str(d), format="lines")
    good = as_lists(encode_file(corpus_file, v, cache_dir=str(d), format="lines"))
    names = os.listdir(d)
    if victim == "vocab":
        name = next(n for n in names if n.endswith(".npy") and not n.endswith((".raw.npy", ".offsets.npy")))
    else:
        name = next(n for n in names if n.endswith(victim))
    (d / name).write_bytes((d / name).read_bytes()[:100])          # truncated
    assert as_lists(encode_file(corpus_file, v, cache_dir=str(d), format="lines")) == good


def test_cache_holds_counts_and_types(corpus_file, tmp_path):
    d = tmp_path / "cache"
    count_tokens(corpus_file, cache_dir=str(d), format="lines")
    meta = json.loads(next(d.glob("*.json")).read_text())
    assert dict(zip(meta["types"], meta["counts"]))["the"] == 4


def test_unwritable_cache_dir_is_a_data_error(corpus_file, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DataError, match="cannot create the cache directory"):
        count_tokens(corpus_file, cache_dir=str(blocker / "sub"), format="lines")


def test_missing_file_error_with_cache(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        count_tokens(str(tmp_path / "nope.txt"), cache_dir=str(tmp_path / "c"))


def test_builtin_is_encoded_and_cached(tmp_path):
    spec = "builtin:agreement?n=50"
    v = build_vocab(spec, 1000)
    a = encode_file(spec, v)
    b = encode_file(spec, v, cache_dir=str(tmp_path))
    assert a.n_sentences == 50 and np.array_equal(a.tokens, b.tokens)
    assert a.stats["skipped_lines"] == 0 and (a.tokens != v.unk).all()


def test_encode_sentences_keeps_empty_sentences():
    v = Vocab.from_sentences([["a", "b"]], 10)
    c = encode_sentences([["a"], [], ["b", "x"]], v)
    assert c.offsets.tolist() == [0, 1, 1, 3]
    assert c.tokens.tolist() == [v.id("a"), v.id("b"), v.unk]


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_npy_appender_streams_and_publishes_atomically(tmp_path, dtype):
    path = str(tmp_path / "a.npy")
    with NpyAppender(path, dtype) as w:
        for i in range(5):
            w.append(np.arange(i * 10, i * 10 + 10))
        assert not os.path.exists(path)
    a = np.load(path, mmap_mode="r")
    assert a.dtype == dtype and np.array_equal(a, np.arange(50))
    with pytest.raises(RuntimeError), NpyAppender(str(tmp_path / "b.npy"), dtype) as w:
        w.append([1])
        raise RuntimeError
    assert os.listdir(tmp_path) == ["a.npy"]
    with NpyAppender(str(tmp_path / "e.npy"), dtype):
        pass
    assert np.load(str(tmp_path / "e.npy")).shape == (0,)
