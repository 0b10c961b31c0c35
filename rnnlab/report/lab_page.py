"""The report page's lab section: the data it embeds (compact JSON) and its HTML, CSS and script.

The script (``lab.js``, inlined) reads the JSON of ``<script id="lab-data">``. The per-pair gradient norms
are its only large part: each frame's rows of log10 ||dL_t/d part_s|| (``rnnlab.diagnostics.lab``) travel as
little-endian int16 in 0.01 decades, base64 (-32768 = an exact zero), about 2.7 bytes per pair.

Contract (read by checks outside the project): every token of the sentence view is an element with class
``tok`` and attributes ``data-model`` (the model's name), ``data-t`` (its position) and, while a token t is
chosen, ``data-log10g`` = log10 ||dL_t/dh_s|| for that token s, to 0.01 (``-Infinity`` for an exact zero,
empty when s > t; always the h part, whichever part the LSTM switch shows; an LSTM's tokens also carry
``data-log10g-c``, the c part); ``#model=NAME&t=T`` in the URL chooses t on load.
"""
from __future__ import annotations

import base64
import json
from importlib import resources

import numpy as np

SCALE = {"lo": -8, "hi": 1}     # the colour scale's decades, fixed: the same for every model and report
NEG = -32768


def pack_rows(rows) -> str:
    """Rows of log10 values (None: -inf) -> base64 of their concatenation as int16 hundredths."""
    flat = [NEG if v is None else int(round(v * 100)) for row in rows for v in row]
    a = np.asarray(flat, dtype="<i2") if flat else np.zeros(0, "<i2")
    return base64.b64encode(a.tobytes()).decode("ascii")


def _frame(f: dict) -> dict:
    keep = ("steps", "segments", "words", "targets", "loss_by_t", "loss", "parts", "mass_by_lag", "cosine_by_k",
            "bound_base", "step", "label")
    out = {k: f.get(k) for k in keep}
    out["reach"] = [{"t": r["t"], "d": r["d"], "norm": r["norm"]} for r in f["reach"]]
    out["g"] = {p: pack_rows(f["log10_grad"][p]) for p in f["parts"]}
    return out


def payload(labs) -> dict:
    """The page's data: labs is [(name, lab)] with lab = {cell, text, valid_loss, frames, events}."""
    models = [{"name": name, "cell": lab["cell"], "text": lab["text"], "valid_loss": lab.get("valid_loss"),
               "events": lab.get("events", []), "frames": [_frame(f) for f in lab["frames"]]}
              for name, lab in labs]
    return {"scale": SCALE, "models": models}


CSS = """
#lab { margin: 1.5em 0 2.5em; }
.lab-controls { position: sticky; top: 0; background: #fff; z-index: 2; padding: 0.4em 0; border-bottom: 1px solid #ddd;
                font-size: 0.9em; display: flex; flex-wrap: wrap; gap: 0.4em 1.6em; align-items: center; }
.lab-controls input[type=range] { width: 220px; vertical-align: middle; }
#lab-models { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1em; }
.lab-model { border: 1px solid #ddd; border-radius: 4px; padding: 0.5em 0.8em; }
.lab-model.focus { border-color: #2171b5; box-shadow: 0 0 0 1px #2171b5; }
.lab-model h3 { margin: 0.2em 0; font-size: 1.05em; }
.lab-info, .lab-stats, .reach-note { font-size: 0.85em; color: #333; margin: 0.3em 0; }
.sent { line-height: 1.9; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.88em; outline: none; }
.tok { padding: 1px 3px; border-radius: 3px; cursor: pointer; border: 1px solid transparent; }
.tok.cur { border-color: #d62728; font-weight: bold; }
.tok.after { color: #bbb; }
.tok.cut { background: repeating-linear-gradient(135deg, #eee 0 3px, #ccc 3px 5px) !important; color: #999 !important;
           text-decoration: line-through; }
.segbreak { color: #bbb; margin: 0 2px; }
svg.reach { width: 100%; height: auto; display: block; } .reach-note { color: #555; margin-top: 0; }
svg .grid { stroke: #eee; } svg .thresh { stroke: #d62728; stroke-dasharray: 2 3; }
svg .ylab { font-size: 10px; text-anchor: end; fill: #666; } svg .xlab { font-size: 10px; fill: #666; }
svg .xlab.end { text-anchor: end; } svg .xlab.mid { text-anchor: middle; }
svg .legend { font-size: 9.5px; fill: #333; } svg .hint { font-size: 12px; fill: #999; text-anchor: middle; }
svg .jac { fill: none; stroke: #2171b5; stroke-width: 2; }
svg .bound { fill: none; stroke: #2171b5; stroke-dasharray: 5 4; }
svg .gradrel { fill: none; stroke: #999; stroke-width: 1.2; } svg .mem { stroke: #d62728; stroke-width: 1.5; }
svg .kline { stroke: #555; stroke-dasharray: 1 3; stroke-width: 1.5; }
svg .axis { stroke: #999; } svg .snap { fill: #2171b5; cursor: pointer; }
svg .event { fill: #d62728; cursor: pointer; }
#lab-timeline { width: 100%; max-width: 900px; height: 44px; } #lab-legend { width: 320px; height: 32px; }
"""


def render_lab(labs) -> str:
    """The lab section's HTML (hidden until its script runs; the figures below serve without scripts)."""
    data = json.dumps(payload(labs), separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    script = resources.files(__package__).joinpath("lab.js").read_text(encoding="utf-8")
    return "\n".join([
        '<section id="lab" hidden><h2>The gradient, token by token</h2>',
        "<p>Point at a token t (click pins it, the arrow keys move it): each earlier token s takes the colour of "
        "||dL_t/dh_s||, how much the loss of predicting the word after t depends on the state just after s, on "
        "decades fixed for all models. Under each text: the Jacobian norm ||ds_t/ds_{t-d}|| against d, the "
        "tutorial's bound ||W||^d for a plain RNN, and the memory length where the norm falls below 1e-3. The "
        "sliders: truncated BPTT(k) (what it drops is struck out), and the snapshots kept during training (red "
        "marks: exploding-gradient events of the training log; a click jumps to the nearest snapshot).</p>",
        '<div class="lab-controls">',
        '<span>t: <b id="lab-t"></b></span>',
        '<label>truncation <input type="range" id="lab-k" min="0" max="1" value="1"> <output id="lab-k-out"></output>'
        "</label>",
        '<label>training <input type="range" id="lab-step" min="0" max="0" value="0"> '
        '<output id="lab-step-out"></output></label>',
        '<span>LSTM state: <label><input type="radio" name="lab-part" value="h" checked> h</label> '
        '<label><input type="radio" name="lab-part" value="c"> c</label></span>',
        '<svg id="lab-legend" viewBox="0 0 320 32"></svg>',
        '<svg id="lab-timeline" viewBox="0 0 900 44"></svg>',
        "</div>",
        '<div id="lab-models"></div>',
        "</section>",
        "<noscript><p class=\"note\">The interactive view needs JavaScript; the figures below show the same "
        "measures averaged over positions.</p></noscript>",
        f'<script type="application/json" id="lab-data">{data}</script>',
        f"<script>{script}</script>",
    ])
