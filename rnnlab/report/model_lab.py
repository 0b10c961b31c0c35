"""The interactive view's data for a trained model directory (``rnnlab diagnose``): the probe, the training
snapshots, the validation loss and the exploding-gradient events of its log.

    from rnnlab.report.model_lab import model_lab
    lab = model_lab(model_dir, lm, info, log_path)      # info from models.load_model_data(..., with_info=True)
"""
from __future__ import annotations

import json
import math


def read_events(path) -> list[dict]:
    """Exploding-gradient events of a training log, with their steps: [{step, kind}], kind "spike" (a
    gradient norm over 10x the recent median, ``explosion_events``), "nonfinite" or "rollback"."""
    from ..diagnostics.explosion import explosion_events

    steps, norms, events = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(rec, dict) or not isinstance(rec.get("step"), int):
                continue
            if rec.get("event") == "rollback":
                events.append({"step": rec["step"], "kind": "rollback"})
            if "grad_norm" in rec:
                try:
                    norms.append(float(rec["grad_norm"]))
                except (TypeError, ValueError):
                    norms.append(math.nan)
                steps.append(rec["step"])
    if norms:
        ev = explosion_events(norms)
        events += [{"step": steps[i], "kind": "spike"} for i in ev["spikes"]]
        events += [{"step": steps[i], "kind": "nonfinite"} for i in ev["non_finite"]]
    return sorted(events, key=lambda e: e["step"])


def validation_loss(model_dir, meta):
    """The loss of the loaded checkpoint on its validation data, as training recorded it (None if never)."""
    from ..checkpoint import find_model_file

    state = meta.get("state", {})
    best = find_model_file(model_dir).name == "best.npz"
    v = state.get("best_valid") if best else state.get("prev_valid")
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def model_lab(model_dir, lm, info, log_path=None, use_snapshots=True) -> dict:
    """The lab of one model directory (``write_report``'s labs): its training snapshots and their probe
    (validation data, read as in training) when it is diagnosed on its own data the way it was trained,
    else the probe of the text it is diagnosed on (``lab.probe_segments``, in ``info["mode"]``); and the
    events of its log."""
    from ..diagnostics.lab import lab_data, probe_segments, segments_of
    from ..diagnostics.snapshots import load_snapshots

    stream = info["mode"] == "stream"
    state = info["meta"].get("state", {})
    step = int(state.get("step", 0))
    trained = "stream" if info["meta"].get("train", {}).get("stream") else "sentences"
    use_snapshots = use_snapshots and info["mode"] == trained       # snapshots read the text as training did
    snaps = [s for s in load_snapshots(model_dir) if s["step"] < step and "x" in s] if use_snapshots else []
    if snaps:      # the probe training took its snapshots on (validation data): the same tokens throughout
        src = "validation data, as in the training snapshots"
        segs = segments_of(snaps[-1])
        snaps = [s for s in snaps if s["x"] == snaps[-1]["x"] and s["segments"] == snaps[-1]["segments"]]
    else:
        src = info["source"]
        segs = probe_segments(info["corpus"], stream)
    final = lab_data(lm, segs, info["vocab"])
    final.update(step=step, label=f"the model as diagnosed (after {step} steps)")
    snaps = [dict(s, label=f"snapshot after {s['step']} steps") for s in snaps]
    n = len(segs)
    what = (f"the first {final['steps']} steps of a stream, from a zero state" if stream else
            f"{n} sentence{'s' if n > 1 else ''}, each from a zero state as in training")
    return {"cell": final["cell"], "text": f"{what} ({src})", "mode": info["mode"],
            "valid_loss": validation_loss(model_dir, info["meta"]),
            "events": read_events(log_path) if log_path is not None else [], "frames": snaps + [final]}
