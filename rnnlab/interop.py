"""Hand models to PyTorch and take them back. torch is imported only inside these functions.

``to_torch(layer)`` returns ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` with the same weights (same names, same
gate order, so no transposes); ``from_torch(module)`` builds the rnnlab layer. Round trips are exact.

``to_torch(lm)`` returns a ``TorchLanguageModel`` whose ``state_dict`` keys are ``lm.params``' keys;
``from_torch(module)`` (also of a ``DistributedDataParallel``-wrapped one) gives the LanguageModel back,
bit for bit. Files that carry such a module with its vocabulary: ``rnnlab.torch_io``.
"""
from __future__ import annotations

import functools

import numpy as np

from .errors import ConfigError


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ConfigError("PyTorch is not installed: pip install 'rnnlab[torch]' (torch==2.13.0)") from e
    return torch


def to_torch(model):
    """The equivalent torch module (float32 or float64 as the model), same parameters."""
    from .layers import GRU, LSTM, RNN

    if isinstance(model, (RNN, LSTM, GRU)):
        torch = _torch()
        tdt = torch.float64 if model.dtype == np.float64 else torch.float32
        if isinstance(model, RNN):
            if model.nonlinearity not in ("tanh", "relu"):
                raise ConfigError(f"torch.nn.RNN has no {model.nonlinearity!r} nonlinearity; use tanh or relu")
            mod = torch.nn.RNN(model.input_size, model.hidden_size, model.num_layers,
                               nonlinearity=model.nonlinearity, dtype=tdt)
        else:
            cls = torch.nn.LSTM if isinstance(model, LSTM) else torch.nn.GRU
            mod = cls(model.input_size, model.hidden_size, model.num_layers, dtype=tdt)
        mod.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.params.items()})
        return mod
    from .lm import LanguageModel  # one way only: rnnlab.lm does not import this module

    if isinstance(model, LanguageModel):
        return lm_to_torch(model)
    raise ConfigError(f"cannot convert {type(model).__name__} to torch")


def unwrap(module):
    """The module inside a ``DistributedDataParallel`` / ``DataParallel`` wrapper (else the module)."""
    torch = _torch()
    while isinstance(module, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
        module = module.module
    return module


def from_torch(module):
    """The rnnlab layer (or language model) equivalent to a torch module, same parameters."""
    torch = _torch()
    from .layers import GRU, LSTM, RNN

    module = unwrap(module)

    if isinstance(module, (torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU)):
        if module.bidirectional or not module.bias or module.batch_first or getattr(module, "proj_size", 0):
            raise ConfigError("only unidirectional, time-major torch layers with biases and no projection "
                              "can be converted")
        dtype = np.float64 if module.weight_ih_l0.dtype == torch.float64 else np.float32
        args = (module.input_size, module.hidden_size)
        if isinstance(module, torch.nn.LSTM):
            layer = LSTM(*args, num_layers=module.num_layers, dtype=dtype)
        elif isinstance(module, torch.nn.GRU):
            layer = GRU(*args, num_layers=module.num_layers, dtype=dtype)
        else:
            layer = RNN(*args, nonlinearity=module.nonlinearity, num_layers=module.num_layers, dtype=dtype)
        sd = module.state_dict()
        for k in layer.params:
            layer.params[k][...] = sd[k].detach().cpu().numpy()
        return layer
    from_torch_lm = getattr(module, "to_rnnlab", None)
    if from_torch_lm is not None:
        return from_torch_lm()
    raise ConfigError(f"cannot convert {type(module).__name__} from torch")


@functools.cache
def _torch_lm_class():
    """Defined lazily (once) so that torch is imported only when asked for."""
    torch = _torch()
    nn = torch.nn

    class TorchLanguageModel(nn.Module):
        """The torch twin of ``rnnlab.LanguageModel``: same parameter names, same outputs.

        ``forward(x, h0=None)`` takes (T, B) token ids and returns (logits (T, B, V), hn); for class output
        the 'logits' are the exact log-probabilities, as in rnnlab. With ``embedding_size=None`` the input is
        one-hot (the tutorial's model), fed to the recurrent layer as such. ``class_of_word`` (class output)
        is a buffer that moves with ``.to(device)`` but is not in the state_dict (it is configuration).
        """

        def __init__(self, config: dict, class_of_word=None):
            super().__init__()
            self.config = dict(config)
            c = self.config
            dt = torch.float64 if c["dtype"] == "float64" else torch.float32
            V, H = c["vocab_size"], c["hidden_size"]
            if c["embedding_size"] is not None:
                self.encoder = nn.Embedding(V, c["embedding_size"], dtype=dt)
            in_size = V if c["embedding_size"] is None else c["embedding_size"]
            if c["cell"] == "rnn":
                if c["nonlinearity"] not in ("tanh", "relu"):
                    raise ConfigError(f"torch.nn.RNN has no {c['nonlinearity']!r} nonlinearity")
                self.rnn = nn.RNN(in_size, H, c["num_layers"], nonlinearity=c["nonlinearity"], dtype=dt)
            else:
                self.rnn = (nn.LSTM if c["cell"] == "lstm" else nn.GRU)(in_size, H, c["num_layers"], dtype=dt)
            self.decoder = nn.Linear(H, V, dtype=dt)
            if c.get("tie"):   # torch's tying: one Parameter, listed under both names in the state_dict
                self.decoder.weight = self.encoder.weight
            if c["output"] == "class":
                cw = torch.as_tensor(np.asarray(class_of_word), dtype=torch.long)
                self.register_buffer("class_of_word", cw, persistent=False)
                self.class_decoder = nn.Linear(H, int(cw.max()) + 1, dtype=dt)
            if c.get("direct_size") is not None:
                self.direct = _torch_direct_class()(c, class_of_word, dt)

        def forward(self, x, h0=None):
            if hasattr(self, "encoder"):
                inp = self.encoder(x)
            else:
                inp = torch.nn.functional.one_hot(x, self.config["vocab_size"]).to(self.decoder.weight.dtype)
            out, hn = self.rnn(inp, h0)
            z = self.decoder(out)
            zc = self.class_decoder(out) if self.config["output"] == "class" else None
            if hasattr(self, "direct"):
                d_words, d_classes = self.direct(x)
                z = z + d_words
                zc = None if zc is None else zc + d_classes
            if self.config["output"] == "class":
                logp_c = torch.log_softmax(zc, dim=-1)
                cw = self.class_of_word
                C = logp_c.shape[-1]
                # log-softmax of the word scores within each class, via a per-class logsumexp
                m = torch.full(z.shape[:-1] + (C,), float("-inf"), dtype=z.dtype, device=z.device)
                m = m.scatter_reduce(-1, cw.expand_as(z), z, reduce="amax")
                m = m.detach()
                zs = z - m.gather(-1, cw.expand_as(z))
                s = torch.zeros(z.shape[:-1] + (C,), dtype=z.dtype, device=z.device)
                s = s.scatter_add(-1, cw.expand_as(z), zs.exp())
                z = zs - s.log().gather(-1, cw.expand_as(z)) + logp_c.gather(-1, cw.expand_as(z))
            return z, hn

        def log_probs(self, x, h0=None):
            """(T, B, V) log p(next token | prefix) and the final state."""
            z, hn = self(x, h0)
            return (z if self.config["output"] == "class" else torch.log_softmax(z, dim=-1)), hn

        def loss(self, x, y, h0=None, reduction="mean"):
            """Cross-entropy of targets y (T, B) (-1: padding): the mean over targets, as
            ``LanguageModel.loss``, or with ``reduction="sum"`` the sum (for averaging across ranks)."""
            logp, _ = self.log_probs(x, h0)
            return torch.nn.functional.nll_loss(logp.reshape(-1, logp.shape[-1]), y.reshape(-1),
                                                ignore_index=-1, reduction=reduction)

        def to_rnnlab(self):
            from .lm import LanguageModel, ModelConfig

            dt = self.decoder.weight.dtype
            if dt not in (torch.float32, torch.float64):
                raise ConfigError(f"rnnlab models are float32 or float64, this module is {dt}; "
                                  f"call .float() or .double() first")
            cfg = ModelConfig.from_dict(dict(self.config, dtype="float64" if dt == torch.float64 else "float32"))
            cw = self.class_of_word.cpu().numpy() if hasattr(self, "class_of_word") else None
            lm = LanguageModel.from_config(cfg, class_of_word=cw)
            lm.load_params({k: v.detach().cpu().numpy() for k, v in self.state_dict().items()
                            if not (cfg.tie and k == "decoder.weight")})
            return lm

    return TorchLanguageModel


@functools.cache
def _torch_direct_class():
    """The torch twin of ``rnnlab.direct``, defined lazily like ``TorchLanguageModel``."""
    torch = _torch()

    class DirectConnections(torch.nn.Module):
        """``weight`` is rnnlab's ``direct.weight``; ``forward(x)`` gives the direct scores of every word
        (T, B, V) and, for class output, of every class (T, B, C) (else None). The hashes of the histories
        are computed by ``rnnlab.direct.history_hashes`` (integer work, no gradient)."""

        def __init__(self, c: dict, class_of_word, dt):
            super().__init__()
            from .direct import Direct
            from .output import ClassSoftmax

            V = c["vocab_size"]
            C = 0 if class_of_word is None else int(np.max(class_of_word)) + 1
            self.spec = Direct(c["direct_size"], c["direct_order"], V + C)
            self.n_classes = C
            self.weight = torch.nn.Parameter(torch.zeros(c["direct_size"], dtype=dt))
            # the offset of word v's score: v (full softmax), or C + its place among the words by class
            if C:
                o = ClassSoftmax(V, 1, class_of_word)
                place = o.offsets[o.class_of_word] + o.pos_in_class
            else:
                place = np.arange(V)
            self.register_buffer("word_offset", torch.as_tensor(C + place, dtype=torch.long), persistent=False)

        def forward(self, x):
            from .direct import history_hashes

            d = self.spec
            hashes, present = history_hashes(x.cpu().numpy(), d.order, d.null - d.n_candidates + 1)
            hashes[~present] = d.null
            h = torch.as_tensor(hashes, device=self.weight.device)[..., None]       # (order, T, B, 1)
            words = self.weight[h + self.word_offset].sum(0)                          # (T, B, V)
            if not self.n_classes:
                return words, None
            classes = self.weight[h + torch.arange(self.n_classes, device=h.device)].sum(0)
            return words, classes

    return DirectConnections


def lm_to_torch(lm):
    """The torch module equivalent to an rnnlab LanguageModel (state_dict keys == lm.params keys)."""
    torch = _torch()
    cls = _torch_lm_class()
    cw = lm.output.class_of_word if lm.config.output == "class" else None
    mod = cls(lm.config.to_dict(), cw)
    state = {k: torch.from_numpy(v.copy()) for k, v in lm.params.items()}
    if lm.config.tie:
        state["decoder.weight"] = state["encoder.weight"]
    mod.load_state_dict(state)
    return mod
