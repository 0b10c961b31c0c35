"""Figures of ``rnnlab estimators`` (one per measure) and the HTML section the report page can embed.

    paths = write_figures(records, "out")          # {measure: path of its PNG}
    fragment = html_section(records, paths)        # <section> with a table and the figures inline

matplotlib (Agg) is imported on first use, as in ``rnnlab.report.figures``.
"""
from __future__ import annotations

import base64
import html
import os

import numpy as np

from ..errors import ConfigError

CAPTIONS = {
    "cosine": "Cosine between each algorithm's gradient and exact BPTT's on the same weights and data "
              "(stochastic algorithms: one draw, averaged over the draws); 1 is the exact direction.",
    "relative_error": "Relative error ||g - g*|| / ||g*|| against exact BPTT (log scale; exact algorithms sit "
                      "at rounding level).",
    "bias_variance": "Squared bias ||E g - g*||^2 and variance E||g - E g||^2 over the draws, both relative to "
                     "||g*||^2 (log scale): UORO and KF-RTRL are unbiased, truncation and SnAp are biased and "
                     "noiseless.",
    "seconds_per_step": "Wall-clock seconds per time step of one pass over the sequence (log scale).",
    "peak_bytes": "Peak memory NumPy allocated during one pass (tracemalloc, log scale).",
    "distance": "Which distances d of the gradient-by-distance profile each algorithm recovers: cosine of its "
                "term of the last step's gradient due to the step d back with the exact term.",
}


def _plt():
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("the estimator figures need matplotlib: pip install 'rnnlab[plot]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _bars(records, key, ylabel, log):
    plt = _plt()
    recs = [r for r in records if r.get("applicable") and r.get(key) is not None]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    names = [r["estimator"] for r in recs]
    vals = np.array([float(r[key]) for r in recs])
    if log:
        vals = np.where(vals > 0, vals, np.nan)
    ax.bar(range(len(recs)), vals, color="#1f77b4")
    ax.set_xticks(range(len(recs)))
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3, axis="y", which="both")
    _title(ax, records)
    fig.tight_layout()
    return fig


def _title(ax, records):
    r = records[0]
    ax.set_title(f"{r['cell']}, H={r['hidden']}, T={r['length']}, {r['dtype']}", fontsize=10)


def fig_bias_variance(records):
    """Figure: squared bias and variance over the draws, relative to ||g*||^2, one pair of bars per algorithm."""
    plt = _plt()
    recs = [r for r in records if r.get("applicable")]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = np.arange(len(recs))
    floor = 1e-32    # exact algorithms have bias^2 ~ 1e-31 and variance 0: drawn at the floor
    b = [max(r["bias2"], floor) for r in recs]
    v = [max(r["variance"], floor) for r in recs]
    ax.bar(x - 0.2, b, 0.4, label="bias^2 / ||g*||^2", color="#d62728")
    ax.bar(x + 0.2, v, 0.4, label="variance / ||g*||^2", color="#2ca02c")
    ax.set_xticks(x)
    ax.set_xticklabels([r["estimator"] for r in recs], rotation=30, ha="right")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y", which="both")
    _title(ax, records)
    fig.tight_layout()
    return fig


def fig_distance(records):
    """Figure: cosine of each algorithm's distance-d term with the exact one, against d."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for r in records:
        dc = r.get("distance_cosine")
        if not r.get("applicable") or not dc:
            continue
        y = np.array([np.nan if c is None else c for c in dc])
        ax.plot(np.arange(len(y)), y, "-o", ms=2.5, label=r["estimator"])
    ax.axhline(0.9, color="grey", ls=":", lw=1)
    ax.set_xlabel("distance d (steps back)")
    ax.set_ylabel("cosine with the exact term")
    ax.set_ylim(-1.05, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    _title(ax, records)
    fig.tight_layout()
    return fig


def write_figures(records, out_dir) -> dict:
    """Write one PNG per measure into ``out_dir`` (estimators_<measure>.png); returns {measure: path}."""
    figs = {
        "cosine": lambda: _bars(records, "cosine", "cosine with exact BPTT", False),
        "relative_error": lambda: _bars(records, "relative_error", "relative error", True),
        "bias_variance": lambda: fig_bias_variance(records),
        "seconds_per_step": lambda: _bars(records, "seconds_per_step", "seconds per step", True),
        "peak_bytes": lambda: _bars(records, "peak_bytes", "peak bytes", True),
        "distance": lambda: fig_distance(records),
    }
    plt = _plt()
    paths = {}
    for name, make in figs.items():
        fig = make()
        path = os.path.join(out_dir, f"estimators_{name}.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths[name] = path
    return paths


def _fmt(v):
    if v is None:
        return "&ndash;"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return f"{v:.3g}"


def _ranges(ds):
    """[0, 1, 2, 5] -> '0-2, 5'."""
    out, start = [], None
    for i, d in enumerate(ds):
        if start is None:
            start = d
        if i + 1 == len(ds) or ds[i + 1] != d + 1:
            out.append(str(start) if start == d else f"{start}-{d}")
            start = None
    return ", ".join(out) or "none"


def html_section(records, figure_paths: dict | None = None) -> str:
    """A self-contained <section> for the report page: the table of records and the figures (base64)."""
    cols = ["estimator", "cosine", "relative_error", "bias2", "variance", "seconds_per_step", "peak_bytes"]
    head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in cols) + "<th>distances recovered</th>"
    rows = []
    for r in records:
        if not r.get("applicable"):
            rows.append(f"<tr><td>{html.escape(r['estimator'])}</td><td colspan='{len(cols)}'>"
                        f"{html.escape(r.get('reason') or '')}</td></tr>")
            continue
        cells = [html.escape(r["estimator"])] + [_fmt(r.get(c)) for c in cols[1:]]
        cells.append(_ranges(r.get("recovered_distances") or []))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    r0 = records[0]
    parts = [f"<section id='estimators'><h2>Gradient estimators against exact BPTT</h2>"
             f"<p class='sub'>{r0['cell']}, H = {r0['hidden']}, T = {r0['length']}, B = {r0.get('batch')}, "
             f"{r0['dtype']}; frozen weights and data.</p>",
             f"<table><tr>{head}</tr>{''.join(rows)}</table>"]
    for name, path in (figure_paths or {}).items():
        with open(path, "rb") as f:
            data = base64.b64encode(f.read()).decode("ascii")
        parts.append(f"<figure><img alt='{name}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{html.escape(CAPTIONS.get(name, ''))}</figcaption></figure>")
    parts.append("</section>")
    return "\n".join(parts)
