"""A recurrent layer with a linear readout, the model every synthetic task is trained with.

    h_t = layer(x_t, h_{t-1})                 (RNN | LSTM | GRU, one layer, h_0 = 0)
    o   = readout(h_T)  or  o_t = readout(h_t) for every t      (the task decides)
    E   = task loss (MSE or softmax cross-entropy), averaged as in ``readout.py``

Named models, each a row of the literature the tasks come from:

    rnn-tanh     Elman RNN, tanh, torch's uniform init +-1/sqrt(H)             (the tutorial's model)
    rnn-relu     Elman RNN, ReLU, same init
    rnn-sigmoid  Elman RNN, logistic sigmoid, same init
    irnn         Elman RNN, ReLU, identity recurrent matrix, zero biases      (Le et al. 2015)
    lstm         LSTM, forget-gate bias 1.0 (Jozefowicz et al. 2015; ``forget_bias`` to change)
    gru          GRU (Cho et al. 2014)

Parameters are one flat dict: the layer's torch names under ``rnn.`` (``rnn.weight_hh_l0`` is the
tutorial's W) and ``readout.weight`` (K, H) (the tutorial's V), ``readout.bias`` (K,). The model's dict
is the one owner: the layer reads its weights through a view of it (``rnnlab.params.ParamView``), so an
optimiser stepping it in place trains the layer.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..layers import make_layer
from ..params import adopt
from .base import Batch, Task
from .readout import mse_loss, readout_backward, readout_forward, xent_loss

MODELS = {
    "rnn-tanh": {"cell": "rnn", "nonlinearity": "tanh", "init": "uniform"},
    "rnn-relu": {"cell": "rnn", "nonlinearity": "relu", "init": "uniform"},
    "rnn-sigmoid": {"cell": "rnn", "nonlinearity": "sigmoid", "init": "uniform"},
    "irnn": {"cell": "rnn", "nonlinearity": "relu", "init": "identity"},
    "lstm": {"cell": "lstm", "init": "uniform", "forget_bias": 1.0},
    "gru": {"cell": "gru", "init": "uniform"},
}


class TaskModel:
    """Layer + readout for ``task``.

    Args:
        task: a ``rnnlab.tasks`` task (sets input size, output size, readout and loss).
        model: one of ``MODELS``.
        hidden_size: H.
        init: override the model's initialisation (uniform | xavier | orthogonal | identity); the IRNN is
            identity by definition and ignores it.
        spectral_radius: rescale the recurrent matrix (each gate block) to this spectral radius.
        forget_bias: LSTM forget-gate bias (default 1.0; None keeps the model default).
        seed, dtype: as for the layers.
    """

    def __init__(self, task: Task, model: str = "lstm", hidden_size: int = 64, init: str | None = None,
                 spectral_radius: float | None = None, forget_bias: float | None = None, seed: int = 0,
                 dtype=np.float32):
        if model not in MODELS:
            raise ConfigError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
        spec = dict(MODELS[model])
        if init is not None and model != "irnn":
            spec["init"] = init
        if forget_bias is not None:
            if spec["cell"] != "lstm":
                raise ConfigError(f"forget_bias applies to the lstm model only, not {model!r}")
            spec["forget_bias"] = float(forget_bias)
        self.task, self.model_name, self.spec = task, model, spec
        cell = spec.pop("cell")
        self.layer = make_layer(cell, task.n_in, hidden_size, num_layers=1, dtype=dtype, seed=seed,
                                spectral_radius=spectral_radius, **spec)
        self.dtype = self.layer.dtype
        H, K = hidden_size, task.n_out
        rng = np.random.default_rng([seed, 1])
        bound = 1.0 / np.sqrt(H)   # torch.nn.Linear's default
        self.params = {}
        adopt(self.params, self.layer, "rnn.")
        self.params["readout.weight"] = rng.uniform(-bound, bound, (K, H)).astype(self.dtype)
        self.params["readout.bias"] = rng.uniform(-bound, bound, (K,)).astype(self.dtype)

    def _readout_params(self):
        return {"readout.weight": self.params["readout.weight"], "readout.bias": self.params["readout.bias"]}

    def _check_x(self, x):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.integer) and x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return x

    def predict(self, x: np.ndarray, chunk: int = 500) -> np.ndarray:
        """Readout values (logits for classification): (B, K) for a last-state task, (T, B, K) otherwise.
        Sequences are processed ``chunk`` at a time to bound the memory of the forward caches."""
        x = self._check_x(x)
        outs = []
        for s in range(0, x.shape[1], chunk):
            h, _, _ = self.layer.forward(x[:, s:s + chunk])
            hr = h[-1] if self.task.readout == "last" else h
            outs.append(readout_forward(self._readout_params(), hr))
        return np.concatenate(outs, axis=-2)

    def loss(self, o: np.ndarray, batch: Batch):
        """Task loss of readout values ``o`` and dE/do."""
        if self.task.loss == "mse":
            return mse_loss(o, batch.y)
        K = o.shape[-1]
        loss, do = xent_loss(o.reshape(-1, K), np.asarray(batch.y).reshape(-1))
        return loss, do.reshape(o.shape)

    def loss_and_grads(self, batch: Batch, omega: float = 0.0, omega_hold_states: bool = True):
        """Loss E on ``batch`` and its exact gradient (full BPTT), keys of ``params``.

        With ``omega`` = alpha > 0 (RNN models) the gradient of alpha * Omega (Pascanu et al. 2013, see
        ``rnnlab.regularizers``) is added; the returned loss stays E, and ``info['omega']`` holds Omega."""
        x = self._check_x(batch.x)
        h, _, cache = self.layer.forward(x)                            # (T, B, H)
        last = self.task.readout == "last"
        hr = h[-1] if last else h
        o = readout_forward(self._readout_params(), hr)
        loss, do = self.loss(o, batch)
        dhr, grads = readout_backward(self._readout_params(), hr, do.astype(self.dtype, copy=False))
        if last:
            dout = np.zeros_like(h)
            dout[-1] = dhr
        else:
            dout = dhr
        _, _, g_layer = self.layer.backward(cache, dout)
        info = {}
        if omega:
            from ..regularizers import omega as omega_fn
            r = omega_fn(self.layer, cache, dout, hold_states=omega_hold_states)
            for k, g in r.grads.items():
                g_layer[k] += omega * g
            info["omega"] = r.value
        grads.update({f"rnn.{k}": g for k, g in g_layer.items()})
        return loss, {k: grads[k] for k in self.params}, info

    def evaluate(self, n: int, seed: int, chunk: int = 500) -> dict:
        """Loss and fraction wrong on ``n`` fresh sequences drawn with ``seed``."""
        rng = np.random.default_rng(seed)
        total, wrong, done = 0.0, 0, 0
        while done < n:
            b = self.task.sample(min(chunk, n - done), rng)
            o = self.predict(b.x, chunk=chunk)
            loss, _ = self.loss(o, b)
            m = b.x.shape[1]
            total += loss * m
            wrong += int(self.task.wrong(o, b).sum())
            done += m
        return {"loss": total / n, "fraction_wrong": wrong / n}
