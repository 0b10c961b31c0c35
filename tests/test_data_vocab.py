"""Vocabulary: size convention, deterministic order, unk mapping, JSON, frequency classes."""
from collections import Counter

import numpy as np
import pytest

from rnnlab.data import EOS, UNK, Vocab
from rnnlab.errors import ConfigError, DataError


def test_size_counts_the_specials_and_ties_are_broken_by_token():
    counts = Counter({"b": 5, "a": 5, "c": 3, "d": 1, "e": 1, UNK: 2, EOS: 4})
    v = Vocab.from_counts(counts, max_size=6)
    assert len(v) == 6
    assert v.tokens == ("<unk>", "<s>", "</s>", "a", "b", "c")
    assert v.counts.tolist() == [2 + 1 + 1, 0, 4, 5, 5, 3]       # unk = literal + dropped d, e
    assert (v.unk, v.bos, v.eos) == (0, 1, 2)


def test_smaller_corpus_gives_smaller_vocab_unless_strict():
    counts = Counter({"x": 2, "y": 1})
    assert len(Vocab.from_counts(counts, 8000)) == 5
    with pytest.raises(DataError, match="only 2 distinct tokens.*at most 5"):
        Vocab.from_counts(counts, 8000, strict=True)


def test_min_count_sends_rare_tokens_to_unk():
    v = Vocab.from_counts(Counter({"x": 3, "y": 1}), 10, min_count=2)
    assert v.tokens[3:] == ("x",) and v.counts[v.unk] == 1


@pytest.mark.parametrize("size", [3, 0, -1, 2.5, True, "8000"])
def test_bad_size(size):
    with pytest.raises(ConfigError, match="vocabulary size"):
        Vocab.from_counts(Counter({"a": 1}), size)


def test_encode_decode_and_unknown_words():
    v = Vocab.from_sentences([["the", "cat"], ["the", "dog"]], 5)
    ids = v.encode(["the", "zebra", "<unk>", "</s>"])
    assert ids.dtype == np.int32
    assert ids.tolist() == [v.id("the"), v.unk, v.unk, v.eos]
    assert v.decode(ids) == ["the", "<unk>", "<unk>", "</s>"]
    assert v.decode(np.array([[3], [4]])) == [v.tokens[3], v.tokens[4]]
    assert v.join(["a", "b"]) == "a b"
    with pytest.raises(DataError, match="outside the vocabulary"):
        v.decode([0, 99])
    with pytest.raises(DataError, match="integers"):
        v.decode([1.5])


def test_char_vocab_joins_without_spaces():
    v = Vocab.from_sentences([list("ab c")], 10, level="char")
    assert v.join(v.decode(v.encode(list("ab c")))) == "ab c"


def test_json_round_trip_and_rejects_garbage():
    v = Vocab.from_sentences([["a", "b", "b"], ["c"]], 10, level="char")
    d = v.to_json()
    import json
    w = Vocab.from_json(json.loads(json.dumps(d)))
    assert w == v and w.level == "char" and w.fingerprint() == v.fingerprint()
    for bad in [None, [], {"format": "x"}, {**d, "version": 99}, {**d, "tokens": d["tokens"][:-1]},
                {**d, "tokens": ["a"] + d["tokens"][1:]}, {**d, "counts": [1.5] * len(d["tokens"])},
                {**d, "tokens": d["tokens"][:3] + ["a", "a"] + d["tokens"][5:]}]:
        with pytest.raises(DataError):
            Vocab.from_json(bad)


def _classes_reference(counts, n):
    """Plain-loop statement of the documented rule, to judge the vectorised one."""
    V = len(counts)
    order = sorted(range(V), key=lambda i: (-counts[i], i))
    m = [float(np.sqrt(counts[i])) for i in order]
    total = sum(m)
    m = [x / total for x in m] if total > 0 else [1.0 / V] * V
    out, before, prev = [0] * V, 0.0, -1
    for r, i in enumerate(order):
        c = min(int(np.floor(before * n)), n - 1)
        c = min(max(c, n - (V - r)), r)
        c = min(c, prev + 1)
        out[i], prev = c, c
        before += m[r]
    return out


@pytest.mark.parametrize("seed", range(20))
def test_frequency_classes_match_reference_and_fill_every_class(seed):
    rng = np.random.default_rng(seed)
    V = int(rng.integers(4, 300))
    counts = np.floor(rng.zipf(1.3, V - 3).clip(0, 10**6)).astype(np.int64)
    if seed % 5 == 0:
        counts[0] = 10**9                                         # one token dominates
    v = Vocab(["<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(V - 3)],
              np.concatenate([[int(rng.integers(0, 50)), 0, int(rng.integers(1, 500))], counts]))
    for n in sorted({1, 2, int(rng.integers(1, V + 1)), int(np.sqrt(V)), V}):
        cls = v.frequency_classes(n)
        assert cls.shape == (V,) and cls.dtype == np.int64
        assert cls.tolist() == _classes_reference(v.counts.tolist(), n)
        assert np.bincount(cls, minlength=n).min() >= 1 and cls.max() == n - 1
        order = np.argsort(-v.counts, kind="stable")
        assert (np.diff(cls[order]) >= 0).all()                  # frequent words in lower classes


def test_frequency_classes_balance_sqrt_mass():
    counts = (1e6 / np.arange(1, 2001) ** 1.1).astype(np.int64) + 1   # Zipf-like
    v = Vocab(["<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(1997)], counts[:2000])
    cls = v.frequency_classes(40)
    mass = np.bincount(cls, weights=np.sqrt(v.counts), minlength=40)
    mass /= mass.sum()
    assert mass.max() < 2.5 / 40 and mass[:-1].min() > 0.5 / 40
    assert np.bincount(cls)[0] < np.bincount(cls)[-1]            # few frequent words, many rare ones


@pytest.mark.parametrize("n", [0, -1, 6, 2.0])
def test_frequency_classes_bad_n(n):
    v = Vocab.from_sentences([["a", "b"]], 10)
    with pytest.raises(ConfigError, match="number of classes"):
        v.frequency_classes(n)
