"""Maximum-entropy direct connections: hashed n-gram features of the history added to the output scores.

Mikolov et al. (2011), "Strategies for training large scale neural network language models"; the RNNLM
toolkits' ``-direct M -direct-order N``. Besides the network's score s_v(h_t) of every candidate v (a word
of the full softmax; a class, or a word of the target's class, of the class output), the model adds

    d_v(t) = sum_{o=0}^{N-1} D[g_o(t) + c(v)]          (present orders only)

where D (``direct.weight``, M entries, zero at the start) is one flat table, c(v) is the candidate's
offset (word v: v for the full softmax; class k: k and word v: C + v for the class output), and g_o(t) is
a hash of the last o words of the history (o = 0: the empty history, a unigram bias; o = 1: the current
input x_t; o = 2: x_{t-1} x_t; ...). A history of o words exists once t >= o - 1 within the sequence:
the first target of a sentence (input <s>) gets orders 0 and 1, the second 0, 1 and 2, and so on, as in
faster-rnnlm without padding. Colliding features simply share entries.

The scores of one token are D's entries g_o + c(v) for the candidates of one window [c_0, c_0 + w) (all
classes; the words of one class, a run of places in ``words_by_class``; all words), so a batch reads and
writes windows of D that start anywhere: ``block`` reads the same window of every token (the classes,
the full softmax), ``ragged`` one window of its own per token (the words of each target's class); their
``*_backward`` record dL/d(score), which is the softmax's own dz, and ``grad`` merges the windows of all
tokens and orders into one ``SparseGrad`` with each touched entry once, summed, in increasing order
(windows that overlap, through shared histories or collisions, fall into one run of entries). Only those
entries change at an update. A history that does not exist yet reads the null window, the last K entries
of D, which are kept at zero (and get no gradient): every token then reads the same number of windows.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError, ShapeError
from .sparse import SparseGrad, segment_sum

MAX_ORDER = 8
# odd 64-bit multipliers of the hash, one per (order, position in the history); fixed for ever: a saved
# table is only meaningful with the hash that filled it
_K = np.random.default_rng(20110101).integers(1, 2**63, size=(MAX_ORDER + 1, MAX_ORDER + 1),
                                               dtype=np.uint64) | np.uint64(1)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)  # splitmix64's finaliser


def check_direct(size: int | None, order: int | None, n_candidates: int):
    """Raise ConfigError unless (size, order) is off (both None) or a table of ``size`` entries (more than
    twice ``n_candidates``) with an order in 1..MAX_ORDER."""
    if size is None and order is None:
        return
    if size is None or order is None:
        raise ConfigError("direct connections need both a table size (--direct) and an order (--direct-order)")
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool) or not 1 <= order <= MAX_ORDER:
        raise ConfigError(f"--direct-order must be an integer in 1..{MAX_ORDER}, got {order!r}")
    if not isinstance(size, (int, np.integer)) or size < 3 * n_candidates:
        raise ConfigError(f"--direct table of {size!r} entries is too small for {n_candidates} output scores; "
                          f"give at least {3 * n_candidates / 1e6:.3g} (millions)")


def history_hashes(x: np.ndarray, order: int, n_buckets: int):
    """Hashes of the histories of every position of x (T, B): (order, T, B) int64 in [0, n_buckets) and the
    (order, T, B) mask of the histories that exist (order o needs t >= o - 1)."""
    T, B = x.shape
    w = x.astype(np.uint64) + np.uint64(1)                            # (T, B); 0 is no word
    hashes = np.empty((order, T, B), dtype=np.int64)
    present = np.zeros((order, T, B), dtype=bool)
    for o in range(order):
        h = np.full((T, B), _K[o, 0], dtype=np.uint64)
        for i in range(o):                                            # word x_{t-i}, where t - i >= 0
            h[i:] += w[:T - i] * _K[o, i + 1]
        h ^= h >> np.uint64(30)
        h *= _M1
        h ^= h >> np.uint64(27)
        h *= _M2
        h ^= h >> np.uint64(31)
        hashes[o] = (h % np.uint64(n_buckets)).astype(np.int64)
        present[o, max(o - 1, 0):] = True
    return hashes, present


def ragged_arange(counts: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """concatenate([arange(s, s + c) for s, c in zip(starts, counts)])."""
    counts = np.asarray(counts, dtype=np.int64)
    ends = np.cumsum(counts)
    total = int(ends[-1]) if len(ends) else 0
    return np.arange(total, dtype=np.int64) + np.repeat(np.asarray(starts, dtype=np.int64) - (ends - counts), counts)


class DirectBatch:
    """The direct connections of N tokens: their history hashes (order, N) over the table D (M,). A history
    that does not exist (too close to the start) reads the null window at M - K, where every candidate
    offset lands in entries that stay zero: their gradient is dropped."""

    def __init__(self, table: np.ndarray, hashes: np.ndarray, null: int):
        if hashes.ndim != 2:
            raise ShapeError(f"hashes must be (order, N), got {hashes.shape}")
        self.table, self.hashes, self.null = table, hashes, null
        self._windows = []    # backward: (starts (P,), widths (P,) or one width, values (sum widths,))

    @property
    def n_tokens(self):
        """N."""
        return self.hashes.shape[1]

    def block(self, tokens, offset: int, width: int) -> np.ndarray:
        """Scores of candidates offset .. offset + width - 1 for every token of ``tokens``: (n, width)."""
        view = np.lib.stride_tricks.sliding_window_view(self.table, width)
        h = self.hashes[:, tokens] + offset                            # (order, n)
        out = view[h[0]]
        for o in range(1, len(h)):
            out += view[h[o]]
        return out

    def block_backward(self, d: np.ndarray, tokens, offset: int, width: int) -> None:
        """Record dL/d(scores) (n, width) of ``block(tokens, offset, width)``."""
        h = self.hashes[:, tokens] + offset
        for o in range(len(h)):
            self._windows.append((h[o], width, d))

    def ragged(self, tokens, offsets, widths):
        """Scores of candidates offsets[i] .. offsets[i] + widths[i] - 1 of token tokens[i], concatenated
        over i: (sum widths,). Returns (scores, where); ``where`` goes to ``ragged_backward``."""
        widths = np.asarray(widths, dtype=np.int64)
        j = ragged_arange(widths, np.zeros(len(widths), dtype=np.int64))   # (E,) place within each window
        rep = np.repeat(np.arange(len(widths)), widths)                     # (E,) its token
        starts = self.hashes[:, tokens] + offsets                           # (order, n)
        out = self.table[starts[0][rep] + j]
        for o in range(1, len(starts)):
            out += self.table[starts[o][rep] + j]
        return out, (starts, widths)

    def ragged_backward(self, d: np.ndarray, where) -> None:
        """Record dL/d(scores) (sum widths,) of the scores ``ragged`` returned with ``where``."""
        starts, widths = where
        for o in range(len(starts)):
            self._windows.append((starts[o], widths, d))

    def grad(self, scale=1.0) -> SparseGrad:
        """dL/dD times ``scale`` as a SparseGrad of D's touched entries, each once, in increasing order."""
        M = self.table.shape[0]
        parts = []
        for starts, w, d in self._windows:
            if np.ndim(w) == 0:   # a block: windows of one width; the same start (history) summed first
                u, rows = segment_sum(starts, d)
                parts.append((u, np.full(len(u), w, dtype=np.int64), rows.reshape(-1)))
            else:
                parts.append((starts, w, d))
        if not parts:
            return SparseGrad(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=self.table.dtype), (M,), 0)
        starts = np.concatenate([p[0] for p in parts])
        widths = np.concatenate([p[1] for p in parts])
        vals = np.concatenate([p[2] for p in parts])
        # windows sorted by start fall into runs of overlapping ones; each run becomes one block of entries
        order = np.argsort(starts, kind="stable")
        s, e = starts[order], starts[order] + widths[order]
        reach = np.maximum.accumulate(e)
        new = np.r_[True, s[1:] >= reach[:-1]]                         # a window that starts a new run
        run = np.cumsum(new) - 1
        run_start, run_end = s[new], reach[np.r_[np.flatnonzero(new)[1:] - 1, len(s) - 1]]
        run_len = run_end - run_start
        run_off = np.cumsum(run_len) - run_len                         # where each run sits among the entries
        base = np.empty_like(starts)
        base[order] = s - run_start[run] + run_off[run]                # window -> its first entry's slot
        slot = ragged_arange(widths, base)                             # every value -> its entry's slot
        summed = np.bincount(slot, weights=vals, minlength=int(run_len.sum()))
        index = ragged_arange(run_len, run_start)
        keep = np.searchsorted(index, self.null)                       # the null window's entries stay 0
        if scale != 1.0:
            summed *= scale
        return SparseGrad(index[:keep], summed[:keep].astype(self.table.dtype), (M,), 0)


class Direct:
    """Direct connections of order ``order`` through a table of ``size`` entries for ``n_candidates`` output
    scores. ``batch(x)`` gives the ``DirectBatch`` of every position of x (T, B), rows t-major (t * B + b)."""

    def __init__(self, size: int, order: int, n_candidates: int):
        check_direct(size, order, n_candidates)
        self.size, self.order, self.n_candidates = int(size), int(order), int(n_candidates)

    @property
    def null(self) -> int:
        """Start of the null window [M - K, M): where histories that do not exist read zeros."""
        return self.size - self.n_candidates

    def batch(self, table, x, rows=None) -> DirectBatch:
        """The DirectBatch of the positions of x (T, B) (flattened t-major), or of those ``rows`` of them."""
        hashes, present = history_hashes(np.asarray(x), self.order, self.null - self.n_candidates + 1)
        hashes[~present] = self.null
        hashes = hashes.reshape(self.order, -1)
        table[self.null:] = 0   # the null window is a constant zero, whatever was loaded into it
        return DirectBatch(table, hashes if rows is None else hashes[:, rows], self.null)

