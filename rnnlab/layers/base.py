"""Stacked recurrent layers with torch's parameter names; the cell supplies the step.

Forward of layer l (x_0 = input):  gi = x_l @ W_ih^T + bias  for all steps at once (one product),
then the cell's sequential recurrence.  Backward: the bptt machinery gives the pre-activation gradients
``dgi``/``dgh`` of every step; the weight gradients then take one product each:

    dW_ih = dgi^T x,   dW_hh = dgh^T h_prev,   db_ih = sum dgi,   db_hh = sum dgh,   dx = dgi @ W_ih.

With recurrent dropout (a (B, H) mask m per layer, ``rnnlab.dropout``) W_hh reads m * h_prev, so
dW_hh = dgh^T (m * h_prev); ``rnnlab.bptt`` masks the gradient through W_hh the same way.

Integer input ``x`` of shape (T, B) means one-hot vectors of size ``input_size`` (the tutorial's x_t):
layer 0 then gathers columns of W_ih (the tutorial's U) instead of multiplying.
"""
from __future__ import annotations

import numpy as np

from ..bptt import bptt
from ..errors import ConfigError, ShapeError
from ..init import init_layer_params
from ..sparse import SparseGrad, segment_sum
from ..workspace import Workspace, workspace_of

FLOAT_DTYPES = (np.float32, np.float64)


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.type not in FLOAT_DTYPES:
        raise ConfigError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def check_torch_options(bias=True, batch_first=False, dropout=0.0, bidirectional=False, proj_size=0,
                        device=None) -> None:
    """torch.nn.RNN/LSTM/GRU options that rnnlab's layers do not have. They are accepted at torch's
    defaults, so that a torch call ports unchanged; any other value is a ConfigError that says why.

    Raises:
        ConfigError: bias=False, batch_first=True, dropout > 0, bidirectional=True, proj_size > 0, or a
            device other than the CPU.
    """
    if bias is not True:
        raise ConfigError("bias=False is not supported: rnnlab's layers always have bias_ih and bias_hh")
    if batch_first is not False:
        raise ConfigError("batch_first=True is not supported: rnnlab is time-major, inputs are (T, B, features); "
                          "pass x.transpose(1, 0, 2)")
    if dropout != 0:
        raise ConfigError(f"dropout between layers is not supported (got dropout={dropout!r}); use dropout=0")
    if bidirectional is not False:
        raise ConfigError("bidirectional layers are not supported")
    if proj_size != 0:
        raise ConfigError(f"LSTM projections are not supported (got proj_size={proj_size!r}); use proj_size=0")
    if device is not None and str(device) != "cpu":
        raise ConfigError(f"rnnlab computes on the CPU with NumPy; device={device!r} is not available")


def _describe(v) -> str:
    """A few words on what ``v`` is, for an error message."""
    if isinstance(v, np.ndarray):
        return f"an array of shape {v.shape}"
    if isinstance(v, (tuple, list)):
        return f"a {type(v).__name__} of {len(v)}"
    return "None" if v is None else f"a {type(v).__name__}"


class Recurrent:
    """Base of RNN, LSTM and GRU: a stack of ``num_layers`` layers of one cell type; the subclass passes
    the ``cell`` (it supplies the step, see ``rnnlab.bptt``). Arguments in ``torch.nn.RNN``'s order.

    Args:
        input_size: I, features per step (or the number of ids for integer one-hot input).
        hidden_size: H.
        num_layers: stacked layers; layer l > 0 reads layer l-1's states.
        bias, batch_first, dropout, bidirectional, device: torch's, accepted at torch's defaults only
            (``check_torch_options``).
        dtype: np.float32 or np.float64 (keyword only, as in torch).
        seed: seeds the initialisation (None: fresh entropy).
        init, spectral_radius, forget_bias: initialisation (``rnnlab.init.init_layer_params``); the LSTM's
            ``forget_bias`` defaults to 1.0, the other cells take None only.
    Attributes:
        params: {name: array} with torch's names and shapes, per layer l: ``weight_ih_l{l}`` (G H, I or H),
            ``weight_hh_l{l}`` (G H, H), ``bias_ih_l{l}`` and ``bias_hh_l{l}`` (G H,); G = 1, 4, 3 gate blocks.
        workspace: the ``rnnlab.workspace.Workspace`` that caches, ``dx`` and the weight gradients come
            from, so that repeated calls reuse their arrays instead of faulting in fresh pages; None: new
            arrays every call. An array is reused only once nothing else references it (the rule in
            ``rnnlab.workspace``): a cache stays valid as long as it is held, whatever runs in between.
    Raises:
        ConfigError: a size that is not a positive integer, a dtype other than float32/float64, an unknown
            init scheme, ``forget_bias`` for a cell other than the LSTM, or a torch option rnnlab lacks.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, *, cell,
                 device=None, dtype=np.float32, seed: int | None = 0, init: str = "uniform",
                 spectral_radius: float | None = None, forget_bias: float | None = None, proj_size: int = 0):
        check_torch_options(bias, batch_first, dropout, bidirectional, proj_size, device)
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.dtype = _check_dtype(dtype)
        self.cell = cell
        G, H = cell.gates * hidden_size, hidden_size
        self.params: dict[str, np.ndarray] = {}
        for l in range(num_layers):
            n_in = input_size if l == 0 else H
            self.params[f"weight_ih_l{l}"] = np.empty((G, n_in), dtype=self.dtype)
            self.params[f"weight_hh_l{l}"] = np.empty((G, H), dtype=self.dtype)
            self.params[f"bias_ih_l{l}"] = np.empty((G,), dtype=self.dtype)
            self.params[f"bias_hh_l{l}"] = np.empty((G,), dtype=self.dtype)
        self.workspace: Workspace | None = Workspace()
        rng = np.random.default_rng(seed)
        init_layer_params(self.params, H, cell.gates, rng, scheme=init, spectral=spectral_radius,
                          forget_bias=forget_bias)

    # -- shapes -------------------------------------------------------------------------------------

    def _zeros_state(self, B):
        z = np.zeros((self.num_layers, B, self.hidden_size), dtype=self.dtype)
        return (z, z.copy()) if self.cell.has_cell_state else z

    def _check_state(self, s, B, what, allow_none=False):
        """ShapeError unless ``s`` is a state of this stack for batch size B: (L, B, H) arrays of the layer's
        dtype, as a tuple (h, c) for the LSTM. ``allow_none``: entries of that tuple may be None (dhn)."""
        shape = (self.num_layers, B, self.hidden_size)
        lstm = self.cell.has_cell_state
        if lstm and not (isinstance(s, tuple) and len(s) == 2):
            raise ShapeError(f"{what} of an LSTM must be a tuple (h, c) of two arrays {shape}, got "
                             f"{_describe(s)}")
        parts = ((f"{what}[0] (h)", s[0]), (f"{what}[1] (c)", s[1])) if lstm else ((what, s),)
        for label, p in parts:
            if p is None:
                if allow_none:
                    continue
                raise ShapeError(f"{label} is None; pass an array {shape} (zeros for a fresh start)"
                                 + (", or h0=None for both" if lstm else ""))
            if not isinstance(p, np.ndarray):
                raise ShapeError(f"{label} must be a NumPy array {shape}, got {_describe(p)}")
            if p.shape != shape:
                raise ShapeError(f"{label} must have shape {shape} (num_layers, batch, hidden_size), got {p.shape}")
            if p.dtype != self.dtype:
                raise ShapeError(f"{label} has dtype {p.dtype}, the layer {self.dtype}")

    def _check_input(self, x):
        x = np.asarray(x)
        if np.issubdtype(x.dtype, np.integer):
            if x.ndim != 2:
                raise ShapeError(f"integer (one-hot) input must have shape (T, B), got {x.shape}")
            if x.size and (x.min() < 0 or x.max() >= self.input_size):
                raise ShapeError(f"one-hot indices must lie in [0, {self.input_size}), got {x.min()}..{x.max()}")
        else:
            if x.ndim != 3 or x.shape[2] != self.input_size:
                raise ShapeError(f"input must have shape (T, B, {self.input_size}), got {x.shape}")
            if x.dtype != self.dtype:
                raise ShapeError(f"input has dtype {x.dtype}, the layer {self.dtype}; convert it first")
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ShapeError(f"input needs T >= 1 and B >= 1, got shape {x.shape}")
        return x

    # -- forward / backward -------------------------------------------------------------------------

    def forward(self, x, h0=None, masks=None, masks_hh=None):
        """Run the stack over a sequence.

        Args:
            x: (T, B, input_size) float array of the layer's dtype, or (T, B) int one-hot indices.
            h0: (num_layers, B, H), or (h0, c0) for LSTM; None means zeros.
            masks: None, or per layer None or a (B, H) dropout mask multiplying layer l's input (l >= 1:
                the states of layer l - 1) at every step (``rnnlab.dropout``); backward applies it too.
            masks_hh: None, or per layer None or a (B, H) recurrent dropout mask: layer l's W_hh reads
                m * h_{t-1} at every step (``rnnlab.dropout``); backward applies it too.
        Returns:
            out (T, B, H) top layer's states; hn like h0; cache (list of per-layer dicts, see the cell).
        Raises:
            ShapeError: ``x`` or ``h0`` of the wrong shape or dtype, or one-hot ids outside [0, input_size).
        """
        x = self._check_input(x)
        T, B = x.shape[:2]
        if h0 is None:
            h0 = self._zeros_state(B)
        self._check_state(h0, B, "h0")
        lstm = self.cell.has_cell_state
        ws = workspace_of(self.workspace)
        hn_h, hn_c, caches = [], [], []
        inp = x
        for l in range(self.num_layers):
            p = self._layer_params(l)
            bias = self.cell.input_bias(p["b_ih"], p["b_hh"])
            if inp.ndim == 2:
                gi = p["W_ih"].T[inp] + bias                      # (T, B, G H): column gather
            else:
                G = p["W_ih"].shape[0]
                gi = ws.empty((T, B, G), self.dtype)
                np.matmul(inp.reshape(T * B, -1), p["W_ih"].T, out=gi.reshape(T * B, G))  # (T, B, G H)
                gi += bias
            state0 = (h0[0][l], h0[1][l]) if lstm else h0[l]
            m_hh = None if masks_hh is None else masks_hh[l]
            out, state_n, cache = self.cell.forward(gi, state0, p["W_hh"], p["b_hh"], m_hh, ws)
            if m_hh is not None:                                 # training only: never diagnosed
                cache["mask_hh"] = m_hh
            cache["x"] = inp
            if masks is not None and l > 0 and masks[l] is not None:   # training only: never diagnosed
                cache["mask_in"] = masks[l]
            caches.append(cache)
            if lstm:
                hn_h.append(state_n[0])
                hn_c.append(state_n[1])
            else:
                hn_h.append(state_n)
            inp = out if masks is None or l + 1 == self.num_layers or masks[l + 1] is None else out * masks[l + 1]
        hn = (np.stack(hn_h), np.stack(hn_c)) if lstm else np.stack(hn_h)
        return out, hn, caches

    def backward(self, cache, dout, dhn=None, truncate=None, sparse_input_grad=False):
        """Gradients of a loss L given dL/dout (and optionally dL/dhn).

        Args:
            cache: from ``forward``.
            dout: (T, B, H) dL/d``out``.
            sparse_input_grad: with integer (one-hot) input, return the gradient of ``weight_ih_l0`` as a
                ``SparseGrad`` over the columns of the words seen instead of a dense array.
            dhn: None, or dL/d``hn`` like ``hn`` (for LSTM a tuple whose entries may be None).
            truncate: None for full BPTT; k >= 0 lets the gradient arriving at output t flow back
                through steps t..t-k only (see ``rnnlab.bptt``).
        Returns:
            dx like x (None for integer input), dh0 like h0, grads with the keys and shapes of params.
        Raises:
            ConfigError: ``truncate`` is not None or an integer >= 0.
            ShapeError: ``dout`` or ``dhn`` of the wrong shape or dtype.
        """
        if truncate is not None and (isinstance(truncate, bool) or not isinstance(truncate, (int, np.integer))
                                     or truncate < 0):
            raise ConfigError(f"truncate must be None or an integer >= 0, got {truncate!r}")
        T, B = cache[0]["x"].shape[:2]
        H = self.hidden_size
        dout = np.asarray(dout)
        if dout.shape != (T, B, H):
            raise ShapeError(f"dout must have shape {(T, B, H)}, got {dout.shape}")
        if dout.dtype != self.dtype:
            raise ShapeError(f"dout has dtype {dout.dtype}, the layer {self.dtype}")
        lstm = self.cell.has_cell_state
        if dhn is not None:
            self._check_state(dhn, B, "dhn", allow_none=True)
        ws = workspace_of(self.workspace)
        grads: dict[str, np.ndarray] = {}
        dh0_h, dh0_c = [None] * self.num_layers, [None] * self.num_layers
        dx = None
        for l in range(self.num_layers - 1, -1, -1):
            p = self._layer_params(l)
            c = cache[l]
            if dhn is None:
                ds_n = None
            elif lstm:
                ds_n = (None if dhn[0] is None else dhn[0][l], None if dhn[1] is None else dhn[1][l])
            else:
                ds_n = dhn[l]
            dgi, dgh, ds0 = bptt(self.cell, c, p["W_hh"], dout, ds_n, truncate, ws)
            if lstm:
                dh0_h[l], dh0_c[l] = ds0
            else:
                dh0_h[l] = ds0
            G = dgi.shape[-1]
            dgi2 = dgi.reshape(-1, G)
            dgh2 = dgh.reshape(-1, G)
            x = c["x"]
            if x.ndim == 2:  # one-hot input: sum the gradients of the columns that were used
                cols, sums = segment_sum(x.reshape(-1), dgi2)
                dW_ih = SparseGrad(cols, sums, p["W_ih"].shape, axis=1)
                if not sparse_input_grad:
                    dW_ih = dW_ih.dense()
                dx = None  # ids have no gradient (not layer 1's dx, left from the layer above)
            else:
                I = x.shape[-1]
                dW_ih = np.matmul(dgi2.T, x.reshape(-1, I), out=ws.empty((G, I), self.dtype))
                dx = ws.empty((T, B, I), self.dtype)
                np.matmul(dgi2, p["W_ih"], out=dx.reshape(T * B, I))
            grads[f"weight_ih_l{l}"] = dW_ih
            h_prev = c["hs"][:-1] if c.get("mask_hh") is None else c["hs"][:-1] * c["mask_hh"]
            grads[f"weight_hh_l{l}"] = np.matmul(dgh2.T, h_prev.reshape(-1, H), out=ws.empty((G, H), self.dtype))
            grads[f"bias_ih_l{l}"] = dgi2.sum(axis=0)
            grads[f"bias_hh_l{l}"] = dgh2.sum(axis=0)
            dout = dx if c.get("mask_in") is None else dx * c["mask_in"]
        grads = {k: grads[k] for k in self.params}
        dh0 = (np.stack(dh0_h), np.stack(dh0_c)) if lstm else np.stack(dh0_h)
        return dx, dh0, grads

    def _layer_params(self, l):
        P = self.params
        return {"W_ih": P[f"weight_ih_l{l}"], "W_hh": P[f"weight_hh_l{l}"],
                "b_ih": P[f"bias_ih_l{l}"], "b_hh": P[f"bias_hh_l{l}"]}

    def __repr__(self):
        extra = f", nonlinearity={self.cell.nonlinearity!r}" if hasattr(self.cell, "nonlinearity") else ""
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}, num_layers={self.num_layers}{extra}, "
                f"dtype={self.dtype.name})")
