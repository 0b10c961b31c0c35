"""Stream training data (TBPTT(k1, k2) windows): the stream, the masks, and the state carried between windows."""
import numpy as np
import pytest

from rnnlab.data import Vocab, encode_sentences, stream_window
from rnnlab.lm import LanguageModel
from rnnlab.prepare import StreamData
from rnnlab.training import TrainConfig, Trainer


def make_corpus(n=40, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(9)]
    sents = [list(rng.choice(words, size=rng.integers(1, 7))) for _ in range(n)]
    vocab = Vocab.from_sentences(sents, 20)
    return encode_sentences(sents, vocab), sents, vocab


def whole(data):
    """The B streams in full, (B, L) each: x and y."""
    x, y = stream_window(data.train, data.B, 0, data.L)
    return x.T, y.T


def test_stream_is_the_corpus_with_markers():
    corpus, sents, vocab = make_corpus()
    data = StreamData(corpus, corpus, batch_size=3, k1=4)
    X, Y = whole(data)
    y = Y.reshape(-1)
    y = y[y >= 0]
    expected = np.concatenate([np.r_[vocab.encode(s), vocab.eos] for s in sents])
    np.testing.assert_array_equal(y, expected)                     # every target once, in order
    x = X.reshape(-1)[: len(expected)]
    np.testing.assert_array_equal(x[0], vocab.bos)
    np.testing.assert_array_equal(x[1:][expected[:-1] == vocab.eos], vocab.bos)   # <s> after every </s>
    np.testing.assert_array_equal(x[1:][expected[:-1] != vocab.eos], expected[:-1][expected[:-1] != vocab.eos])


@pytest.mark.parametrize("k1,k2", [(4, 4), (3, 7), (5, 6)])
def test_windows_learn_every_target_once(k1, k2):
    corpus, _, _ = make_corpus()
    data = StreamData(corpus, corpus, batch_size=2, k1=k1, k2=k2)
    Y = whole(data)[1]
    seen = np.zeros_like(Y, dtype=int)
    for (s, p, e, _), (x, y) in zip(data._windows(), data.epoch_batches(0)):
        assert x.shape[0] == e - s <= k2
        learnt = y >= 0
        assert not learnt[: p - s].any()
        seen[:, p:e] += learnt[p - s:].T
    np.testing.assert_array_equal(seen, (Y >= 0).astype(int))
    assert data.n_batches(0) == len(list(data._windows()))


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("k1,k2", [(4, 4), (3, 7)])
def test_carried_state_equals_one_long_forward(cell, k1, k2):
    """The state the trainer carries into each window (lm state_at=batch.carry_from) is the state a single
    forward pass over the whole stream has at the window's first position."""
    from rnnlab.lm import _state_at

    corpus, _, vocab = make_corpus(30)
    data = StreamData(corpus, corpus, batch_size=2, k1=k1, k2=k2)
    lstm = cell == "lstm"
    lm = LanguageModel(len(vocab), 5, cell=cell, embedding_size=3, dtype=np.float64)
    _, _, full = lm.hidden(whole(data)[0].T.astype(np.int64))      # the whole stream at once
    carry = None
    n = 0
    for i, ((s, _, _, _), batch) in enumerate(zip(data._windows(), data.epoch_batches(0))):
        x = batch.x
        assert batch.continues == (i > 0)
        if carry is not None:
            np.testing.assert_allclose(carry[0][0] if lstm else carry[0], full[0]["hs"][s], rtol=1e-12, atol=1e-14)
            if lstm:
                np.testing.assert_allclose(carry[1][0], full[0]["cs"][s], rtol=1e-12, atol=1e-14)
            n += 1
        _, _, cache = lm.hidden(x, carry)
        carry = _state_at(cache, batch.carry_from, lstm)
    assert n == data.n_batches(0) - 1


@pytest.mark.parametrize("k1,k2", [(4, 4), (3, 7)])
def test_a_skipped_step_still_hands_its_state_on(tmp_path, k1, k2):
    """Defect 2: a non-finite (skipped) step returned before the carried state was updated, so the next
    window started from an older window's state. Every window must start from the state its predecessor
    computed at the position where it begins, skipped or not."""
    corpus, _, vocab = make_corpus(30)
    data = StreamData(corpus, corpus, batch_size=2, k1=k1, k2=k2)
    lm = LanguageModel(len(vocab), 5, cell="lstm", embedding_size=3, dtype=np.float64)
    tr = Trainer(lm, TrainConfig(optimizer="sgd", lr=0.1, epochs=1, stream=True, max_bad_steps=3), data,
                 tmp_path, meta={}, log=lambda s: None, progress=False)
    orig, seen = lm.forward_backward, []

    def watched(*a, **k):
        loss, grads, hn, n = orig(*a, **k)
        if not k.get("need_grad", True):                      # validation, not a training step
            return loss, grads, hn, n
        seen.append((k["h0"], hn))
        if len(seen) in (2, 5):                               # these steps go bad and are skipped
            grads["rnn.weight_hh_l0"] = grads["rnn.weight_hh_l0"] * np.nan
        return loss, grads, hn, n

    lm.forward_backward = watched
    assert tr.run() == 0 and tr.state["skipped_steps"] == 2
    assert len(seen) == data.n_batches(0) and seen[0][0] is None
    for (_, handed_on), (h0, _) in zip(seen, seen[1:]):
        for a, b in zip(handed_on, h0):
            np.testing.assert_array_equal(a, b)
