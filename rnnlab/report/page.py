"""The HTML page: one self-contained file (figures embedded as base64 PNG, inline CSS and script, no
network), readable without explanation: a summary table, the interactive view when there is lab data
(``lab_page``), then each figure with a one-sentence caption (for print and browsers without scripts)."""
from __future__ import annotations

import base64
import html

from .figures import CAPTIONS, TITLES

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1080px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: 2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #333; margin-top: 0.4em; } figcaption b { color: #000; }
.note { color: #555; font-size: 0.9em; }
"""


def _pct(v):
    return None if v is None else f"{100 * v:.1f}%"


def _fmt(v, digits=3):
    if v is None:
        return "&ndash;"
    if isinstance(v, str):
        return html.escape(v)
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}g}"


def summary_rows(models) -> list[list]:
    """One row per model: the numbers to read first."""
    rows = []
    for name, r in models:
        s = r["summary"]
        jn = r["jacobian_norm_by_distance"]
        d10 = min(10, len(jn) - 1)
        norm_w = max(max(sv) for sv in r["singular_values"].values())
        radius = max(r["spectral_radius"].values())
        trunc = r["truncation"]
        k_last = trunc["k"][-1] if trunc["k"] else None
        cos_last = trunc["cosine_to_full"][-1] if trunc["k"] else None
        d1 = s["decay_distance_1pct"]
        rows.append([name, r["cell"] + (f" {r['nonlinearity']}" if r["cell"] == "rnn" else ""),
                     r["hidden_size"], r.get("loss"), d1 if d1 is not None else f"> {s['max_distance']}",
                     _pct(s["share_beyond_10"]), jn[d10], norm_w, radius,
                     _pct(r["saturation"].get("tanh_saturated")),
                     None if k_last is None else f"{cos_last:.3f} (k={k_last})" if cos_last is not None else None])
    return rows


HEADER = ["model", "cell", "hidden", "loss (nats/token)", "gradient < 1% at d", "share of gradient beyond d=10",
          "Jacobian norm at d=10", "largest ||W_hh||", "largest spectral radius", "tanh saturated",
          "truncation cosine"]


def _lab_css(meta) -> str:
    if not meta.get("labs"):
        return ""
    from .lab_page import CSS as LAB_CSS

    return LAB_CSS


def render(models, figures, meta) -> str:
    """models: list of (name, result); figures: list of (key, png bytes); meta: dict for the header
    (subtitle, notes, and labs: [(name, lab)] for the interactive view)."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>rnnlab gradient-flow report</title>", f"<style>{CSS}{_lab_css(meta)}</style></head><body>",
           "<h1>Gradient-flow report</h1>",
           f'<p class="sub">{html.escape(meta.get("subtitle", ""))}</p>',
           "<p>Each model is run on the same data; L_t is the loss at step t and h_{t-d} the recurrent state "
           "d steps earlier (for an LSTM the pair (h, c)). In a plain RNN the tutorial predicts that the part "
           "of L_t reaching back d steps shrinks geometrically with d; gated cells are built to keep it.</p>",
           "<table><tr>" + "".join(f"<th>{h}</th>" for h in HEADER) + "</tr>"]
    for row in summary_rows(models):
        out.append("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>")
    out.append("</table>")
    if meta.get("labs"):   # the interactive view (rnnlab.report.lab_page); the figures stay for print
        from .lab_page import render_lab

        out.append(render_lab(meta["labs"]))
    for key, png in figures:
        b64 = base64.b64encode(png).decode("ascii")
        out.append(f'<figure id="{key}"><img src="data:image/png;base64,{b64}" alt="{html.escape(TITLES[key])}">'
                   f"<figcaption><b>{html.escape(TITLES[key])}.</b> {html.escape(CAPTIONS[key])}</figcaption>"
                   "</figure>")
    notes = meta.get("notes", [])
    if notes:
        out.append('<p class="note">' + "<br>".join(html.escape(n) for n in notes) + "</p>")
    out.append("</body></html>")
    return "\n".join(out)
