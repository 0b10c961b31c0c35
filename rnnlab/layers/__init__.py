"""Recurrent layers: RNN (Elman, the tutorial's model), LSTM and GRU, with torch's parameters.

The constructors take torch.nn.RNN/LSTM/GRU's arguments in torch's order, ``RNN(input_size, hidden_size,
num_layers=1, nonlinearity="tanh", bias=True, batch_first=False, dropout=0.0, bidirectional=False)``, then
rnnlab's own as keywords (``dtype``, ``seed``, ``init``, ``spectral_radius``, ``forget_bias``); the torch
options rnnlab lacks are accepted at torch's defaults only (``base.check_torch_options``).
"""
from __future__ import annotations

from ..errors import ConfigError
from .base import Recurrent
from .gru import GRUCell
from .lstm import LSTMCell
from .rnn import ACTIVATIONS, RNNCell

__all__ = ["RNN", "LSTM", "GRU", "Recurrent", "make_layer", "LAYERS", "NONLINEARITIES", "DEFAULT_FORGET_BIAS"]

NONLINEARITIES = tuple(ACTIVATIONS)  # the RNN's: tanh, sigmoid, relu, linear (torch has tanh and relu)
DEFAULT_FORGET_BIAS = 1.0  # LSTM forget-gate bias at init: Jozefowicz et al. (2015); None keeps torch's uniform


class RNN(Recurrent):
    """Elman RNN, h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh); in the tutorial's notation
    s_t = f(U x_t + W s_{t-1}) with U = ``weight_ih_l0`` and W = ``weight_hh_l0``.

    ``nonlinearity`` is one of tanh, relu, sigmoid, linear (torch has only the first two)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, **kw):
        if nonlinearity not in ACTIVATIONS:
            raise ConfigError(f"unknown nonlinearity {nonlinearity!r}; choose one of {', '.join(NONLINEARITIES)}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         cell=RNNCell(nonlinearity), **kw)


class LSTM(Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), torch's gate order i, f, g, o. The forget
    gate's bias starts at ``forget_bias`` (default ``DEFAULT_FORGET_BIAS`` = 1.0; None: torch's uniform)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, *, forget_bias=DEFAULT_FORGET_BIAS, **kw):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size=proj_size, forget_bias=forget_bias, cell=LSTMCell(), **kw)


class GRU(Recurrent):
    """Gated recurrent unit (Cho et al. 2014), torch's gate order r, z, n."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, **kw):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         cell=GRUCell(), **kw)


LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}  # cell name (CLI --cell, ModelConfig.cell) -> class


def make_layer(cell: str, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
               **kw) -> Recurrent:
    """Build a layer by name (a key of ``LAYERS``); ``nonlinearity`` applies to ``rnn`` only, ``kw`` are the
    class's other arguments."""
    if cell not in LAYERS:
        raise ConfigError(f"unknown cell {cell!r}; choose one of {', '.join(LAYERS)}")
    if cell == "rnn":
        kw["nonlinearity"] = nonlinearity
    return LAYERS[cell](input_size, hidden_size, num_layers, **kw)
