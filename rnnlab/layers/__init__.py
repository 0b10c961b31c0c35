"""Recurrent layers: RNN (Elman, the tutorial's model), LSTM and GRU, with torch's parameters."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import Recurrent
from .gru import GRUCell
from .lstm import LSTMCell
from .rnn import ACTIVATIONS, RNNCell

__all__ = ["RNN", "LSTM", "GRU", "Recurrent", "make_layer"]


class RNN(Recurrent):
    """Elman RNN, h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh); in the tutorial's notation
    s_t = f(U x_t + W s_{t-1}) with U = ``weight_ih_l0`` and W = ``weight_hh_l0``.

    ``nonlinearity`` is one of tanh, relu, sigmoid, linear (torch has only the first two)."""

    def __init__(self, input_size, hidden_size, nonlinearity="tanh", num_layers=1, dtype=np.float32,
                 seed=0, **init_kwargs):
        if nonlinearity not in ACTIVATIONS:
            raise ConfigError(f"unknown nonlinearity {nonlinearity!r}; choose one of {', '.join(ACTIVATIONS)}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, dtype, seed, cell=RNNCell(nonlinearity),
                         **init_kwargs)


class LSTM(Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), torch's gate order i, f, g, o."""

    def __init__(self, input_size, hidden_size, num_layers=1, dtype=np.float32, seed=0, **init_kwargs):
        super().__init__(input_size, hidden_size, num_layers, dtype, seed, cell=LSTMCell(), **init_kwargs)


class GRU(Recurrent):
    """Gated recurrent unit (Cho et al. 2014), torch's gate order r, z, n."""

    def __init__(self, input_size, hidden_size, num_layers=1, dtype=np.float32, seed=0, **init_kwargs):
        super().__init__(input_size, hidden_size, num_layers, dtype, seed, cell=GRUCell(), **init_kwargs)


def make_layer(cell: str, input_size: int, hidden_size: int, nonlinearity: str = "tanh", **kw) -> Recurrent:
    """Build a layer by name: ``rnn`` (with ``nonlinearity``), ``lstm`` or ``gru``."""
    if cell == "rnn":
        return RNN(input_size, hidden_size, nonlinearity=nonlinearity, **kw)
    if cell == "lstm":
        return LSTM(input_size, hidden_size, **kw)
    if cell == "gru":
        return GRU(input_size, hidden_size, **kw)
    raise ConfigError(f"unknown cell {cell!r}; choose rnn, lstm or gru")
