"""The gradient-flow report: ``report.html`` (self-contained), ``report.json`` and the figures (PNG).

    from rnnlab.report import diagnose_models
    diagnose_models([("tanh RNN", rnn_lm), ("LSTM", lstm_lm)], x, y, "out/report", max_distance=40)

``report.json`` layout:
    models: [{name, cell, nonlinearity, hidden_size, num_layers, steps, batch, loss, tokens, distance,
              grad_norm_by_distance, grad_share_by_distance, hidden_grad_norm_by_distance,
              cell_grad_norm_by_distance, weight_grad_by_distance, jacobian_norm_by_distance,
              jacobian_method, bound_by_distance, singular_values {gate: [...]}, spectral_radius {gate: x},
              saturation, truncation {k, cosine_to_full, relative_error, norm_ratio}, summary, layers [...],
              seconds}, ...]   (every model, in the order given; top-level measures describe the top layer)
    the same measure keys at the top level, copied from the first model (so one-model reports read flat),
    model_names, figures [{file, title, caption}], explosion {name: events} (when training logs are given),
    rnnlab_version, created.
Values that are not finite are written as null.
"""
from __future__ import annotations

import json
import math
import os
import time

import numpy as np

from .._version import __version__
from ..errors import ConfigError, ShapeError

TOP_LEVEL = ("distance", "grad_norm_by_distance", "grad_share_by_distance", "weight_grad_by_distance",
             "jacobian_norm_by_distance", "bound_by_distance", "singular_values", "spectral_radius",
             "saturation", "truncation", "summary")


def clean(obj):
    """JSON-safe copy: numpy -> Python, non-finite floats -> None."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def write_report(models, out_dir, training_logs=None, subtitle: str = "", labs=None) -> dict:
    """Write report.html, report.json and the figures for already computed results.

    Args:
        models: list of (name, result) with results from ``rnnlab.diagnostics.diagnose_*``.
        out_dir: created if missing.
        training_logs: optional {name: sequence of global gradient norms}, adds the explosion figure.
        labs: optional [(name, lab)] for the interactive view, lab = {cell, text, valid_loss, events,
            frames: [``rnnlab.diagnostics.lab.lab_data`` dicts with step and label, the last the model's]};
            written into each model's entry of report.json as ``lab``.
    Returns:
        the report dict written to report.json.
    """
    from ..diagnostics.explosion import explosion_events
    from . import figures as F
    from .page import render

    if not models:
        raise ConfigError("the report needs at least one model")
    names = [n for n, _ in models]
    if len(set(names)) != len(names):
        raise ConfigError(f"model names must be distinct, got {names}")
    os.makedirs(out_dir, exist_ok=True)
    models = [(n, clean(r)) for n, r in models]
    pngs, fig_meta = [], []
    for key, fn in F.FIGURES.items():
        data = F.save_png(fn(models), os.path.join(out_dir, f"{key}.png"))
        pngs.append((key, data))
        fig_meta.append({"file": f"{key}.png", "title": F.TITLES[key], "caption": F.CAPTIONS[key]})
    explosion = None
    if training_logs:
        explosion = {n: explosion_events(g) for n, g in training_logs.items()}
        logs = [(n, list(g), explosion[n]) for n, g in training_logs.items()]
        data = F.save_png(F.fig_explosion(logs), os.path.join(out_dir, "explosion.png"))
        pngs.append(("explosion", data))
        fig_meta.append({"file": "explosion.png", "title": F.TITLES["explosion"], "caption": F.CAPTIONS["explosion"]})
    first = models[0][1]
    report = {"rnnlab_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "model_names": names, **{k: first.get(k) for k in TOP_LEVEL},
              "models": [{"name": n, **r} for n, r in models], "figures": fig_meta}
    for entry in report["models"]:
        lab = dict(labs or []).get(entry["name"])
        if lab is not None:
            entry["lab"] = lab
    if explosion is not None:
        report["explosion"] = explosion
    report = clean(report)
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=1, allow_nan=False)
    notes = [f"{n}: Jacobian by {r.get('jacobian_method')}; {r['steps']} steps x {r['batch']} sequences; "
             f"measures took {sum(r.get('seconds', {}).values()):.2f} s" for n, r in models]
    page = render(models, pngs, {"subtitle": subtitle, "notes": notes,
                                 "labs": [(m["name"], m["lab"]) for m in report["models"] if "lab" in m]})
    with open(os.path.join(out_dir, "report.html"), "w", encoding="utf-8") as f:
        f.write(page)
    return report


def diagnose_models(models, x=None, y=None, out_dir="report", max_distance: int = 50, training_logs=None,
                    probe=None, labs=None, **kw) -> dict:
    """Diagnose language models and write the report (the core of ``rnnlab diagnose``).

    Args:
        models: list of (name, lm), or (name, lm, (x, y)) for a model with its own data (e.g. its own
            vocabulary); lm is an ``rnnlab.LanguageModel`` (see ``rnnlab.diagnostics.lm_output_grad``).
        x, y: (T, B) int arrays of input tokens and targets (y == -1: padding) for the models without
            their own data: the same tokens for all, so their curves can be compared.
        out_dir: where report.html, report.json and the figures go.
        max_distance: D for the distance measures.
        training_logs: optional {name: global gradient norms} for the explosion figure.
        probe: optional probe for the interactive view of every model: a tuple (x, y) of int arrays (T,),
            or a list of such segments (each from a zero state; ``rnnlab.diagnostics.lab``); token ids as words.
        labs: optional [(name, lab)] already computed (see ``write_report``); ``probe`` is then ignored.
        kw: passed to ``rnnlab.diagnostics.diagnose_lm`` (jacobian, ks, positions, seed).
    """
    from ..diagnostics import diagnose_lm

    results, sizes = [], []
    for entry in models:
        name, lm = entry[0], entry[1]
        xm, ym = entry[2] if len(entry) > 2 else (x, y)
        if xm is None or ym is None:
            raise ConfigError(f"model {name!r} has no data: pass x and y, or (name, lm, (x, y))")
        xm, ym = np.asarray(xm), np.asarray(ym)
        if xm.ndim != 2 or xm.shape != ym.shape or not np.issubdtype(xm.dtype, np.integer):
            raise ShapeError(f"x and y must be int arrays of the same shape (T, B), got {xm.shape} and {ym.shape}")
        with np.errstate(over="ignore", invalid="ignore"):  # an exploded model's bound is inf: reported as such
            results.append((name, diagnose_lm(lm, xm, ym, max_distance=max_distance, **kw)))
        sizes.append(f"{int(np.sum(ym >= 0))} target tokens ({xm.shape[0]} steps x {xm.shape[1]} sequences)")
    data = sizes[0] if len(set(sizes)) == 1 else "; ".join(f"{n}: {s}" for (n, _), s in zip(results, sizes))
    sub = f"{len(results)} model(s) on {data}, distances up to {max_distance}; rnnlab {__version__}"
    if labs is None and probe is not None:
        from ..diagnostics.lab import lab_data

        segs = [probe] if isinstance(probe, tuple) else list(probe)
        labs = []
        for entry in models:
            lab = lab_data(entry[1], segs)
            labs.append((entry[0], {"cell": lab["cell"], "text": f"a probe of {lab['steps']} steps",
                                    "valid_loss": None, "events": [],
                                    "frames": [dict(lab, step=0, label="the model as given")]}))
    return write_report(results, out_dir, training_logs, subtitle=sub, labs=labs)
