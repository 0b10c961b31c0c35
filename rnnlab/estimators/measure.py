"""Every gradient algorithm on the same frozen weights and data, measured against exact BPTT.

    from rnnlab.estimators.measure import MeasureConfig, measure, synthetic_problem
    layer, x, dout = synthetic_problem(MeasureConfig(cell="lstm", hidden=32, length=100))
    records = measure(layer, x, dout, MeasureConfig(cell="lstm", hidden=32, length=100))

The reference g* is full BPTT in float64 (the layers' backward) on the same weights, inputs and
learning signals dL_t/dh_t. Per estimator, with g its gradient (all parameters of the layer as one vector):

    cosine          cos(g, g*)                            (stochastic: the mean over draws of one draw's)
    relative_error  ||g - g*|| / ||g*||                   (stochastic: the mean over draws)
    bias2           ||E g - g*||^2 / ||g*||^2             (E: the mean of the K draws, so an unbiased
                                                          algorithm shows about variance / K; deterministic:
                                                          relative_error^2)
    variance        E ||g - E g||^2 / ||g*||^2            (0 for a deterministic algorithm)
    seconds_per_step, peak_bytes   one run (one draw) over the sequence, wall clock / T and tracemalloc's
                    peak of the memory NumPy allocates during it (NumPy reports its buffers to tracemalloc)
    distance_cosine cosine of the algorithm's term of the gradient-by-distance profile with the exact one:
                    for the loss at the last step, the part of dL/dtheta due to the step d back is
                    G(d) - G(d-1), where G(d) is the gradient over the window of the last d + 1 steps from
                    the true state (held constant); ``recovered_distances`` lists the d with cosine >= 0.9.

An algorithm that does not apply to the cell (kf-rtrl, rflo for gated cells), or whose influence matrix
would not fit in ``max_bytes``, gets a record with ``applicable: false`` and the reason.
"""
from __future__ import annotations

import math
import time
import tracemalloc
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ConfigError
from ..layers import make_layer
from . import make_estimator
from .jacobians import cell_spec, step_forward

DEFAULT_ESTIMATORS = ("bptt", "tbptt-{k}", "checkpointed", "rtrl", "uoro", "kf-rtrl", "snap-1", "snap-2", "rflo",
                      "eprop", "eprop-exact")
RECOVERED_COSINE = 0.9


@dataclass
class MeasureConfig:
    """What ``rnnlab estimators`` measures (defaults in the comments)."""
    cell: str = "rnn"                 # rnn | lstm | gru (ignored with a model)
    hidden: int = 16                  # H (ignored with a model)
    length: int = 50                  # T, steps of the measured sequences
    input_size: int = 4               # I of the synthetic problem
    batch: int = 4                    # B sequences
    dtype: str = "float64"            # the estimators' arithmetic; the reference is always float64
    draws: int = 100                  # K independent draws of each stochastic algorithm
    truncate: int = 5                 # K of tbptt-K
    max_distance: int = 20            # largest d of the distance profile
    seed: int = 0
    nonlinearity: str = "tanh"        # the plain RNN's
    max_bytes: float = 2e9            # skip an algorithm whose influence state would need more

    def __post_init__(self):
        for name in ("hidden", "length", "input_size", "batch", "draws", "max_distance"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be a positive integer, got {v!r}")
        if isinstance(self.truncate, bool) or not isinstance(self.truncate, (int, np.integer)) or self.truncate < 0:
            raise ConfigError(f"truncate must be an integer >= 0, got {self.truncate!r}")
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if self.cell not in ("rnn", "lstm", "gru"):
            raise ConfigError(f"unknown cell {self.cell!r}; choose rnn, lstm or gru")

    def names(self) -> list[str]:
        """Every algorithm's name, tbptt with this config's K."""
        return [n.format(k=self.truncate) for n in DEFAULT_ESTIMATORS]


# -- problems ---------------------------------------------------------------------------------------

def synthetic_problem(cfg: MeasureConfig):
    """(layer (float64), x (T, B, I), dout (T, B, H)): torch's default init, standard normal inputs, and
    the learning signals of a random linear readout with a squared loss on every step,
    dL_t/dh_t = V^T (V h_t - y_t) with y_t standard normal (V: (2, H), uniform +-1/sqrt(H))."""
    layer = make_layer(cfg.cell, input_size=cfg.input_size, hidden_size=cfg.hidden, nonlinearity=cfg.nonlinearity,
                       dtype=np.float64, seed=cfg.seed)
    rng = np.random.default_rng([cfg.seed, 1])
    x = rng.standard_normal((cfg.length, cfg.batch, cfg.input_size))
    out, _, _ = layer.forward(x)
    V = rng.uniform(-1, 1, (2, cfg.hidden)) / math.sqrt(cfg.hidden)
    y = rng.standard_normal((cfg.length, cfg.batch, 2))
    dout = (out @ V.T - y) @ V / cfg.batch
    return layer, x, dout


def model_problem(model_dir, cfg: MeasureConfig):
    """(layer (float64 copy), x, dout) from a trained language model: its first ``batch`` streams of
    ``length`` tokens of its validation data, inputs through its embedding (one-hot vectors without one),
    learning signals from its output layer's cross-entropy (summed over tokens)."""
    from ..data import encode_file, stream_batches
    from ..diagnostics.diagnose import lm_output_grad
    from ..prepare import DataConfig
    from ..report.models import default_text
    from ..use import load_trained

    lm, meta = load_trained(model_dir)
    vocab = lm.vocab
    if lm.layer.num_layers != 1:
        raise ConfigError(f"{model_dir}: the estimators take one recurrent layer; this model has "
                          f"{lm.layer.num_layers}")
    opts = DataConfig.from_dict(meta.get("data", {})).read_options()
    corpus = encode_file(default_text(meta), vocab, cache_dir=None, **opts)
    tok, y = next(iter(stream_batches(corpus, cfg.batch, chunk=cfg.length)))
    out, _, _ = lm.hidden(tok)
    _, dout = lm_output_grad(lm, out, y, tok)
    x = lm.embed(tok)
    if np.issubdtype(np.asarray(x).dtype, np.integer):
        x = np.eye(lm.layer.input_size)[x]
    src = lm.layer
    kind = {"RNN": "rnn", "LSTM": "lstm", "GRU": "gru"}[type(src).__name__]
    layer = make_layer(kind, input_size=src.input_size, hidden_size=src.hidden_size,
                       nonlinearity=getattr(src, "nonlinearity", "tanh"), dtype=np.float64)
    for k, v in src.params.items():
        layer.params[k][...] = v
    return layer, np.asarray(x, dtype=np.float64), np.asarray(dout, dtype=np.float64)


def as_dtype(layer, dtype):
    """A copy of a one-layer ``layer`` in ``dtype`` (the measured weights, rounded once)."""
    kind = cell_spec(layer).kind
    out = make_layer(kind, input_size=layer.input_size, hidden_size=layer.hidden_size,
                     nonlinearity=getattr(layer, "nonlinearity", "tanh"), dtype=dtype)
    for k, v in layer.params.items():
        out.params[k][...] = v
    return out


# -- measures ---------------------------------------------------------------------------------------

def _vec(g: dict, names, lead=0) -> np.ndarray:
    """Parameters as one vector (or (draws, P) with ``lead=1``)."""
    return np.concatenate([np.asarray(g[n], dtype=np.float64).reshape(g[n].shape[:lead] + (-1,)) for n in names],
                          axis=-1)


def _cos(a, b):
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b)
    return np.where(na * nb > 0, (a @ b) / np.maximum(na * nb, 1e-300), 0.0)


def influence_bytes(name: str, layer, batch: int, draws: int = 1) -> float:
    """The bytes of an algorithm's influence state (the dense RTRL matrix dominates everything else)."""
    spec = cell_spec(layer)
    S = spec.parts * spec.hidden
    P = sum(v.size for v in layer.params.values())
    item = np.dtype(layer.dtype).itemsize
    if name in ("rtrl", "snap-2"):
        return 3.0 * batch * S * P * item       # M, J M and the immediate term's temporaries
    if name == "uoro":
        return 3.0 * draws * batch * (S + P) * item
    if name == "kf-rtrl":
        return 3.0 * draws * batch * (spec.hidden ** 2 + P / spec.hidden) * item
    return 3.0 * batch * spec.parts * P * item


def _run(est, x, dout, draws=None):
    """One pass over the sequence with the online interface; returns per-draw gradients."""
    est.reset(x.shape[1])
    for t in range(x.shape[0]):
        est.step(x[t])
        est.learn(dout[t])
    return est.draw_gradients()


def distance_terms(name, layer, x, dout, D, draws, seed):
    """(D+1, P) the algorithm's distance terms G(d) - G(d-1) for the loss at the last step (mean over
    ``draws`` for a stochastic one), and the exact ones (float64 BPTT)."""
    T, B = x.shape[:2]
    spec = cell_spec(layer)
    names = list(layer.params)
    # the true states s_0 .. s_T (B, S), from the step (the layers' cache layout is theirs)
    s = [np.zeros((B, spec.parts * spec.hidden))]
    p64 = {k: v.astype(np.float64) for k, v in layer.params.items()}
    for t in range(T):
        s.append(step_forward(spec, p64, x[t], s[-1])[0])
    last = np.zeros_like(dout[-1:])
    last[0] = dout[-1]
    exact64 = as_dtype(layer, np.float64)
    prev_e = prev_a = 0.0
    ours, ref = [], []
    for d in range(min(D, T - 1) + 1):
        a = T - 1 - d
        xw = x[a:].astype(layer.dtype)
        dw = np.zeros((d + 1,) + dout.shape[1:], dtype=layer.dtype)
        dw[-1] = last[0]
        est = make_estimator(name, layer, draws=draws, seed=seed)
        est.reset(B, s[a].astype(layer.dtype))
        for t in range(d + 1):
            est.step(xw[t])
            est.learn(dw[t])
        ga = _vec(est.draw_gradients(), names, lead=1).mean(axis=0)
        ge = _vec(make_estimator("bptt", exact64).sequence_gradient(x[a:], dw.astype(np.float64), s[a]), names)
        ours.append(ga - prev_a)
        ref.append(ge - prev_e)
        prev_a, prev_e = ga, ge
    return np.array(ours), np.array(ref)


def measure_one(name, layer, x, dout, ref, cfg: MeasureConfig) -> dict:
    """The record of one algorithm (see the module docstring)."""
    names = list(layer.params)
    rec = {"estimator": name, "applicable": True, "reason": None}
    try:
        est = make_estimator(name, layer, draws=1, seed=cfg.seed)
    except ConfigError as e:
        return {**rec, "applicable": False, "reason": str(e)}
    need = influence_bytes(name, layer, x.shape[1])
    if need > cfg.max_bytes:
        return {**rec, "applicable": False,
                "reason": f"its influence matrix needs about {need / 2**30:.1f} GiB (max-bytes {cfg.max_bytes:.3g})"}
    T = x.shape[0]
    xs, ds = x.astype(layer.dtype), dout.astype(layer.dtype)
    tracemalloc.start()
    t0 = time.perf_counter()
    g = _run(est, xs, ds)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rec.update(seconds_per_step=seconds / T, peak_bytes=int(peak))
    nref = np.linalg.norm(ref)
    if est.stochastic:
        K = cfg.draws
        G = _vec(_run(make_estimator(name, layer, draws=K, seed=cfg.seed + 1), xs, ds), names, lead=1)   # (K, P)
        mean = G.mean(axis=0)
        rec.update(cosine=float(_cos(G, ref).mean()),
                   relative_error=float(np.mean(np.linalg.norm(G - ref, axis=1)) / nref),
                   bias2=float(np.sum((mean - ref) ** 2) / nref ** 2),
                   variance=float(np.mean(np.sum((G - mean) ** 2, axis=1)) / nref ** 2),
                   mean_cosine=float(_cos(mean, ref)), draws=K)
    else:
        v = _vec({k: val[0] for k, val in g.items()}, names)
        rel = float(np.linalg.norm(v - ref) / nref)
        rec.update(cosine=float(_cos(v, ref)), relative_error=rel, bias2=rel ** 2, variance=0.0,
                   mean_cosine=float(_cos(v, ref)), draws=1)
    ours, exact = distance_terms(name, layer, x, dout, cfg.max_distance, cfg.draws if est.stochastic else 1,
                                 cfg.seed + 2)
    # a term below 1e-10 of the exact one's norm is rounding (e.g. tbptt-K's beyond K): cosine 0, not noise's
    dc = [None if np.linalg.norm(e) == 0 else 0.0 if np.linalg.norm(o) <= 1e-10 * np.linalg.norm(e)
          else float(_cos(o, e)) for o, e in zip(ours, exact)]
    rec["distance_cosine"] = dc
    rec["recovered_distances"] = [d for d, c in enumerate(dc) if c is not None and c >= RECOVERED_COSINE]
    return rec


def measure(layer, x, dout, cfg: MeasureConfig, names=None, progress=None) -> list[dict]:
    """Records for every algorithm of ``names`` (default ``cfg.names()``) on ``layer`` (float64; measured
    in ``cfg.dtype``), inputs x (T, B, I) and learning signals dout (T, B, H). ``progress(i, n, record)``
    is called after each."""
    names = list(names or cfg.names())
    ref = _vec(make_estimator("bptt", as_dtype(layer, np.float64)).sequence_gradient(x, dout), list(layer.params))
    work = as_dtype(layer, np.dtype(cfg.dtype))
    spec = cell_spec(layer)
    common = {"cell": spec.kind, "hidden": spec.hidden, "length": int(x.shape[0]), "batch": int(x.shape[1]),
              "dtype": cfg.dtype, "parameters": int(ref.size)}
    records = []
    for i, name in enumerate(names):
        rec = {**measure_one(name, work, x, dout, ref, cfg), **common}
        records.append(rec)
        if progress is not None:
            progress(i + 1, len(names), rec)
    return records


def config_dict(cfg: MeasureConfig) -> dict:
    """The configuration as a JSON-able dict (written into estimators.json)."""
    return asdict(cfg)
