"""The one interface every gradient algorithm implements (after omarschall/vanilla-rtrl's
``learning_algorithms``): advance one step, take the step's learning signal, hand out the gradient.

    est = make_estimator("uoro", layer)          # a one-layer rnnlab RNN, LSTM or GRU
    est.reset(batch_size)                        # new sequences: state h_0 = 0, influence 0
    for t in range(T):
        h = est.step(x[t])                       # (B, I) -> h_t (B, H); forward-mode state updated
        est.learn(dL_t_dh_t)                     # (B, H): the readout/loss's gradient at h_t
        if (t + 1) % k == 0:
            grads = est.gradient()               # {weight_ih_l0, ...}: dL/dtheta of the steps since
            optimizer.step(layer.params, grads)  #   the last call; influence state carried on

Forward-mode algorithms (RTRL, UORO, KF-RTRL, SnAp, RFLO, e-prop) keep an estimate of the influence
matrix M_t = ds_t/dtheta and add dL_t/dh_t M_t at every ``learn``; reverse-mode ones (BPTT and its
truncated and checkpointed forms) keep the steps since the last ``gradient`` call and run backwards
then. ``gradient`` sums over the batch. A stochastic algorithm runs ``draws`` independent estimates
side by side (one vectorised computation); ``draw_gradients`` returns them all, ``gradient`` their mean.

Weights are read from ``layer.params`` at every step, so an optimiser stepping them in place between
``gradient`` calls is online learning: the influence built under the old weights is carried on (the
approximation every online algorithm makes). ``sequence_gradient`` is the offline shortcut: the
gradient of one whole sequence with frozen weights, given dL_t/dh_t for every t.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from .jacobians import cell_spec, grads_from_groups, step_forward


class Estimator:
    """Base class. Subclasses set ``name`` and ``cells`` and implement ``_advance`` and ``_learn`` (and
    ``_grads`` if they do not accumulate in the (G, H, K) influence layout)."""

    name = "estimator"
    cells = ("rnn", "lstm", "gru")
    stochastic = False

    def __init__(self, layer, leak: float = 1.0, draws: int = 1, seed: int | None = 0):
        self.layer = layer
        self.spec = cell_spec(layer, leak)
        if self.spec.kind not in self.cells:
            raise ConfigError(self._unsupported())
        if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
            raise ConfigError(f"draws must be a positive integer, got {draws!r}")
        if draws > 1 and not self.stochastic:
            draws = 1   # a deterministic algorithm's draws would all be the same
        self.draws = int(draws)
        self.rng = np.random.default_rng(seed)
        self.dtype = layer.dtype
        self.state = None

    def _unsupported(self) -> str:
        return f"{self.name} applies to {', '.join(self.cells)} cells, not {self.spec.kind}"

    @property
    def params(self) -> dict:
        return self.layer.params

    # -- the interface ------------------------------------------------------------------------------

    def reset(self, batch_size: int, state0=None) -> None:
        """Start new sequences: state ``state0`` (B, S) (default zeros; S = 2H for the LSTM: [h, c]),
        influence and accumulated gradient zero."""
        S = self.spec.parts * self.spec.hidden
        if state0 is None:
            state0 = np.zeros((batch_size, S), dtype=self.dtype)
        if np.shape(state0) != (batch_size, S):
            raise ShapeError(f"state0 must have shape {(batch_size, S)}, got {np.shape(state0)}")
        self.B = batch_size
        self.state = np.asarray(state0, dtype=self.dtype)
        self.t = 0
        self._reset()
        self._zero_grads()

    def step(self, x_t) -> np.ndarray:
        """Advance every sequence one step with input x_t (B, I); returns h_t (B, H)."""
        if self.state is None:
            raise ConfigError("call reset(batch_size) before step")
        x_t = np.asarray(x_t, dtype=self.dtype)
        if x_t.shape != (self.B, self.layer.input_size):
            raise ShapeError(f"x_t must have shape {(self.B, self.layer.input_size)}, got {x_t.shape}")
        state, sv = self._forward(x_t)
        self._advance(sv, state)
        self.state = state
        self.t += 1
        return state[:, :self.spec.hidden]

    def learn(self, dh_t) -> None:
        """Take dL_t/dh_t (B, H), the loss's gradient at the state the last ``step`` returned."""
        dh_t = np.asarray(dh_t, dtype=self.dtype)
        if dh_t.shape != (self.B, self.spec.hidden):
            raise ShapeError(f"dL/dh_t must have shape {(self.B, self.spec.hidden)}, got {dh_t.shape}")
        self._learn(dh_t)

    def draw_gradients(self) -> dict:
        """The gradient of every draw, arrays (draws, *param shape); resets the accumulator."""
        g = self._grads()
        self._zero_grads()
        return g

    def gradient(self) -> dict:
        """dL/dtheta accumulated since the last call (mean over draws), the layer's keys and shapes."""
        g = self.draw_gradients()
        if self.draws == 1:         # the mean of one draw is that draw (four reductions fewer per call)
            return {k: v[0] for k, v in g.items()}
        return {k: v.mean(axis=0) for k, v in g.items()}

    def sequence_gradient(self, x, dout, state0=None) -> dict:
        """The gradient of whole sequences with the weights held: x (T, B, I), dout (T, B, H) = dL_t/dh_t."""
        T, B = x.shape[:2]
        self.reset(B, state0)
        for t in range(T):
            self.step(x[t])
            self.learn(dout[t])
        return self.gradient()

    # -- the default accumulator: gradients in the influence layout (draws, G, H, K) ------------------

    def _zero_grads(self):
        G, H, I = self.spec.gates, self.spec.hidden, self.layer.input_size
        R = self.draws
        self._gi = np.zeros((R, G, H, I + 1), dtype=self.dtype)
        self._gh = np.zeros((R, G, H, H + 1), dtype=self.dtype)

    def _grads(self) -> dict:
        return grads_from_groups(self.spec, self._gi, self._gh)

    def _reset(self):
        pass

    def _forward(self, x_t):
        """The step from ``self.state``: (state_t, saved values), ``step_forward``'s."""
        return step_forward(self.spec, self.params, x_t, self.state)

    def _advance(self, sv, state):
        raise NotImplementedError

    def _learn(self, dh_t):
        raise NotImplementedError
