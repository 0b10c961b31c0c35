"""Batching: masks, every target exactly once, bucketing, long sentences, stream reconstruction,
reproducibility and resuming."""
import numpy as np
import pytest

from rnnlab.data import Vocab, encode_sentences, n_sentence_batches, n_stream_chunks, sentence_batches, stream_batches
from rnnlab.errors import ConfigError, DataError


def make_corpus(lengths, seed=0, V=50):
    rng = np.random.default_rng(seed)
    vocab = Vocab(["<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(V - 3)])
    sents = [[f"w{i}" for i in rng.integers(0, V - 3, n)] for n in lengths]
    return encode_sentences(sents, vocab), sents


def sequences(c):
    """Each sentence as the reference lists (x, y) = (<s> w.., w.. </s>)."""
    v = c.vocab
    out = []
    for i in range(c.n_sentences):
        w = c.sentence(i).tolist()
        out.append(([v.bos] + w, w + [v.eos]))
    return out


def columns(batches):
    """Unpadded (x, y) columns of a list of batches."""
    cols = []
    for x, y in batches:
        assert x.shape == y.shape and x.dtype == np.int64 and y.dtype == np.int64
        for b in range(x.shape[1]):
            n = int((y[:, b] != -1).sum())
            assert (y[n:, b] == -1).all() and (y[:n, b] != -1).all()   # padding only at the end
            cols.append((x[:n, b].tolist(), y[:n, b].tolist()))
    return cols


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("bucket", [True, False])
def test_every_sentence_exactly_once_with_markers(shuffle, bucket):
    c, _ = make_corpus(np.random.default_rng(1).integers(0, 30, 203))
    batches = list(sentence_batches(c, 16, rng=3, shuffle=shuffle, bucket=bucket))
    assert len(batches) == n_sentence_batches(c, 16) == 13
    assert sorted(x.shape[1] for x, _ in batches) == [11] + [16] * 12     # one partial batch
    assert sorted(columns(batches)) == sorted(sequences(c))
    for x, y in batches:
        assert (x[y == -1] == c.vocab.eos).all()                         # x padding is a valid id
        assert (x != c.vocab.eos)[y != -1].all() and (y != c.vocab.bos).all()
        assert x.shape[0] == int((y != -1).sum(0).max())                 # T = longest in the batch


def test_bucketing_reduces_padding():
    c, _ = make_corpus(np.random.default_rng(2).integers(1, 60, 2000))

    def padding(**kw):
        return sum(int((y == -1).sum()) for _, y in sentence_batches(c, 32, rng=0, **kw))
    assert padding(bucket=True) < 0.2 * padding(bucket=False)


def test_same_seed_same_batches_other_seed_other_order():
    c, _ = make_corpus(np.random.default_rng(3).integers(1, 20, 300))
    a = list(sentence_batches(c, 8, rng=(7, 0)))
    b = list(sentence_batches(c, 8, rng=(7, 0)))
    d = list(sentence_batches(c, 8, rng=(7, 1)))
    assert all(np.array_equal(p[0], q[0]) and np.array_equal(p[1], q[1]) for p, q in zip(a, b))
    assert any(p[0].shape != q[0].shape or not np.array_equal(p[0], q[0]) for p, q in zip(a, d))


@pytest.mark.parametrize("start", [0, 1, 17, 38])
def test_resume_gives_the_remaining_batches(start):
    c, _ = make_corpus(np.random.default_rng(4).integers(0, 25, 300))
    full = list(sentence_batches(c, 8, rng=(5, 2)))
    rest = list(sentence_batches(c, 8, rng=(5, 2), start=start))
    assert len(rest) == len(full) - start
    for (x1, y1), (x2, y2) in zip(full[start:], rest):
        assert np.array_equal(x1, x2) and np.array_equal(y1, y2)


def test_resume_past_the_end():
    c, _ = make_corpus([3, 4])
    assert list(sentence_batches(c, 1, start=2)) == []
    with pytest.raises(ConfigError, match="past the end"):
        list(sentence_batches(c, 1, start=3))


@pytest.mark.parametrize("max_len", [1, 4, 7])
def test_long_sentences_are_cut_into_pieces(max_len):
    c, _ = make_corpus([0, 3, 9, 20, 6])
    batches = list(sentence_batches(c, 3, shuffle=False, bucket=False, max_len=max_len))
    assert all(x.shape[0] <= max_len for x, _ in batches)
    cols = columns(batches)
    assert len(batches) == n_sentence_batches(c, 3, max_len=max_len)
    # pieces of one sentence are consecutive (no shuffling): glue them back
    glued, k = [], 0
    for _, y in sequences(c):
        n_pieces = -(-len(y) // max_len)
        xs = sum((p[0] for p in cols[k:k + n_pieces]), [])
        ys = sum((p[1] for p in cols[k:k + n_pieces]), [])
        glued.append((xs, ys))
        k += n_pieces
    assert glued == sequences(c)


def stream_of(c):
    return [t for _, y in sequences(c) for t in y]


@pytest.mark.parametrize("B, chunk", [(1, 5), (3, 4), (7, 100), (22, 1)])
def test_stream_batches_reconstruct_the_stream(B, chunk):
    c, _ = make_corpus([4, 0, 7, 2, 9])
    S = stream_of(c)                                                    # 22 targets
    chunks = list(stream_batches(c, B, chunk))
    assert len(chunks) == n_stream_chunks(c, B, chunk)
    assert all(x.shape[0] <= chunk and x.shape[1] == B for x, _ in chunks)
    y = np.concatenate([y for _, y in chunks])                          # (L, B)
    x = np.concatenate([x for x, _ in chunks])
    flat_y = y.T.reshape(-1)
    assert flat_y[flat_y != -1].tolist() == S
    assert (flat_y[len(S):] == -1).all()
    prev = [c.vocab.bos] + S[:-1]                                       # input = previous target ...
    expect_x = [c.vocab.bos if p == c.vocab.eos else p for p in prev]  # ... <s> after </s>
    assert x.T.reshape(-1)[:len(S)].tolist() == expect_x


def test_stream_resume_and_errors():
    c, _ = make_corpus([10] * 20)
    full = list(stream_batches(c, 4, 6))
    rest = list(stream_batches(c, 4, 6, start=3))
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(full[3:], rest))
    with pytest.raises(DataError, match="too few for 300 parallel streams"):
        list(stream_batches(c, 300, 5))
    with pytest.raises(ConfigError, match="chunk"):
        list(stream_batches(c, 2, 0))


@pytest.mark.parametrize("kw", [dict(batch_size=0), dict(batch_size=2.5), dict(max_len=0),
                                dict(start=-1), dict(batch_size=True)])
def test_bad_batch_options(kw):
    c, _ = make_corpus([3, 4])
    args = dict(batch_size=2) | kw
    with pytest.raises(ConfigError):
        list(sentence_batches(c, **args))


def test_empty_corpus_is_a_data_error():
    c, _ = make_corpus([])
    with pytest.raises(DataError, match="no sentences"):
        list(sentence_batches(c, 2))
    with pytest.raises(DataError, match="no sentences"):
        list(stream_batches(c, 2, 3))


def test_batches_from_memory_mapped_corpus(tmp_path):
    from rnnlab.data import build_vocab, encode_file
    p = tmp_path / "a.txt"
    p.write_text("a b c\nd e\nf\n" * 30)
    v = build_vocab(str(p), 10, format="lines")
    c = encode_file(str(p), v, cache_dir=str(tmp_path / "cache"), format="lines")
    assert isinstance(c.tokens, np.memmap)
    assert sorted(columns(sentence_batches(c, 7))) == sorted(sequences(c))
    y = np.concatenate([y for _, y in stream_batches(c, 5, 8)]).T.reshape(-1)
    assert y[y != -1].tolist() == stream_of(c)
