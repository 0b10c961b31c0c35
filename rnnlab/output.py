"""Output layers: map hidden states to word probabilities. Each is its own object with
``loss_and_grad(params, h, y)`` and ``log_probs(params, h)``, so they are interchangeable behind the model.

Full softmax (the tutorial's o_t = softmax(V s_t), with a bias):

    z = h W^T + b,  p = softmax(z),  loss = -sum_n log p_n[y_n]
    dz = p - onehot(y);  dW = dz^T h;  db = sum_n dz_n;  dh = dz W

Class-factorised softmax (Goodman 2001; Mikolov et al. 2011): words are partitioned into classes by
unigram frequency and

    p(w | h) = p(c(w) | h) p(w | c(w), h) = softmax(h Wc^T + bc)[c(w)] * softmax_{v in c(w)}(h W_v + b_v)[w]

which is exact and normalised, yet a training step touches only the C class rows and the rows of the
words in the target classes: about C + V/C instead of V per token (C ~ sqrt(V)).

Parameter names follow torch's word_language_model: ``decoder.weight`` (V, H) is the tutorial's V,
``decoder.bias`` (V,); the class layer adds ``class_decoder.weight`` (C, H) and ``class_decoder.bias`` (C,).
"""
from __future__ import annotations

import numpy as np

from .class_batch import class_softmax_batch
from .errors import ConfigError
from .sparse import SparseGrad
from .threads import split_rows


def log_softmax(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """log softmax(z) along the last axis, z - m - log sum exp(z - m) with m the row maximum (so exp() stays
    in range); the project's one log-softmax (output layers, the tasks' cross-entropy). ``out=z`` works in
    place; by default a new array is returned."""
    m = z.max(axis=-1, keepdims=True)
    if out is None:
        out = z - m
    else:
        np.subtract(z, m, out=out)
    out -= np.log(np.exp(out).sum(axis=-1, keepdims=True))
    return out


SAFE_LOGIT = 50.0  # |z| < 50: exp(z) neither overflows nor underflows in float32, nor a row sum of 1e12 of them


def softmax_ce(z: np.ndarray, y: np.ndarray, bias=None, bound=None):
    """Cross-entropy summed over rows and its gradient, in place: z (N, K) logits (+ ``bias`` (K,), added
    here) -> p - onehot(y). Returns (loss_sum, dz) where dz is z's buffer.

    softmax(z) = softmax(z - m) for any row shift m; the row maximum keeps exp() in range. When the
    caller knows a ``bound`` >= max |z| below SAFE_LOGIT, the shift is skipped (two passes fewer)."""
    n = np.arange(z.shape[0])
    if bias is not None:
        z += bias
    if bound is None or not bound < SAFE_LOGIT:
        z -= z.max(axis=1, keepdims=True)
    zy = z[n, y].astype(np.float64)
    np.exp(z, out=z)
    s = z.sum(axis=1, keepdims=True)
    loss = float(np.sum(np.log(s[:, 0], dtype=np.float64) - zy))
    z *= 1.0 / s
    z[n, y] -= 1.0
    return loss, z


def logit_bound(h, W, b) -> float:
    """max |h_n . W_v + b_v| <= max_n ||h_n|| max_v ||W_v|| + max_v |b_v| (Cauchy-Schwarz): one pass over W."""
    hn = float(np.sqrt(np.einsum("ij,ij->i", h, h).max()))
    wn = float(np.sqrt(np.einsum("ij,ij->i", W, W).max()))
    return hn * wn + float(np.abs(b).max())


class Softmax:
    """Full softmax over the vocabulary."""

    kind = "softmax"

    def __init__(self, vocab_size: int, hidden_size: int):
        self.vocab_size, self.hidden_size = vocab_size, hidden_size

    def param_shapes(self):
        """{name: shape} of the parameters this layer reads: ``decoder.weight`` (V, H), ``decoder.bias`` (V,)."""
        return {"decoder.weight": (self.vocab_size, self.hidden_size), "decoder.bias": (self.vocab_size,)}

    def loss_and_grad(self, params, h, y, scale=1.0, need_grad=True, direct=None):
        """h: (N, H) states, y: (N,) targets. Returns (loss summed over rows, dh (N, H), grads) with the
        gradients multiplied by ``scale`` (e.g. 1/N for a mean). ``direct``: the ``rnnlab.direct.DirectBatch``
        of the N rows, whose scores add to the logits (it records their gradient)."""
        W, b = params["decoder.weight"], params["decoder.bias"]
        bound = logit_bound(h, W, b) if len(h) and direct is None else None
        dh = np.empty_like(h) if need_grad else None
        V = W.shape[0]

        def rows(lo, hi):
            """Loss of rows lo:hi and their share of dW, db (dh[lo:hi] written in place)."""
            hr = h[lo:hi]
            z = hr @ W.T
            if direct is not None:
                z += direct.block(np.arange(lo, hi), 0, V)
            loss, dz = softmax_ce(z, y[lo:hi], b, bound=bound)
            if not need_grad:
                return loss, None, None
            if direct is not None:
                direct.block_backward(dz, np.arange(lo, hi), 0, V)
            # the scale goes into the small factors (h, 1, dh), never over the (N, V) or (V, H) arrays;
            # db = s 1^T dz: one BLAS pass instead of a column sum (0.22 vs 0.55 ms at 640 x 8000)
            hs = hr * scale if scale != 1.0 else hr
            np.dot(dz, W, out=dh[lo:hi])
            return loss, dz.T @ hs, np.full(len(dz), scale, dtype=dz.dtype) @ dz

        parts = split_rows(rows, len(h))
        loss = sum(p[0] for p in parts)
        if not need_grad:
            return loss, None, {}
        dW, db = parts[0][1], parts[0][2]
        for _, dW_k, db_k in parts[1:]:
            dW += dW_k
            db += db_k
        if scale != 1.0:
            dh *= scale
        return loss, dh, {"decoder.weight": dW, "decoder.bias": db}

    def log_probs(self, params, h, direct=None):
        """log p(w | h) = log softmax(h W^T + b (+ direct scores)) for every word: h (N, H) -> (N, V)."""
        z = h @ params["decoder.weight"].T
        z += params["decoder.bias"]
        if direct is not None:
            z += direct.block(np.arange(len(h)), 0, self.vocab_size)
        return log_softmax(z, out=z)


class ClassSoftmax:
    """Class-factorised softmax; ``class_of_word`` (V,) assigns every word a class in 0..C-1."""

    kind = "class"

    def __init__(self, vocab_size: int, hidden_size: int, class_of_word):
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        self.set_classes(class_of_word)

    def set_classes(self, class_of_word):
        """Assign the words to classes: ``class_of_word`` (V,) ints 0..C-1, every class non-empty.
        Raises ConfigError otherwise."""
        c = np.asarray(class_of_word, dtype=np.int64)
        if c.shape != (self.vocab_size,) or c.min() < 0:
            raise ConfigError(f"class_of_word must be {self.vocab_size} non-negative class ids")
        C = int(c.max()) + 1
        counts = np.bincount(c, minlength=C)
        if np.any(counts == 0):
            raise ConfigError("every class must contain at least one word")
        self.class_of_word = c
        self.num_classes = C
        self.words_by_class = np.argsort(c, kind="stable")          # words grouped by class
        self.offsets = np.concatenate([[0], np.cumsum(counts)])     # class k: words_by_class[off[k]:off[k+1]]
        self.sizes = counts
        # classes that are runs of consecutive word ids (frequency classes over a frequency-sorted
        # vocabulary); informational: the batched path gathers decoder rows either way
        self.contiguous = bool(np.all(np.diff(c) >= 0))
        self.pos_in_class = np.empty(self.vocab_size, dtype=np.int64)
        self.pos_in_class[self.words_by_class] = np.arange(self.vocab_size) - self.offsets[c[self.words_by_class]]

    @property
    def n_classes(self) -> int:
        """rnnlab 0.2's name of ``num_classes``."""
        return self.num_classes

    def param_shapes(self):
        """{name: shape}: ``decoder.weight`` (V, H), ``decoder.bias`` (V,), ``class_decoder.weight`` (C, H),
        ``class_decoder.bias`` (C,)."""
        return {"decoder.weight": (self.vocab_size, self.hidden_size), "decoder.bias": (self.vocab_size,),
                "class_decoder.weight": (self.num_classes, self.hidden_size),
                "class_decoder.bias": (self.num_classes,)}

    def loss_and_grad(self, params, h, y, scale=1.0, need_grad=True, direct=None):
        """As ``Softmax.loss_and_grad``; the decoder's gradients are ``SparseGrad`` rows (the words of the
        classes present) or, when most rows have gradient, dense arrays. Computed by
        ``rnnlab.class_batch``."""
        loss, dh, dWc, dbc, rows, dW, db = class_softmax_batch(self, params, h, y, need_grad, direct)
        if not need_grad:
            return loss, None, {}
        if scale != 1.0:
            for a in (dh, dWc, dbc, dW, db):
                a *= scale
        W = params["decoder.weight"]
        if rows is None:
            grads = {"decoder.weight": dW, "decoder.bias": db}
        else:
            grads = {"decoder.weight": SparseGrad(rows, dW, W.shape, 0),
                     "decoder.bias": SparseGrad(rows, db, (W.shape[0],), 0)}
        grads.update({"class_decoder.weight": dWc, "class_decoder.bias": dbc})
        return loss, dh, grads

    def log_probs(self, params, h, direct=None):
        """log p(w | h) for every word: (N, V). ``direct``: a DirectBatch of the N rows (class k's score
        at offset k, word v's at C + its place in ``words_by_class``)."""
        W, b = params["decoder.weight"], params["decoder.bias"]
        C, rows = self.num_classes, np.arange(len(h))
        zc = h @ params["class_decoder.weight"].T
        zc += params["class_decoder.bias"]
        if direct is not None:
            zc += direct.block(rows, 0, C)
        log_softmax(zc, out=zc)
        out = np.empty((h.shape[0], self.vocab_size), dtype=h.dtype)
        for k in range(self.num_classes):
            words = self.words_by_class[self.offsets[k]:self.offsets[k + 1]]
            z = h @ W[words].T
            z += b[words]
            if direct is not None:
                z += direct.block(rows, C + self.offsets[k], len(words))
            log_softmax(z, out=z)
            z += zc[:, k:k + 1]
            out[:, words] = z
        return out


OUTPUTS = {"softmax": Softmax, "class": ClassSoftmax}  # output name (CLI --output, ModelConfig.output) -> class


def make_output(kind: str, vocab_size: int, hidden_size: int, class_of_word=None):
    """``Softmax`` for kind "softmax", ``ClassSoftmax`` for "class" (needs ``class_of_word`` (V,)).
    Raises ConfigError for anything else."""
    if kind not in OUTPUTS:
        raise ConfigError(f"unknown output {kind!r}; choose one of {', '.join(OUTPUTS)}")
    if kind == "softmax":
        return Softmax(vocab_size, hidden_size)
    if class_of_word is None:
        raise ConfigError("output='class' needs a class for every word (class_of_word)")
    return ClassSoftmax(vocab_size, hidden_size, class_of_word)
