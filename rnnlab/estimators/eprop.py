"""Eligibility traces: e-prop (Bellec et al. 2020) and RFLO (Murray 2019).

Split the step's dependence on the previous state into the network path (through the recurrent
pre-activations gh_t = W_hh h_{t-1} + b_hh) and each unit's own direct path (pre-activations held
fixed: the LSTM's c_{t-1} -> c_t, the GRU's z h_{t-1}, a leak (1 - alpha) h_{t-1}; nothing for rnnlab's
RNN). The direct path is per unit (``direct_diagonal``: 1x1, or 2x2 for (h, c)). The eligibility trace
follows it alone:

    eps_t = Jdir_t eps_{t-1} + Mbar_t          (per parameter, at its own unit: SnAp-1's layout)
    dL/dtheta ~ sum_t  L_t . eps_t[h]

With the exact learning signal, the part of the BPTT adjoint lambda_t = dL/ds_t that enters through the
network path,

    L_t = dL_t/dh_t + (dL/dgh_{t+1}) W_hh,

the sum is the exact gradient: lambda_t = sum_{t' >= t} (Jdir_{t'} ... Jdir_{t+1})^T L_{t'}, so
sum_t L_t . eps_t = sum_t lambda_t . Mbar_t = dL/dtheta (Bellec et al.'s equation (1) in this notation).
``EPropExact`` computes L_t by running BPTT over the steps since the last ``gradient`` call (an oracle
for measurements, not an online algorithm). e-prop proper uses the approximate signal L_t = dL_t/dh_t,
the immediate loss gradient (through the readout's transpose: symmetric feedback).

RFLO (random-feedback local online learning) is the same trace for a leaky RNN,
B_t = (1 - alpha) B_{t-1} + alpha f'(z_t) u_t^T, with the learning signal through a feedback matrix:
with the readout's transpose as feedback (what ``learn`` receives) it is e-prop for the leaky RNN, and
RTRL exactly when W_hh = 0 (then J_t = (1 - alpha) I = Jdir_t). Murray defines it for the leaky RNN only,
so here it takes the ``rnn`` cell; e-prop is the version for gated cells.
"""
from __future__ import annotations

import numpy as np

from ..bptt import bptt
from ..errors import ConfigError
from .snap import DiagonalTrace


class EProp(DiagonalTrace):
    """e-prop with the approximate learning signal dL_t/dh_t; every cell."""

    name = "eprop"

    # the trace follows the direct path only: DiagonalTrace's blocks without self-connections


class RFLO(EProp):
    """RFLO: e-prop's trace for the (leaky) plain RNN, learning signal through the readout's transpose."""

    name = "rflo"
    cells = ("rnn",)

    def _unsupported(self) -> str:
        return (f"rflo is defined for the (leaky) plain RNN, not {self.spec.kind}; eprop is its version "
                "for gated cells")


class EPropExact(EProp):
    """e-prop with the exact learning signal (the network part of BPTT's adjoint); every cell with
    rnnlab's layers (no leak, since BPTT runs through the layer). The signal of a step is known only at
    the ``gradient`` call, so the steps since the last one stay in the trace's factored form (no
    ``window``) and take it then."""

    name = "eprop-exact"
    window = None

    def __init__(self, layer, leak: float = 1.0, **kw):
        super().__init__(layer, leak=leak, **kw)
        if leak != 1.0:
            raise ConfigError("eprop-exact runs BPTT through the layer, which has no leak")

    def _reset(self):
        super()._reset()
        self._chunk_start()

    def _chunk_start(self):
        self.state0, self.xs, self.douts = self.state.copy(), [], []

    def _advance(self, sv, state):
        super()._advance(sv, state)      # the first step after a gradient call writes the trace out
        self.xs.append(sv["x"])

    def _learn(self, dh_t):
        self.douts.append(dh_t)

    def _grads(self):
        T = len(self.xs)
        if T:
            H = self.spec.hidden
            x, dout = np.stack(self.xs), np.stack(self.douts)
            h0 = self.state0[None, :, :H]
            s0 = (h0, self.state0[None, :, H:]) if self.spec.parts == 2 else h0
            _, _, cache = self.layer.forward(x, s0)
            W_hh = self.params["weight_hh_l0"]
            _, dgh, _ = bptt(self.layer.cell, cache[0], W_hh, dout)
            signal = dout.copy()
            signal[:-1] += dgh[1:] @ W_hh                           # L_t = dL_t/dh_t + dL/dgh_{t+1} W_hh
            self._kept["signal"][...] = signal                     # the kept steps are this chunk's
            self._last = T - 1
        self._chunk_start()
        return super()._grads()
