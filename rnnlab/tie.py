"""Weight tying (Press & Wolf 2017; Inan et al. 2017): the output's word vectors are the input embedding.

    e_t = E[x_t],   z_t = E h_t + b     (the decoder's W is E, (V, H) with E = H)

One matrix then gets two gradients, the embedding's rows (the words read) and the decoder's (dense for the
full softmax, the rows of the target classes for the class output); ``add_grads`` sums them. The model keeps
one parameter, ``encoder.weight``; the output layer is handed it as ``decoder.weight``.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError
from .sparse import SparseGrad, segment_sum


def check_tie(tie: bool, embedding_size, hidden_size: int) -> None:
    """Raise ConfigError unless tying is off or the embedding is as wide as the hidden state."""
    if tie and embedding_size != hidden_size:
        have = "one-hot input (no --embedding)" if embedding_size is None else f"--embedding {embedding_size}"
        raise ConfigError(f"--tie shares the embedding with the output layer, so their sizes must match: "
                          f"{have} and --hidden {hidden_size}; give --embedding {hidden_size}")


def add_grads(a, b):
    """a + b for gradients of one (V, D) matrix, each a dense array or a row ``SparseGrad``: dense if either
    is, else a SparseGrad of the union of the rows (each once, summed)."""
    if isinstance(a, SparseGrad) and isinstance(b, SparseGrad):
        rows, vals = segment_sum(np.concatenate([a.index, b.index]), np.concatenate([a.values, b.values]))
        return SparseGrad(rows, vals, a.shape, 0)
    if isinstance(a, SparseGrad):
        a, b = b, a
    out = np.array(a, copy=True)
    if isinstance(b, SparseGrad):
        b.add_to(out, 1.0)
    else:
        out += b
    return out
