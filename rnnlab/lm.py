"""Word- (or character-) level recurrent language model: embedding -> recurrent layers -> output layer.

    e_t = E[x_t]                  (or the one-hot x_t itself when ``embedding_size`` is None: the
                                   tutorial's model, where layer 0's ``weight_ih_l0`` is U)
    h_t = layers(e_t, h_{t-1})    (RNN | LSTM | GRU, stacked)
    p(y_t | x_<=t) = output(h_t)  (full softmax, or class-factorised softmax)
    loss = mean over non-padding targets of -log p(y_t)

The model owns its state. Parameters live in one flat dict, ``lm.params``, with the names of the
equivalent torch module (``encoder.weight``, ``rnn.weight_ih_l0`` ..., ``decoder.weight``,
``decoder.bias``, and ``class_decoder.*`` for class output); the recurrent layer reads its weights
through a view of that dict (``rnnlab.params.ParamView``), so there is nothing to keep in sync.
``state_dict()`` adds the buffers (the class output's word classes, ``output.class_of_word``);
``lm.config`` and ``lm.vocab`` complete what a checkpoint holds. ``load_model`` reads one back.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from .config import ConfigMixin
from .direct import Direct
from .dropout import check_dropout, draw_masks
from .errors import ConfigError, ShapeError
from .layers import DEFAULT_FORGET_BIAS, make_layer
from .layers.base import _check_dtype
from .output import make_output
from .params import ParamView, adopt
from .sparse import SparseGrad, segment_sum
from .threads import row_parallel
from .tie import add_grads, check_tie


@dataclass
class ModelConfig(ConfigMixin):
    """The architecture of a LanguageModel (the arguments of its constructor), saved in every checkpoint.

    Raises:
        ConfigError: a size below 1, a vocabulary below 2, or an unknown cell or output.
    """

    _what = "model configuration"

    vocab_size: int
    hidden_size: int = 100          # the tutorial's hidden layer
    cell: str = "rnn"               # rnn | lstm | gru
    nonlinearity: str = "tanh"      # for cell=rnn: tanh | relu | sigmoid | linear
    num_layers: int = 1
    embedding_size: int | None = None  # None: one-hot input, layer 0's weight_ih is the tutorial's U
    output: str = "softmax"         # softmax | class
    num_classes: int | None = None  # class output: number of classes (default ~sqrt(vocab))
    dtype: str = "float32"
    seed: int = 0
    init: str = "uniform"           # uniform (torch/tutorial) | xavier | orthogonal | identity
    spectral_radius: float | None = None  # rescale each recurrent block to this spectral radius
    forget_bias: float | None = DEFAULT_FORGET_BIAS  # LSTM: forget-gate bias at init (None: torch's uniform)
    direct_size: int | None = None  # direct connections (rnnlab.direct): entries of the hashed n-gram table
    direct_order: int | None = None  # ... and their order (1: a unigram bias; 4: up to three words back)
    tie: bool = False               # the decoder's word vectors are the embedding (rnnlab.tie)
    dropout: float = 0.0            # training only: variational non-recurrent dropout (rnnlab.dropout)
    dropout_recurrent: float = 0.0  # training only: variational dropout of the state entering W_hh

    def __post_init__(self):
        for name in ("vocab_size", "hidden_size", "num_layers"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if self.vocab_size < 2:
            raise ConfigError("vocab_size must be at least 2")
        if self.embedding_size is not None and (not isinstance(self.embedding_size, (int, np.integer))
                                                or self.embedding_size < 1):
            raise ConfigError(f"embedding_size must be None or a positive integer, got {self.embedding_size!r}")
        if self.cell not in ("rnn", "lstm", "gru"):
            raise ConfigError(f"unknown cell {self.cell!r}; choose rnn, lstm or gru")
        if self.output not in ("softmax", "class"):
            raise ConfigError(f"unknown output {self.output!r}; choose softmax or class")
        self.dtype = np.dtype(self.dtype).name

    @classmethod
    def from_dict(cls, d: dict):
        """As ``ConfigMixin.from_dict``; reads rnnlab 0.2's ``n_classes`` as ``num_classes``."""
        d = dict(d)
        if "n_classes" in d:
            d.setdefault("num_classes", d.pop("n_classes"))
        return super().from_dict(d)


def default_classes(vocab_size: int, n_classes: int | None = None, counts=None) -> np.ndarray:
    """(V,) class of each id for a LanguageModel built with ``output="class"`` and no ``class_of_word``:
    ``rnnlab.data.vocab.frequency_classes`` (sqrt-frequency bins of consecutive ids, the rule
    ``rnnlab train`` uses) of ``counts`` in id order, or, without counts, of a Zipf profile 1/(id + 1), ids
    taken as sorted by decreasing frequency. ``n_classes`` defaults to round(sqrt(V)), at most V.

    Raises:
        ConfigError: counts that are not (V,) non-negative numbers, or n_classes below 1.
    """
    from .data.vocab import frequency_classes

    C = min(n_classes or max(1, int(round(np.sqrt(vocab_size)))), vocab_size)
    if counts is None:
        counts = 1.0 / np.arange(1, vocab_size + 1)
    counts = np.asarray(counts)
    if counts.shape != (vocab_size,):
        raise ConfigError(f"counts must have one entry per word ({vocab_size}), got shape {counts.shape}")
    return frequency_classes(counts, C)


CLASS_OF_WORD = "output.class_of_word"   # the class output's buffer in state_dict


def _state_at(cache, i, lstm):
    """The stacked state after step i, read off the layer caches: (L, B, H), or (h, c) for LSTM."""
    h = np.stack([c["hs"][i + 1] for c in cache])
    return (h, np.stack([c["cs"][i + 1] for c in cache])) if lstm else h


class LanguageModel:
    """See the module docstring. ``x`` and ``y`` are (T, B) int arrays; ``y == -1`` marks padding.

    Args:
        vocab_size: V, number of token ids (the tutorial's word_dim).
        hidden_size: H (the tutorial uses 100).
        cell: "rnn", "lstm" or "gru".
        nonlinearity: for ``cell="rnn"``: "tanh", "relu", "sigmoid" or "linear".
        num_layers: stacked recurrent layers.
        embedding_size: E for an embedding ``encoder.weight`` (V, E); None feeds one-hot words, so that
            ``rnn.weight_ih_l0`` (H, V) is the tutorial's U.
        output: "softmax" (``decoder.*``, the tutorial's V) or "class" (class-factorised softmax).
        dtype: np.float32 or np.float64.
        seed: seeds every initial weight.
        class_of_word: (V,) class of each word for ``output="class"``; None: ``default_classes``.
        num_classes: number of classes when ``class_of_word`` is None (default about sqrt(V));
            ``n_classes`` is its old name.
        init, spectral_radius, forget_bias: initialisation of the recurrent layers (``rnnlab.init``).
        vocab: the ``rnnlab.data.Vocab`` of the ids, or None (kept as ``lm.vocab``).
    Raises:
        ConfigError: sizes below 1, an unknown cell, nonlinearity, output, dtype or init scheme.
    """

    def __init__(self, vocab_size, hidden_size=100, cell="rnn", nonlinearity="tanh", num_layers=1,
                 embedding_size=None, output="softmax", dtype=np.float32, seed=0, *, class_of_word=None,
                 num_classes=None, n_classes=None, init="uniform", spectral_radius=None,
                 forget_bias=DEFAULT_FORGET_BIAS, vocab=None, direct_size=None, direct_order=None, tie=False,
                 dropout=0.0, dropout_recurrent=0.0):
        dtype = _check_dtype(dtype)
        num_classes = num_classes if num_classes is not None else n_classes
        self.config = ModelConfig(vocab_size, hidden_size, cell, nonlinearity, num_layers, embedding_size,
                                  output, None, dtype.name, seed, init, spectral_radius, forget_bias,
                                  direct_size, direct_order, bool(tie), float(dropout), float(dropout_recurrent))
        check_tie(tie, embedding_size, hidden_size)
        check_dropout(dropout)
        check_dropout(dropout_recurrent, "--dropout-recurrent")
        self.dtype = dtype
        self.vocab = vocab
        rng = np.random.default_rng(seed)
        in_size = vocab_size if embedding_size is None else embedding_size
        self.layer = make_layer(cell, in_size, hidden_size, nonlinearity=nonlinearity, num_layers=num_layers,
                                dtype=dtype, seed=int(rng.integers(2**31)), init=init,
                                spectral_radius=spectral_radius, forget_bias=forget_bias if cell == "lstm" else None)
        if output == "class" and class_of_word is None:
            class_of_word = default_classes(vocab_size, num_classes)
        self.output = make_output(output, vocab_size, hidden_size, class_of_word)
        if output == "class":
            self.config.num_classes = self.output.n_classes
        self.params: dict[str, np.ndarray] = {}   # the one owner of every parameter
        if embedding_size is not None:
            self.params["encoder.weight"] = rng.uniform(-0.1, 0.1, (vocab_size, embedding_size)).astype(dtype)
        else:
            # one-hot input: U = weight_ih_l0 (H, V) is read and updated by columns (one per word of the
            # batch), so it is stored column-major: each column contiguous (same shape and values)
            self.layer.params["weight_ih_l0"] = np.asfortranarray(self.layer.params["weight_ih_l0"])
        adopt(self.params, self.layer, "rnn.")    # the layer reads rnn.* through a view of self.params
        bound = 1.0 / np.sqrt(hidden_size)
        for k, shape in self.output.param_shapes().items():
            self.params[k] = rng.uniform(-bound, bound, shape).astype(dtype)
        if tie:  # drawn all the same, so that every other weight starts as without tying
            del self.params["decoder.weight"]
        self.direct = None  # direct connections: rnnlab.direct; their table starts at zero, as the toolkits'
        if direct_size is not None or direct_order is not None:
            self.direct = Direct(direct_size, direct_order, vocab_size + (self.config.num_classes or 0))
            self.params["direct.weight"] = np.zeros(direct_size, dtype=dtype)

    # -- state ---------------------------------------------------------------------------------------

    @classmethod
    def from_config(cls, cfg: ModelConfig, class_of_word=None, vocab=None):
        """A freshly initialised model of architecture ``cfg`` (``class_of_word`` for class output)."""
        return cls(cfg.vocab_size, cfg.hidden_size, cfg.cell, cfg.nonlinearity, cfg.num_layers,
                   cfg.embedding_size, cfg.output, cfg.dtype, cfg.seed, class_of_word=class_of_word,
                   num_classes=cfg.num_classes, init=cfg.init, spectral_radius=cfg.spectral_radius,
                   forget_bias=cfg.forget_bias, vocab=vocab, direct_size=cfg.direct_size,
                   direct_order=cfg.direct_order, tie=cfg.tie, dropout=cfg.dropout,
                   dropout_recurrent=cfg.dropout_recurrent)

    @classmethod
    def from_state_dict(cls, config: ModelConfig, state: dict, vocab=None):
        """The model of architecture ``config`` holding ``state`` (what ``state_dict`` returned).

        Raises:
            ConfigError: keys or shapes that do not match ``config``, or a vocabulary of another size.
        """
        if vocab is not None and len(vocab) != config.vocab_size:
            raise ConfigError(f"vocabulary of {len(vocab)} tokens, model of {config.vocab_size}")
        lm = cls.from_config(config, class_of_word=state.get(CLASS_OF_WORD), vocab=vocab)
        lm.load_state_dict(state)
        return lm

    def state_dict(self) -> dict:
        """{name: the live array}: the parameters and the buffers (``output.class_of_word``)."""
        sd = dict(self.params)
        if self.output.kind == "class":
            sd[CLASS_OF_WORD] = self.output.class_of_word
        return sd

    def load_state_dict(self, state: dict) -> None:
        """Copy ``state`` into this model in place; its keys and shapes must be exactly ``state_dict``'s.

        Raises:
            ConfigError: missing or unexpected keys, or an array of another shape.
        """
        mine = self.state_dict()
        if set(state) != set(mine):
            missing, extra = set(mine) - set(state), set(state) - set(mine)
            raise ConfigError(f"the state does not match the model: missing {sorted(missing)}, "
                              f"unexpected {sorted(extra)}")
        for k, v in state.items():
            if np.shape(v) != mine[k].shape:
                raise ConfigError(f"{k} has shape {np.shape(v)}, the model {mine[k].shape}")
        for k, v in state.items():
            if k == CLASS_OF_WORD:
                self.output.set_classes(v)      # also rebuilds the class tables
            else:
                self.params[k][...] = v

    def load_params(self, params: dict) -> None:
        """Copy arrays into the parameters in place (``load_state_dict`` without the buffers)."""
        self.load_state_dict({**params, **{k: v for k, v in self.state_dict().items() if k not in self.params}})

    def bind(self, params: dict) -> LanguageModel:
        """A model of the same structure (same output object, same vocabulary) that reads its weights from
        ``params`` (same keys), e.g. private copies of some of them (``rnnlab.hogwild.reader_model``)."""
        if set(params) != set(self.params):
            raise ConfigError("bind needs exactly the model's parameter names")
        other = copy.copy(self)
        other.params = params
        other.layer = copy.copy(self.layer)
        other.layer.params = ParamView(params, "rnn.")
        return other

    @property
    def vocab_size(self):
        """V."""
        return self.config.vocab_size

    @property
    def hidden_size(self):
        """H."""
        return self.config.hidden_size

    # -- forward pieces ------------------------------------------------------------------------------

    def _check_tokens(self, x, name="x"):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.integer) or x.ndim != 2:
            raise ShapeError(f"{name} must be a (T, B) integer array, got {x.dtype} {x.shape}")
        return x

    def embed(self, x):
        """Input of the recurrent stack for tokens x (T, B): (T, B, E) floats, or x itself (one-hot)."""
        if "encoder.weight" in self.params:
            return self.params["encoder.weight"][x]
        return x

    def hidden(self, x, h0=None, masks=None):
        """Run embedding and recurrent layers: (out (T, B, H), hn, layer cache); ``masks``: dropout
        (``rnnlab.dropout.Masks``) on the embeddings, between layers and on the recurrent states, or None."""
        x = self._check_tokens(x)
        if x.size and (x.min() < 0 or x.max() >= self.vocab_size):
            raise ShapeError(f"token ids must lie in [0, {self.vocab_size}), got {x.min()}..{x.max()}")
        e = self.embed(x)
        if masks is not None and masks.input is not None:
            e = e * masks.input                                   # (T, B, E) * (B, E): the same at every step
        if masks is None:
            return self.layer.forward(e, h0)
        return self.layer.forward(e, h0, masks.layers, masks.recurrent)

    def output_params(self) -> dict:
        """The output layer's parameters (decoder, and class decoder for class output), by name."""
        out = {k: self.params[k] for k in self.output.param_shapes() if k in self.params}
        if self.config.tie:      # the decoder's word vectors are the embedding (rnnlab.tie)
            out["decoder.weight"] = self.params["encoder.weight"]
        return out

    def direct_batch(self, x, rows=None):
        """The ``rnnlab.direct.DirectBatch`` of the positions of x (T, B) (t-major rows, or those ``rows``),
        or None for a model without direct connections."""
        return None if self.direct is None else self.direct.batch(self.params["direct.weight"], x, rows)

    # -- training ------------------------------------------------------------------------------------

    def forward_backward(self, x, y, h0=None, truncate=None, dhn=None, need_grad=True, state_at=None,
                         dropout_key=None):
        """Mean cross-entropy over non-padding targets, its gradients and the final state.

        Returns (loss, grads, hn, n_tokens); with ``state_at=i`` the state after step i instead of the
        final one (chunked training with overlapping windows carries that state to the next window).
        ``grads`` has the keys of ``params``; the rows of the
        embedding (and, for class output, of the decoder) are ``SparseGrad`` objects: call
        ``rnnlab.sparse.to_dense`` for arrays. ``loss_and_grads`` returns dense arrays.

        Args:
            x, y: (T, B) int arrays of input and target ids; ``y == -1`` is padding.
            h0: initial state like ``hn`` ((L, B, H), or (h, c) for the LSTM); None: zeros.
            truncate: None (full BPTT) or k >= 0, the tutorial's ``bptt_truncate``.
            dhn: gradient arriving at the final state (chunked training), or None.
            need_grad: False skips the backward pass (grads is then None).
            dropout_key: with a model built with ``dropout`` or ``dropout_recurrent`` > 0, the seed of this
                step's dropout masks
                (the trainer passes (seed, step)); None: no dropout (evaluation).
        Raises:
            ShapeError: x, y not (T, B) integer arrays of one shape, ids outside [0, V) (targets: or -1),
                or no target.
        """
        x, y = self._check_tokens(x), self._check_tokens(y, "y")
        if x.shape != y.shape:
            raise ShapeError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
        if y.size and (y.min() < -1 or y.max() >= self.vocab_size):
            raise ShapeError(f"target ids must lie in [0, {self.vocab_size}) or be -1 (padding), "
                             f"got {y.min()}..{y.max()}")
        # a full softmax that outweighs the recurrent layers runs as two halves of rows on two threads
        # when the BLAS may use two (rnnlab.threads.row_parallel)
        V, H = self.vocab_size, self.hidden_size
        with row_parallel(self.output.kind == "softmax" and x.size * V >= 1 << 20 and V >= 20 * H
                          and self.direct is None):  # (direct: one thread keeps its sums in one order)
            return self._forward_backward(x, y, h0, truncate, dhn, need_grad, state_at, dropout_key)

    def _forward_backward(self, x, y, h0, truncate, dhn, need_grad, state_at, dropout_key=None):
        T, B = x.shape
        H = self.hidden_size
        cfg = self.config
        masks = None
        if (cfg.dropout > 0 or cfg.dropout_recurrent > 0) and dropout_key is not None:
            masks = draw_masks(cfg.dropout, dropout_key, B, cfg.embedding_size, H, cfg.num_layers, self.dtype,
                               cfg.dropout_recurrent)
        out, hn, cache = self.hidden(x, h0, masks)
        if masks is not None and masks.output is not None:
            out = out * masks.output                              # (T, B, H): before the output layer
        if state_at is not None:
            hn = _state_at(cache, state_at, self.layer.cell.has_cell_state)
        yf = y.reshape(-1)
        valid = yf != -1                        # only -1 is padding (other negatives were refused above)
        n = int(valid.sum())
        if n == 0:
            raise ShapeError("no target tokens: y is all padding")
        h2 = out.reshape(-1, H)
        all_valid = n == yf.size
        hv = h2 if all_valid else h2[valid]
        yv = yf if all_valid else yf[valid]
        direct = self.direct_batch(x, None if all_valid else np.flatnonzero(valid))
        loss_sum, dh, grads = self.output.loss_and_grad(self.output_params(), hv, yv, scale=1.0 / n,
                                                        need_grad=need_grad, direct=direct)
        loss = loss_sum / n
        if not need_grad:
            return loss, None, hn, n
        if all_valid:
            dout = dh.reshape(T, B, H)
        else:
            dout = np.zeros((T * B, H), dtype=self.dtype)
            dout[valid] = dh
            dout = dout.reshape(T, B, H)
        if masks is not None and masks.output is not None:
            dout = dout * masks.output
        dx, _, lgrads = self.layer.backward(cache, dout, dhn, truncate=truncate, sparse_input_grad=True)
        for k, g in lgrads.items():
            grads[f"rnn.{k}"] = g
        if direct is not None:
            grads["direct.weight"] = direct.grad(1.0 / n)
        if "encoder.weight" in self.params:
            E = self.params["encoder.weight"]
            if masks is not None and masks.input is not None:
                dx = dx * masks.input
            rows, sums = segment_sum(x.reshape(-1), dx.reshape(-1, E.shape[1]))
            grads["encoder.weight"] = SparseGrad(rows, sums, E.shape, 0)
            if self.config.tie:
                grads["encoder.weight"] = add_grads(grads["encoder.weight"], grads.pop("decoder.weight"))
        return loss, {k: grads[k] for k in self.params}, hn, n

    def loss_and_grads(self, x, y, truncate=None, dropout_key=None):
        """Mean cross-entropy over targets y != -1 and its exact gradient (dense arrays, params' keys)."""
        loss, grads, _, _ = self.forward_backward(x, y, truncate=truncate, dropout_key=dropout_key)
        return loss, {k: (g.dense() if isinstance(g, SparseGrad) else g) for k, g in grads.items()}

    def loss(self, x, y, h0=None):
        """(mean cross-entropy, hn, number of targets) without gradients."""
        loss, _, hn, n = self.forward_backward(x, y, h0=h0, need_grad=False)
        return loss, hn, n

    # -- inference -----------------------------------------------------------------------------------

    def log_probs(self, x, h0=None):
        """(T, B, V) log p(next word | prefix) and the final state, for either output layer."""
        out, hn, _ = self.hidden(x, h0)
        T, B, H = out.shape
        logp = self.output.log_probs(self.output_params(), out.reshape(-1, H), direct=self.direct_batch(x))
        return logp.reshape(T, B, -1), hn

    def logits(self, x, h0=None):
        """(T, B, V) unnormalised scores z = h V^T + b of the full softmax output, and the final state.

        Raises:
            ConfigError: for the class output, whose scores come in two factors: use ``log_probs``.
        """
        if self.output.kind != "softmax":
            raise ConfigError("a class output has no single vector of logits; use log_probs")
        out, hn, _ = self.hidden(x, h0)
        T, B, H = out.shape
        p = self.output_params()
        z = out.reshape(-1, H) @ p["decoder.weight"].T + p["decoder.bias"]
        if self.direct is not None:   # the hashed n-gram scores add to the network's
            z += self.direct_batch(x).block(np.arange(T * B), 0, self.vocab_size)
        return z.reshape(T, B, -1), hn

    def __repr__(self):
        c = self.config
        return (f"LanguageModel(vocab={c.vocab_size}, hidden={c.hidden_size}, cell={c.cell}"
                f"{'/' + c.nonlinearity if c.cell == 'rnn' else ''}, layers={c.num_layers}, "
                f"embedding={c.embedding_size}, output={c.output}, dtype={c.dtype}"
                + (f", direct={c.direct_size:,} order {c.direct_order}" if c.direct_size else "")
                + (", tied" if c.tie else "") + (f", dropout={c.dropout:g}" if c.dropout else "")
                + (f", dropout_recurrent={c.dropout_recurrent:g}" if c.dropout_recurrent else "") + ")")


# -- checkpoints -----------------------------------------------------------------------------------------

MODEL_PREFIX = "model/"     # a checkpoint's keys of the model's state_dict


def checkpoint_arrays(lm: LanguageModel) -> dict:
    """The model's state under checkpoint keys (``model/<name>``)."""
    return {MODEL_PREFIX + k: v for k, v in lm.state_dict().items()}


def state_from_arrays(arrays: dict) -> dict:
    """The model's state_dict out of a checkpoint's arrays: ``model/<name>``, or rnnlab 0.2's
    ``param/<name>`` and ``extra/class_of_word``."""
    state = {k[len(MODEL_PREFIX):]: v for k, v in arrays.items() if k.startswith(MODEL_PREFIX)}
    if not state:
        state = {k[6:]: v for k, v in arrays.items() if k.startswith("param/")}
        if "extra/class_of_word" in arrays:
            state[CLASS_OF_WORD] = arrays["extra/class_of_word"]
    return state


def load_model(path_or_dir) -> LanguageModel:
    """The LanguageModel of a model directory (its best.npz, else last.npz) or checkpoint file, with its
    vocabulary as ``lm.vocab`` (None when the checkpoint holds none). Reads rnnlab 0.2's checkpoints too.

    Raises:
        CheckpointError: no checkpoint there, a corrupt one, or one whose arrays do not fit its own
            configuration or vocabulary.
    """
    from . import checkpoint
    from .data.vocab import Vocab
    from .errors import CheckpointError, DataError

    path = checkpoint.find_model_file(path_or_dir)
    arrays, meta = checkpoint.load(path)
    if not isinstance(meta.get("model"), dict):
        raise CheckpointError(f"{path} holds no model configuration; it was not written by rnnlab")
    try:
        vocab = Vocab.from_json(meta["vocab"]) if "vocab" in meta else None
    except DataError as e:
        raise CheckpointError(f"{path}: the checkpoint holds no usable vocabulary ({e})") from None
    try:
        return LanguageModel.from_state_dict(ModelConfig.from_dict(meta["model"]), state_from_arrays(arrays), vocab)
    except ConfigError as e:
        raise CheckpointError(f"{path} does not match its own model configuration ({e}); it was altered or written "
                              f"by another program: use another checkpoint or retrain") from None
