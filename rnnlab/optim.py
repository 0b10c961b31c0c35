"""Optimisers, clipping and the non-finite guard. All work in place on the flat parameter dict.

Updates (g = gradient, lr = learning rate, t = step count from 1), with torch.optim's names and arguments:

    SGD       p -= lr g;  with ``momentum`` mu > 0:  v = mu v + g;  p -= lr v   (nesterov: p -= lr (g + mu v))
    Momentum  SGD with momentum 0.9 by default (the CLI's ``--optimizer momentum``)
    Adagrad   G += g^2;                   p -= lr g / (sqrt(G) + eps)
    RMSProp   E = a E + (1 - a) g^2;      p -= lr g / (sqrt(E) + eps)
    Adam      m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr m^/(sqrt(v^) + eps), with bias correction;
              ``betas`` = (b1, b2)
    SparseAdam  Adam on the rows a SparseGrad touches only (torch.optim.SparseAdam's lazy update)

A ``SparseGrad`` (rows of an embedding or output matrix) is applied sparsely where that is exact (SGD,
Adagrad: untouched rows do not change) and densified otherwise (momentum, RMSProp and Adam decay their
state on every row, every step); SparseAdam is the lazy variant that updates the touched rows only.
Gradient clipping (``clip_grads``, the one order every training loop uses): each entry to [-v, v] first,
then the global norm, Pascanu et al. (2013), Algorithm 1: if ||g|| > c then g <- c g / ||g||.

Every optimiser has ``scale_momentum(factor)``, which multiplies its momentum coefficient (SGD's
``momentum``, Adam's beta1) and does nothing for one without momentum (plain SGD, Adagrad, RMSProp).

Per-parameter options (``set_param_options``, as the RNNLM toolkits give their direct connections, the
maximum-entropy table, a learning rate and an L2 decay of their own): a parameter may take its own learning
rate, which follows the optimiser's schedule (halving ``lr`` halves it), and a decoupled L2 decay of the
entries its gradient touches (the rows or columns of a ``SparseGrad``; every entry of a dense gradient),
once per update:  p <- p (1 - l2) - step,  where the step is the optimiser's own (it does not depend on p).
"""
from __future__ import annotations

import math

import numpy as np

from .errors import ConfigError
from .sparse import SparseGrad, to_dense

DENSE_FRACTION = 0.5  # Adagrad, SparseAdam: a SparseGrad touching this share of rows takes a dense step
BLOCK = 1 << 16       # elements per block of a blocked elementwise update (5 float32 arrays: 1.3 MiB)


def row_blocks(a: np.ndarray):
    """Slices of ~BLOCK elements (whole rows) covering ``a``: an elementwise update of several large
    arrays runs block by block, so its dozen passes reuse what the first one brought into the cache
    (measured: Adam on a (8000, 100) decoder 1.36 -> 1.15 ms with a cold cache)."""
    if a.ndim < 2 or a.size <= 2 * BLOCK:
        return [slice(None)]
    rows = max(1, BLOCK // (a.size // a.shape[0]))
    return [slice(i, i + rows) for i in range(0, a.shape[0], rows)]


def contiguous_runs(index: np.ndarray, min_mean: int = 16):
    """[(first, stop, offset)] for the runs of consecutive ids in an increasing ``index`` (run i covers rows
    first:stop and ``index[offset:offset + stop - first]``), or None when the ids are not increasing or their
    runs average fewer than ``min_mean`` rows. A class output's decoder gradient touches whole classes,
    which are runs of ids: its rows update as a few views, without gathering or scattering them."""
    if len(index) == 0:
        return None
    d = np.diff(index)
    if np.any(d <= 0):
        return None
    starts = np.flatnonzero(np.r_[True, d != 1])
    if len(starts) * min_mean > len(index):
        return None
    ends = np.r_[starts[1:], len(index)]
    return [(int(index[a]), int(index[b - 1]) + 1, int(a)) for a, b in zip(starts, ends)]


def _sum_of_squares(a: np.ndarray) -> float:
    """sum(a^2) as a Python float. The float32 dot product is the fast path; its sum overflows when the norm
    passes ~1.8e19, where the entries are still finite, so a non-finite result is recomputed in float64."""
    f = a.ravel()
    s = float(np.dot(f, f))
    if not math.isfinite(s) and f.dtype != np.float64:
        f = f.astype(np.float64)
        s = float(np.dot(f, f))
    return s


def global_norm(grads: dict) -> float:
    """sqrt of the sum of squares of every gradient entry (arrays and ``SparseGrad`` values), summed in
    float64; inf or nan only if an entry is (a finite gradient has a finite norm up to 1.8e308)."""
    arrays = [g.values if isinstance(g, SparseGrad) else g for g in grads.values()]
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is told apart from inf/nan below
        total = sum(_sum_of_squares(a) for a in arrays)
        if math.isfinite(total):
            return math.sqrt(total)
        # an entry is inf or nan, or the squares of finite float64 entries overflow (norm above ~1e154): the
        # norm of g / m times m, m the largest magnitude, tells them apart
        m = max((float(np.max(np.abs(a))) for a in arrays if a.size), default=0.0)
        if not math.isfinite(m):
            return math.nan if math.isnan(total) or math.isnan(m) else math.inf
        return m * math.sqrt(sum(_sum_of_squares(a / m) for a in arrays))


def all_finite(grads: dict) -> bool:
    """True if every gradient entry is finite (the global norm is)."""
    return math.isfinite(global_norm(grads))


def clip_grad_norm(grads: dict, max_norm: float, norm: float | None = None) -> float:
    """Rescale all gradients in place so their global norm is at most ``max_norm``; returns the norm
    before clipping (``norm``, if the caller has it already)."""
    if norm is None:
        norm = global_norm(grads)
    if math.isfinite(norm) and norm > max_norm:
        scale = max_norm / (norm + 1e-12)
        for g in grads.values():
            if isinstance(g, SparseGrad):
                g.values *= scale
            else:
                g *= scale
    return norm


def clip_grad_value(grads: dict, clip: float) -> None:
    """Clamp every gradient entry to [-clip, clip] in place."""
    for g in grads.values():
        np.clip(g.values if isinstance(g, SparseGrad) else g, -clip, clip,
                out=g.values if isinstance(g, SparseGrad) else g)


def clip_grads(grads: dict, clip_norm: float | None = None, clip_value: float | None = None,
               norm: float | None = None) -> float:
    """Clip in place, the project's one order: every entry to [-clip_value, clip_value], then the global
    norm to ``clip_norm`` (either None: off). Returns the global norm of the gradients as given, before any
    clipping (inf or nan if an entry is: such gradients are left as they are, for the caller's guard).
    ``norm``: that global norm, when the caller has computed it already (one pass fewer)."""
    if norm is None:
        norm = global_norm(grads)
    if clip_value is not None and math.isfinite(norm) and norm > clip_value:  # no entry exceeds the norm
        clip_grad_value(grads, clip_value)
        if clip_norm is not None:
            clip_grad_norm(grads, clip_norm)
    elif clip_norm is not None:
        clip_grad_norm(grads, clip_norm, norm)
    return norm


class Optimizer:
    """Base: ``step(params, grads)`` updates params in place; state is a dict of arrays (checkpointed)."""

    name = "optimizer"
    slots: tuple = ()  # the state kept per parameter (``state`` keys are "<slot>.<parameter name>")

    def __init__(self, lr: float):
        if not (isinstance(lr, (int, float)) and np.isfinite(lr) and lr > 0):
            raise ConfigError(f"learning rate must be a positive number, got {lr!r}")
        self.lr = float(lr)
        self.t = 0
        self.state: dict[str, np.ndarray] = {}
        self.param_options: dict[str, tuple] = {}   # name -> (own lr, the optimiser's lr then, l2)

    def _slot(self, name, p, slot="m"):
        key = f"{slot}.{name}"
        if key not in self.state:
            self.state[key] = np.zeros_like(p)
        return self.state[key]

    def init_state(self, params: dict) -> None:
        """Create every state slot for every parameter now (zeros) instead of at its first update."""
        for name, p in params.items():
            for slot in self.slots:
                self._slot(name, p, slot)

    def scale_momentum(self, factor: float) -> None:
        """Multiply the momentum coefficient by ``factor`` (SGD's ``momentum``, Adam's beta1); an optimiser
        without momentum has nothing to scale. Raises ConfigError if the result is not in [0, 1)."""

    def _scaled(self, coefficient: float, factor: float) -> float:
        new = coefficient * factor
        if not (math.isfinite(new) and 0 <= new < 1):
            raise ConfigError(f"scale_momentum({factor!r}) takes the momentum {coefficient} outside [0, 1)")
        return new

    def set_param_options(self, name: str, lr: float | None = None, l2: float = 0.0) -> None:
        """Give parameter ``name`` its own learning rate ``lr`` (None: the optimiser's), scaled from now on as
        the optimiser's ``lr`` is (a schedule that halves it halves this one), and an L2 decay ``l2`` in
        [0, 1) of the entries each update touches: p <- p (1 - l2) - step. Not checkpointed: the caller
        sets it from its configuration, before restoring a checkpoint. Raises ConfigError for bad values."""
        if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ConfigError(f"the learning rate of {name} must be a positive number, got {lr!r}")
        if not (isinstance(l2, (int, float)) and 0 <= l2 < 1):
            raise ConfigError(f"the L2 decay of {name} must lie in [0, 1), got {l2!r}")
        self.param_options[name] = (self.lr if lr is None else float(lr), self.lr, float(l2))

    def step(self, params: dict, grads: dict) -> None:
        """Update ``params[name]`` in place for every ``name`` in ``grads`` (arrays or ``SparseGrad``s of the
        parameters' shapes); advances the step count t."""
        self.t += 1
        for name, g in grads.items():
            if name in self.param_options:
                self._update_with_options(name, params[name], g)
            else:
                self._update(name, params[name], g)

    def _update_with_options(self, name, p, g):
        """``_update`` with the parameter's own learning rate, after the L2 decay of the entries g touches."""
        own_lr, lr_then, l2 = self.param_options[name]
        if l2:
            keep = 1.0 - l2
            if isinstance(g, SparseGrad):
                p[(g.index,) if g.axis == 0 else (slice(None), g.index)] *= keep
            else:
                p *= keep
        lr = self.lr
        self.lr = own_lr if lr == lr_then else own_lr * (lr / lr_then)   # every update method reads self.lr
        try:
            self._update(name, p, g)
        finally:
            self.lr = lr

    def state_dict(self) -> dict:
        """{"name", "lr", "t", "state": {slot.param: array}}, everything needed to continue exactly."""
        return {"name": self.name, "lr": self.lr, "t": self.t, "state": dict(self.state)}

    def load_state_dict(self, sd: dict) -> None:
        """Restore what ``state_dict`` returned. Raises ConfigError if it is another optimiser's."""
        if sd.get("name") != self.name:
            raise ConfigError(f"optimizer state is for {sd.get('name')!r}, not {self.name!r}")
        self.lr, self.t = float(sd["lr"]), int(sd["t"])
        self.state = {k: np.array(v) for k, v in sd["state"].items()}


class SGD(Optimizer):
    """p -= lr g; sparse gradients touch only their rows. With ``momentum`` mu in (0, 1), as torch.optim.SGD
    (no dampening): v = mu v + g; p -= lr v, or with ``nesterov`` p -= lr (g + mu v)."""

    name = "sgd"

    def __init__(self, lr: float, momentum: float = 0.0, nesterov: bool = False):
        super().__init__(lr)
        if not 0 <= momentum < 1:
            raise ConfigError(f"momentum must lie in [0, 1), got {momentum!r}")
        if nesterov and momentum == 0:
            raise ConfigError("nesterov needs a momentum above 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.slots = ("m",) if momentum else ()

    def scale_momentum(self, factor: float) -> None:
        self.momentum = self._scaled(self.momentum, factor)

    def _update(self, name, p, g):
        if not self.slots:
            if isinstance(g, SparseGrad):
                g.add_to(p, -self.lr)
            else:
                p -= self.lr * g
            return
        g = to_dense(g)
        v = self._slot(name, p)
        v *= self.momentum
        v += g
        p -= self.lr * (g + self.momentum * v if self.nesterov else v)


class Momentum(SGD):
    """SGD with momentum, 0.9 unless given: ``SGD(lr, momentum=0.9)`` under its own name (checkpoints,
    ``--optimizer momentum``)."""

    name = "momentum"

    def __init__(self, lr: float, momentum: float = 0.9, nesterov: bool = False):
        super().__init__(lr, momentum, nesterov)


class Adagrad(Optimizer):
    """G += g^2; p -= lr g / (sqrt(G) + eps); sparse gradients touch only their rows."""

    name = "adagrad"
    slots = ("G",)

    def __init__(self, lr: float, eps: float = 1e-8):
        super().__init__(lr)
        self.eps = eps

    def _update(self, name, p, g):
        G = self._slot(name, p, "G")
        if isinstance(g, SparseGrad) and len(g.index) >= DENSE_FRACTION * g.shape[g.axis]:
            g = g.dense()  # exact: a zero row changes neither G (G += 0) nor p (p -= 0)
        if isinstance(g, SparseGrad):
            if g.axis == 0:
                idx = g.index
                Gr = np.take(G, idx, axis=0)
                Gr += g.values * g.values
                G[idx] = Gr
                pr = np.take(p, idx, axis=0)
                pr -= self._step_of(g.values, Gr)
                p[idx] = pr
            else:
                cols = (slice(None), g.index)
                vals = g.values.T
                G[cols] += vals * vals
                p[cols] -= self._step_of(vals, G[cols])
        else:
            for r in row_blocks(p):
                Gr, gr = G[r], g[r]
                Gr += gr * gr
                p[r] -= self._step_of(gr, Gr)

    def _step_of(self, g, G):
        """lr g / (sqrt(G) + eps), with one temporary."""
        t = np.sqrt(G)
        t += self.eps
        return np.divide(np.multiply(g, self.lr), t, out=t)


class RMSProp(Optimizer):
    """E = a E + (1 - a) g^2; p -= lr g / (sqrt(E) + eps), with a = ``alpha``."""

    name = "rmsprop"
    slots = ("E",)

    def __init__(self, lr: float, alpha: float = 0.99, eps: float = 1e-8):
        super().__init__(lr)
        self.alpha, self.eps = alpha, eps

    def _update(self, name, p, g):
        g = to_dense(g)
        E = self._slot(name, p, "E")
        E *= self.alpha
        E += (1 - self.alpha) * g * g
        p -= self.lr * g / (np.sqrt(E) + self.eps)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015): m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr m^ / (sqrt(v^) + eps),
    where m^ = m / (1 - b1^t) and v^ = v / (1 - b2^t); ``betas`` = (b1, b2). With ``lazy`` (``SparseAdam``), a
    ``SparseGrad`` updates only its rows (columns): their moments and parameters take the Adam step, the others
    are left as they are, as in torch.optim.SparseAdam; dense gradients always take the full step."""

    name = "adam"
    slots = ("m", "v")

    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, lazy: bool = False):
        super().__init__(lr)
        if not (len(betas) == 2 and all(0 <= b < 1 for b in betas)):
            raise ConfigError(f"betas must be two numbers in [0, 1), got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = eps
        self.lazy = lazy

    def scale_momentum(self, factor: float) -> None:
        self.betas = (self._scaled(self.betas[0], factor), self.betas[1])

    def _update(self, name, p, g):
        m, v = self._slot(name, p, "m"), self._slot(name, p, "v")
        if not (self.lazy and isinstance(g, SparseGrad)):
            self._adam(p, m, v, to_dense(g))
            return
        n = g.shape[g.axis]
        # (a 1-D table, e.g. direct connections, touches many short runs: gathered, not updated run by run)
        runs = contiguous_runs(g.index) if g.axis == 0 and p.ndim > 1 else None
        if runs is not None:
            # long runs of rows (whole classes of a class output): each run's views updated in place
            for first, stop, o in runs:
                self._adam(p[first:stop], m[first:stop], v[first:stop], g.values[o:o + stop - first])
            return
        if len(g.index) >= DENSE_FRACTION * n:
            # most rows touched: a dense step, then the untouched rows put back (bitwise the lazy step)
            keep = np.ones(n, dtype=bool)
            keep[g.index] = False
            at = (keep,) if g.axis == 0 else (slice(None), keep)
            saved = p[at], m[at], v[at]
            self._adam(p, m, v, g.dense())
            p[at], m[at], v[at] = saved
            return
        at = (g.index,) if g.axis == 0 else (slice(None), g.index)
        vals = g.values if g.axis == 0 else g.values.T
        pr, mr, vr = p[at], m[at], v[at]
        self._adam(pr, mr, vr, vals)
        p[at], m[at], v[at] = pr, mr, vr

    def _adam(self, p, m, v, g):
        """In place: m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr m^ / (sqrt(v^) + eps)."""
        for r in row_blocks(p):
            self._adam_block(p[r], m[r], v[r], g[r])

    def _adam_block(self, p, m, v, g):
        b1, b2 = self.betas
        t = np.multiply(g, 1 - b1)
        m *= b1
        m += t
        np.multiply(g, g, out=t)
        t *= 1 - b2
        v *= b2
        v += t
        # lr m / bc1 / (sqrt(v / bc2) + eps) = (lr sqrt(bc2) / bc1) m / (sqrt(v) + eps sqrt(bc2)): one pass fewer
        root_bc2 = np.sqrt(1 - b2 ** self.t)
        np.sqrt(v, out=t)
        t += self.eps * root_bc2
        np.divide(m, t, out=t)
        t *= self.lr * root_bc2 / (1 - b1 ** self.t)
        p -= t


class SparseAdam(Adam):
    """Adam that updates only the rows a ``SparseGrad`` touches (embedding, one-hot input, class output)."""

    name = "sparseadam"

    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(lr, betas, eps, lazy=True)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adagrad": Adagrad, "rmsprop": RMSProp, "adam": Adam,
              "sparseadam": SparseAdam}
# the learning rate of each optimiser when none is given (``rnnlab train``, ``make_optimizer``)
DEFAULT_LR = {"sgd": 0.5, "momentum": 0.1, "adagrad": 0.1, "rmsprop": 0.002, "adam": 0.002, "sparseadam": 0.002}


def make_optimizer(name: str, lr: float | None = None, **kw) -> Optimizer:
    """The optimiser called ``name`` (a key of ``OPTIMIZERS``) with learning rate ``lr`` (None: its
    ``DEFAULT_LR``) and its own keyword arguments ``kw``. Raises ConfigError for an unknown name or a
    learning rate that is not a positive number."""
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](DEFAULT_LR[name] if lr is None else lr, **kw)
