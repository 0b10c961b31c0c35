"""Reverse-mode algorithms behind the estimator interface: full and truncated BPTT and checkpointed
BPTT, all running the layers' own backward (``Recurrent.backward``, ``rnnlab.bptt``).

Online, they keep the inputs and the learning signals of the steps since the last ``gradient`` call and
run backwards over them then, the entering state treated as a constant (the classic truncation at
update boundaries); per-output truncation ``tbptt-K`` lets the gradient of output t reach back K steps
within that window. The online ``step`` runs ``jacobians.step_forward`` (the layer has no one-step call),
and ``gradient`` runs the layer's forward over the kept inputs again before its backward: one extra
forward pass, counted in ``forward_steps``. ``sequence_gradient`` (whole sequences, weights held) runs
the layer's forward once and its backward, with no extra pass.

Checkpointed BPTT (Chen et al. 2016; Gruslys et al. 2016 derive the optimal schedules for any memory
budget) stores only the state at the start of every segment of k ~ sqrt(T) steps during the forward
pass and, going backwards, recomputes one segment at a time from its checkpoint: about 2 sqrt(T) states
in memory instead of T, for at most one extra forward pass (the last segment's cache is kept from the
forward pass, so T - k steps are recomputed). The gradient is the stored BPTT's, summed in another order.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from .base import Estimator


class BPTT(Estimator):
    """Full BPTT (``truncate=None``) or per-output truncated BPTT (``truncate=K``), every cell."""

    name = "bptt"

    def __init__(self, layer, leak: float = 1.0, truncate: int | None = None, **kw):
        super().__init__(layer, leak=leak, **kw)
        if leak != 1.0:
            raise ConfigError(f"{self.name} runs the layer's backward, which has no leak")
        if truncate is not None and (isinstance(truncate, bool) or not isinstance(truncate, (int, np.integer))
                                     or truncate < 0):
            raise ConfigError(f"truncation must be an integer >= 0, got {truncate!r}")
        self.truncate = truncate
        if truncate is not None:
            self.name = f"tbptt-{truncate}"
        self.forward_steps = 0      # step evaluations, the online step's and the recomputations

    # -- the layer's state format: (num_layers=1, B, H), a tuple (h, c) for the LSTM -----------------

    def _layer_state(self, s):
        H = self.spec.hidden
        h = s[None, :, :H]
        return (h, s[None, :, H:]) if self.spec.parts == 2 else h

    def _reset(self):
        self._chunk_start()
        self.ctx_x, self.ctx_s = [], []     # tbptt-K online: the K steps before the window (inputs, entering states)

    def _chunk_start(self):
        self.state0, self.xs, self.douts = self.state.copy(), [], []

    def _advance(self, sv, state):
        if self.truncate is not None and not self.xs:
            self.state0 = self.state.copy()
        self.xs.append(sv["x"])
        if self.truncate is not None:
            self.ctx_s.append(self.state.copy())
        self.forward_steps += 1

    def _learn(self, dh_t):
        self.douts.append(dh_t)

    def _backward(self, x, dout, s0):
        _, _, cache = self.layer.forward(x, self._layer_state(s0))
        self.forward_steps += x.shape[0]
        _, _, grads = self.layer.backward(cache, dout, truncate=self.truncate)
        return grads

    def _grads(self):
        if not self.xs:
            g = {k: np.zeros_like(v) for k, v in self.params.items()}
        elif self.truncate is None:
            g = self._backward(np.stack(self.xs), np.stack(self.douts), self.state0)
        else:
            # per-output truncation across update boundaries: the outputs since the last update reach back
            # K steps, into the K steps kept from before (whose own outputs were already counted: dout 0)
            n_ctx = len(self.ctx_x)
            x = np.stack(self.ctx_x + self.xs)
            dout = np.concatenate([np.zeros((n_ctx,) + self.douts[0].shape, dtype=self.dtype), np.stack(self.douts)])
            g = self._backward(x, dout, self.ctx_s[0])
            keep = self.truncate
            self.ctx_x = (self.ctx_x + self.xs)[-keep:] if keep else []
            self.ctx_s = self.ctx_s[-keep:] if keep else []
        self._chunk_start()
        return {k: v[None] for k, v in g.items()}

    def _zero_grads(self):
        pass

    def sequence_gradient(self, x, dout, state0=None) -> dict:
        """One forward pass of the layer and its backward (stored BPTT)."""
        T, B = x.shape[:2]
        S = self.spec.parts * self.spec.hidden
        s0 = np.zeros((B, S), dtype=self.dtype) if state0 is None else state0
        x = np.asarray(x, dtype=self.dtype)
        _, _, cache = self.layer.forward(x, self._layer_state(s0))
        self.forward_steps = T
        self.stored_states = T + 1
        _, _, grads = self.layer.backward(cache, np.asarray(dout, dtype=self.dtype), truncate=self.truncate)
        return grads


class Checkpointed(BPTT):
    """Checkpointed BPTT: segments of ``segment`` steps (default ceil(sqrt(T)) for whole sequences, 8
    online), one stored state each; full BPTT's gradient. Counts ``forward_steps`` and
    ``stored_states`` (the most states held at once: checkpoints plus one segment's cache)."""

    name = "checkpointed"

    def __init__(self, layer, leak: float = 1.0, segment: int | None = None, **kw):
        super().__init__(layer, leak=leak, **kw)
        self.name = "checkpointed"
        if segment is not None and (isinstance(segment, bool) or not isinstance(segment, (int, np.integer))
                                    or segment < 1):
            raise ConfigError(f"segment must be a positive integer, got {segment!r}")
        self.segment = segment

    def _segments_backward(self, x, dout, checkpoints, k, kept=None):
        """Backward over x (T, B, I), segment by segment from the last, each recomputed from its
        checkpoint (layer states at steps 0, k, 2k, ...) unless ``kept`` = (start, cache) holds it."""
        T = x.shape[0]
        grads, dstate = None, None
        for a in range(len(checkpoints) * k - k, -1, -k):
            n = min(k, T - a)
            if kept is not None and kept[0] == a:
                cache = kept[1]
            else:
                _, _, cache = self.layer.forward(x[a:a + n], checkpoints[a // k])
                self.forward_steps += n
            self.stored_states = max(self.stored_states, len(checkpoints) + n + 1)
            _, dstate, g = self.layer.backward(cache, dout[a:a + n], dhn=dstate)
            grads = g if grads is None else {name: grads[name] + g[name] for name in g}
        return grads

    # online: the step keeps the state at every k-th step only
    def _chunk_start(self):
        super()._chunk_start()
        self.marks = [self.state.copy()]
        self.stored_states = 1

    def _advance(self, sv, state):
        super()._advance(sv, state)
        if len(self.xs) % (self.segment or 8) == 0:
            self.marks.append(state.copy())
            self.stored_states = max(self.stored_states, len(self.marks))

    def _grads(self):
        if self.xs:
            k = self.segment or 8
            T = len(self.xs)
            checkpoints = [self._layer_state(m) for m in self.marks[:math.ceil(T / k)]]
            g = self._segments_backward(np.stack(self.xs), np.stack(self.douts), checkpoints, k)
        else:
            g = {n: np.zeros_like(v) for n, v in self.params.items()}
        self._chunk_start()
        return {n: v[None] for n, v in g.items()}

    def sequence_gradient(self, x, dout, state0=None) -> dict:
        """Forward pass keeping one state per segment (and the last segment's cache), then the backward
        pass recomputing the other segments once."""
        T, B = x.shape[:2]
        S = self.spec.parts * self.spec.hidden
        s0 = np.zeros((B, S), dtype=self.dtype) if state0 is None else state0
        x = np.asarray(x, dtype=self.dtype)
        dout = np.asarray(dout, dtype=self.dtype)
        k = self.segment or max(1, math.isqrt(T - 1) + 1)
        self.forward_steps, self.stored_states = 0, 0
        state, checkpoints, cache = self._layer_state(s0), [], None
        for a in range(0, T, k):
            checkpoints.append(state)
            _, state, cache = self.layer.forward(x[a:a + k], state)   # only the last segment's cache survives
            n = min(k, T - a)
            self.forward_steps += n
            self.stored_states = max(self.stored_states, len(checkpoints) + n + 1)
        return self._segments_backward(x, dout, checkpoints, k, kept=((T - 1) // k * k, cache))
