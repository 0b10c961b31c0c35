"""The class-factorised softmax of a whole batch: the fast path of ``rnnlab.output.ClassSoftmax``.

For token n with hidden state h_n, target word w_n and its class c_n = c(w_n):

    loss_n = -log softmax(Wc h_n + bc)[c_n] - log softmax_{v in c_n}(W_v h_n + b_v)[w_n]

The class term is one (N, C) product. The word term needs, for every token, the decoder rows of its own
class only: tokens are grouped by class and each class present takes one product on a view of the
decoder (its words are a run of ids when classes are by frequency) forward, and two backward
(dh = dZ W_k, dW_k = dZ^T h_k). Everything else is done once for the whole batch:

- the logits of all rows, the N class rows of C and every token's word row of |c_n|, live in one flat
  buffer, and one softmax runs over all of them (segment max and sum with ``reduceat``);
- biases are added, targets read and gradients of the biases summed with one gather / ``bincount``.

So a batch costs 3 small BLAS calls per class present (``np.dot``: ``np.matmul`` falls back to a slow
loop when a class has a single token) and ~40 NumPy calls in all, instead of ~20 calls per class.
Classes of one word are skipped: p(w | c) = 1, no loss, no gradient.
"""
from __future__ import annotations

import numpy as np

# dense decoder gradients when this share of rows has gradient. 1: only when every row has one, where dense
# and sparse mean the same to every optimiser (SparseAdam's lazy rows too); Adagrad densifies itself at 50%
DENSE_FRACTION = 1.0


def _ragged_arange(counts: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """concatenate([arange(s, s + c) for s, c in zip(starts, counts)]) in a few calls."""
    ends = np.cumsum(counts)
    return np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64) + np.repeat(starts - (ends - counts), counts)


def class_softmax_batch(out, params, h, y, need_grad=True, direct=None):
    """Loss (summed over tokens, float) and gradients of the class-factorised softmax of a batch.

    Args:
        out: the ``ClassSoftmax`` (class_of_word, sizes, offsets, words_by_class, pos_in_class, contiguous).
        params: ``decoder.weight`` (V, H), ``decoder.bias`` (V,), ``class_decoder.weight`` (C, H),
            ``class_decoder.bias`` (C,).
        h: (N, H) hidden states; y: (N,) targets in [0, V).
        direct: None, or the ``rnnlab.direct.DirectBatch`` of the N tokens: its scores add to the class
            logits (class k at offset k) and the word logits (word v at C + its place in words_by_class),
            and it records their gradients.
    Returns:
        loss_sum, and with ``need_grad``: dh (N, H), dWc (C, H), dbc (C,), rows (R,): the decoder rows
        with gradient (the words of the classes present, each once), dW (R, H), db (R,); else Nones.
        When the classes are runs of ids and those rows are at least ``DENSE_FRACTION`` of the decoder,
        rows is None and dW (V, H), db (V,) are the full gradients (zero outside the classes present):
        writing them costs no more than the rows alone, and dense updates beat scattered ones.
    """
    W, b = params["decoder.weight"], params["decoder.bias"]
    Wc, bc = params["class_decoder.weight"], params["class_decoder.bias"]
    N, H = h.shape
    C = Wc.shape[0]
    dt = h.dtype
    cy = out.class_of_word[y]                                         # (N,)
    order = np.argsort(cy, kind="stable")                             # tokens grouped by class
    cnt = np.bincount(cy, minlength=C)
    multi = out.sizes > 1
    n_multi = int(cnt[multi].sum())
    sorted_multi = order[multi[cy[order]]]                            # (n,) tokens with a word softmax
    present = np.flatnonzero((cnt > 0) & multi)                       # (K,) classes with work, in order
    ck, sk, off = cnt[present], out.sizes[present], out.offsets[present]

    # layout of the flat logits: N rows of C, then one row of |c_n| per token of a multi-word class
    lengths = np.concatenate([np.full(N, C, dtype=np.int64), np.repeat(sk, ck)])
    starts = np.cumsum(lengths) - lengths
    flat = np.empty(int(starts[-1] + lengths[-1]), dtype=dt)
    zc = flat[:N * C].reshape(N, C)
    np.dot(h, Wc.T, out=zc)
    zc += bc
    if direct is not None:
        zc += direct.block(np.arange(N), 0, C)
    # position of every word logit within the decoder rows of the classes present (R rows in all)
    row_start = np.cumsum(sk) - sk                                    # (K,) first of class k's R rows
    elem_row = _ragged_arange(lengths[N:], np.repeat(row_start, ck))  # (E,)
    rows = _ragged_arange(sk, off)                                    # (R,) positions in words_by_class
    if not out.contiguous:
        rows = out.words_by_class[rows]                               # (R,) decoder row ids
    hs = h[sorted_multi]                                              # (n, H) grouped by class
    blocks = []                                                       # (Z_k, h_k, W_k, first token)
    e0, t0 = N * C, 0
    for n, S, a in zip(ck.tolist(), sk.tolist(), off.tolist()):
        Wk = W[a:a + S] if out.contiguous else W[out.words_by_class[a:a + S]]
        Zk = flat[e0:e0 + n * S].reshape(n, S)
        hk = hs[t0:t0 + n]
        np.dot(hk, Wk.T, out=Zk)
        blocks.append((Zk, hk, Wk, t0))
        e0, t0 = e0 + n * S, t0 + n
    word_rows = rows[elem_row]                                        # (E,) decoder row of each word logit
    flat[N * C:] += b[word_rows]
    if direct is not None:                                            # token n's window: its class's words
        d_words, d_at = direct.ragged(sorted_multi, C + out.offsets[cy[sorted_multi]], out.sizes[cy[sorted_multi]])
        flat[N * C:] += d_words

    # one softmax over all rows
    tpos = np.concatenate([starts[:N] + cy, starts[N:] + out.pos_in_class[y[sorted_multi]]])
    flat -= np.repeat(np.maximum.reduceat(flat, starts), lengths)
    zt = flat[tpos]
    np.exp(flat, out=flat)
    s = np.add.reduceat(flat, starts)
    loss = float(np.log(s, dtype=np.float64).sum() - zt.sum(dtype=np.float64))
    if not need_grad:
        return loss, None, None, None, None, None, None

    # backward: dZ = p - onehot, then the products
    flat *= np.repeat(1.0 / s, lengths)
    flat[tpos] -= 1.0
    if direct is not None:                                            # the scores' gradient is the logits'
        direct.block_backward(zc, np.arange(N), 0, C)
        direct.ragged_backward(flat[N * C:], d_at)
    dWc = zc.T @ h
    dbc = zc.sum(axis=0)
    dh = zc @ Wc
    V = W.shape[0]
    dense = out.contiguous and len(rows) >= DENSE_FRACTION * V
    if dense:       # the gradient of the whole decoder: class k's rows are dW[a_k:a_k+S_k], the rest 0
        dW = np.empty((V, H), dtype=dt)
        untouched = np.ones(V, dtype=bool)
        untouched[rows] = False
        dW[untouched] = 0.0
        dst = off.tolist()
    else:           # only the rows of the classes present, in the order of ``rows``
        dW = np.empty((len(rows), H), dtype=dt)
        dst = row_start.tolist()
    dhs = np.zeros((N, H), dtype=dt)                                  # all tokens by class; one-word classes: 0
    dhs_multi = dhs[:n_multi]
    for (Zk, hk, Wk, t0), r0 in zip(blocks, dst):
        np.dot(Zk, Wk, out=dhs_multi[t0:t0 + len(hk)])
        np.dot(Zk.T, hk, out=dW[r0:r0 + len(Wk)])
    if dense:
        db = np.bincount(word_rows, weights=flat[N * C:], minlength=V).astype(dt)
        rows = None
    else:
        db = np.bincount(elem_row, weights=flat[N * C:], minlength=len(rows)).astype(dt)
    inv = np.empty(N, dtype=np.int64)                                 # token -> its row in dhs
    inv[np.concatenate([sorted_multi, order[~multi[cy[order]]]])] = np.arange(N)
    dh += dhs[inv]
    return loss, dh, dWc, dbc, rows, dW, db
