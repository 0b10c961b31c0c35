"""The report's figures, one function each: (models) -> matplotlib Figure. matplotlib (Agg) is imported
on first use only, so ``import rnnlab`` stays light.

Each function takes the per-model result dicts of ``rnnlab.diagnostics.diagnose_*`` as a list of
(name, result) pairs and overlays them; decay plots use a log-scale y axis.
"""
from __future__ import annotations

import numpy as np

CAPTIONS = {
    "grad_by_distance": "How much of each step's loss reaches the state d steps back (mean "
                        "||dL_t/dh_{t-d}||, log scale): a straight falling line is exponential vanishing, and "
                        "a flatter line means the model can learn from further back.",
    "weight_grad_by_distance": "Contribution of the steps d back to the recurrent weight gradient dL/dW_hh: "
                               "where a curve drops to the floor, those far-away steps teach the weights "
                               "nothing.",
    "jacobian": "Spectral norm of the Jacobian dh_t/dh_{t-d} (solid) against the tutorial's bound "
                "(max f' ||W||)^d (dashed, plain RNNs only): the measured norm stays under its bound, and "
                "both shrink geometrically when the bound's base is below 1.",
    "singular_values": "Singular values of each gate's recurrent matrix: values above 1 (dotted line) can "
                       "amplify the gradient at a step, values well below 1 shrink it at every step.",
    "saturation": "Fraction of saturated units (|tanh| > 0.99) and gates (within 0.01 of 0 or 1): saturated "
                  "units pass almost no gradient, while an LSTM forget gate near 1 passes it intact.",
    "truncation": "How close truncated BPTT (gradient flows back k steps) comes to the full gradient: once "
                  "the cosine reaches 1, looking further back changes nothing.",
    "explosion": "Global gradient norm during training (log scale): red dots are spikes (over 10x the "
                 "recent median) and crosses are non-finite steps, the signature of exploding gradients.",
}
TITLES = {
    "grad_by_distance": "Gradient by distance",
    "weight_grad_by_distance": "Weight-gradient contribution by distance",
    "jacobian": "Jacobian norm by distance",
    "singular_values": "Singular values of the recurrent matrices",
    "saturation": "Saturation",
    "truncation": "Truncation bias",
    "explosion": "Gradient norm during training",
}


def _plt():
    try:
        import matplotlib
    except ImportError:
        from ..errors import ConfigError

        raise ConfigError("the report's figures need matplotlib: pip install 'rnnlab[plot]'") from None

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _arr(values):
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _positive(y):
    """Zeros and non-finite values cannot sit on a log axis: leave them out (nan)."""
    y = _arr(y)
    y[~(y > 0)] = np.nan
    return y


def _colors(n):
    cycle = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
    return [cycle[i % len(cycle)] for i in range(n)]


def _label(name, r):
    nl = f" {r['nonlinearity']}" if r.get("cell") == "rnn" and r.get("nonlinearity") else ""
    return f"{name} ({r.get('cell', '?')}{nl}, H={r.get('hidden_size', '?')})"


def _finish(fig, ax, xlabel, ylabel, logy=True, legend=8):
    """The common dressing of a one-panel figure: log y, labels, grid, legend, tight layout."""
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=legend)
    fig.tight_layout()
    return fig


def _two_panels(models, series, xlabel, ylabels, logy=(True, True), xscale=None, ms=2.5, height=3.8):
    """A figure of two panels side by side, one line per model in each: ``series(r)`` gives (x, left,
    right) for a model's result r; ``xscale``: keyword arguments of ``set_xscale``. Returns (fig, axes) for
    any extra marks; the legend is on the left."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, height))
    for (name, r), col in zip(models, _colors(len(models))):
        x, left, right = series(r)
        axes[0].plot(x, left, "-o", ms=ms, color=col, label=_label(name, r))
        axes[1].plot(x, right, "-o", ms=ms, color=col)
    for ax, ylabel, log in zip(axes, ylabels, logy):
        ax.set_ylabel(ylabel)
        ax.set_xlabel(xlabel)
        if log:
            ax.set_yscale("log")
        if xscale:
            ax.set_xscale(**xscale)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig, axes


def fig_grad_by_distance(models):
    """Figure: mean ||dL_t/dh_{t-d}|| against d, absolute and relative to d = 0.
    ``models``: list of (name, result)."""
    def series(r):
        g = _positive(r["grad_norm_by_distance"])
        return np.asarray(r["distance"]), g, (g / g[0] if g[0] > 0 else g)

    fig, axes = _two_panels(models, series, "distance d (steps back)",
                            ("mean ||dL_t / dh_{t-d}||", "relative to distance 0"))
    axes[1].axhline(0.01, color="grey", ls=":", lw=1)
    return fig


def fig_weight_grad_by_distance(models):
    """Figure: the norm of the d-steps-back term of dL/dW_hh against d.
    ``models``: list of (name, result)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for (name, r), col in zip(models, _colors(len(models))):
        ax.plot(r["distance"], _positive(r["weight_grad_by_distance"]), "-o", ms=2.5, color=col,
                label=_label(name, r))
    return _finish(fig, ax, "distance d (steps back)", "||d-steps-back term of dL/dW_hh||")


def fig_jacobian(models):
    """Figure: ||dh_t/dh_{t-d}||_2 against d, with the tutorial's bound dashed (plain RNNs).
    ``models``: list of (name, result)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    lo, hi = np.inf, 0.0
    for (name, r), col in zip(models, _colors(len(models))):
        d = np.asarray(r["distance"])
        j = _positive(r["jacobian_norm_by_distance"])
        ok = ~np.isnan(j)
        ax.plot(d[ok], j[ok], "-o", ms=2.5, color=col, label=_label(name, r))
        if ok.any():
            lo, hi = min(lo, np.min(j[ok])), max(hi, np.max(j[ok]))
        if r.get("bound_by_distance"):
            ax.plot(d, _positive(r["bound_by_distance"]), "--", color=col, lw=1, label=f"{name}: bound")
    ax.set_yscale("log")
    if hi > 0:   # a growing bound would flatten the measured curves: show it only up to 100x their top
        ax.set_ylim(lo / 3, hi * 100)
    return _finish(fig, ax, "distance d (steps back)", "||dh_t / dh_{t-d}||_2", logy=False)  # log set above


def fig_singular_values(models):
    """Figure: the singular values of each gate's recurrent block, one panel per model.
    ``models``: list of (name, result)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models) + 0.6, 3.4), squeeze=False)
    for ax, (name, r) in zip(axes[0], models):
        for gate, sv in r["singular_values"].items():
            rho = r["spectral_radius"][gate]
            ax.plot(np.arange(1, len(sv) + 1), sv, "-", label=f"{gate} (radius {rho:.2f})")
        ax.axhline(1.0, color="grey", ls=":", lw=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("index")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("singular value of W_hh (per gate)")
    fig.tight_layout()
    return fig


def saturation_bars(r) -> dict:
    """The few saturation numbers the bar chart shows for one model."""
    s = r["saturation"]
    bars = {}
    for key in ("tanh_saturated", "sigmoid_saturated", "relu_dead"):
        if key in s:
            bars[key.replace("_", " ")] = s[key]
    gates = s.get("gates", {})
    sig = [v["saturated"] for k, v in gates.items() if "near_0" in v]
    if sig:
        bars["gates saturated"] = float(np.mean(sig))
    if "mean_forget_gate" in s:
        bars["mean forget gate"] = s["mean_forget_gate"]
    if "mean_update_gate" in s:
        bars["mean update gate"] = s["mean_update_gate"]
    return bars


def fig_saturation(models):
    """Figure: saturated units and gates, mean forget / update gates, as grouped bars.
    ``models``: list of (name, result)."""
    plt = _plt()
    keys = []
    for _, r in models:
        keys += [k for k in saturation_bars(r) if k not in keys]
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    w = 0.8 / max(len(models), 1)
    x = np.arange(len(keys))
    for i, ((name, r), col) in enumerate(zip(models, _colors(len(models)))):
        bars = saturation_bars(r)
        ax.bar(x + i * w, [bars.get(k, 0.0) for k in keys], w, color=col, label=name)
    ax.set_xticks(x + w * (len(models) - 1) / 2, keys, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig_truncation(models):
    """Figure: cosine and relative error of the truncate=k gradient against full BPTT, by k.
    ``models``: list of (name, result)."""
    def series(r):
        t = r["truncation"]
        return t["k"], _arr(t["cosine_to_full"]), _positive(t["relative_error"])

    fig, _ = _two_panels(models, series, "truncation k (steps back)",
                         ("cosine(truncated, full)", "||g_k - g|| / ||g||"), logy=(False, True),
                         xscale={"value": "symlog", "linthresh": 1}, ms=3, height=3.6)
    return fig


def fig_explosion(logs):
    """logs: list of (name, grad_norms, events) with events from ``explosion_events``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 3.4))
    for (name, norms, ev), col in zip(logs, _colors(len(logs))):
        g = _arr(norms)
        steps = np.arange(len(g))
        ax.plot(steps, _positive(g), "-", lw=1, color=col, label=name)
        if ev["spikes"]:
            ax.plot(ev["spikes"], g[ev["spikes"]], "o", color="red", ms=4)
        if ev["non_finite"]:
            top = np.nanmax(_positive(g)) if np.any(g > 0) else 1.0
            ax.plot(ev["non_finite"], [top] * len(ev["non_finite"]), "x", color="black", ms=6)
    return _finish(fig, ax, "step", "global gradient norm")


FIGURES = {
    "grad_by_distance": fig_grad_by_distance,
    "weight_grad_by_distance": fig_weight_grad_by_distance,
    "jacobian": fig_jacobian,
    "singular_values": fig_singular_values,
    "saturation": fig_saturation,
    "truncation": fig_truncation,
}


def save_png(fig, path) -> bytes:
    """Write ``fig`` as PNG to ``path``, close it, return the bytes."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    _plt().close(fig)
    data = buf.getvalue()
    with open(path, "wb") as f:
        f.write(data)
    return data
