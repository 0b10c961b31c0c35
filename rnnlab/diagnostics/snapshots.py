"""Diagnostic snapshots taken while a model trains, for the report page's training slider.

A snapshot is the lab's data (``lab.lab_data``: every ||dL_t/dh_s|| of a short validation probe, the
reach, the truncation cosines) of the model as it was after ``step`` updates. ``rnnlab train`` keeps at
most MAX_SNAPSHOTS of them, at steps spaced geometrically (0, total/2^(n-1), ..., total/4, total/2: most
of the change happens early), in ``<model dir>/snapshots.json``; the report adds the final model.

    snaps = Snapshots.for_training(out_dir, data, total_steps)      # None when the data has no probe
    snaps.maybe(step, lm)                                          # before each update: cheap unless due
    load_snapshots(model_dir)                                      # -> [snapshot dict, ...] by step
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .lab import lab_data, probe_segments

FILE = "snapshots.json"
MAX_SNAPSHOTS = 6
SNAPSHOT_REACH_BUDGET = 400   # fewer Jacobian positions than the report's own frame: a snapshot stays cheap


def schedule(total_steps: int, n: int = MAX_SNAPSHOTS) -> list[int]:
    """At most n steps in [0, total_steps): 0 and total/2^j for j = 1 .. n-1, distinct."""
    if n < 1 or total_steps < 1:
        return []
    steps = {0} | {total_steps >> j for j in range(1, n)}
    return sorted(s for s in steps if 0 <= s < total_steps)[:n]


def take_snapshot(lm, segments, step: int, vocab=None, epoch=None) -> dict:
    """The lab's data of ``lm`` on the probe ``segments``, tagged with the step (and epoch)."""
    with np.errstate(all="ignore"):           # a model that blew up is recorded as it is
        try:
            snap = lab_data(lm, segments, vocab, reach_budget=SNAPSHOT_REACH_BUDGET)
        except np.linalg.LinAlgError:         # non-finite states: no Jacobian norms to take
            snap = lab_data(lm, segments, vocab, reach_budget=0)
    snap["step"] = int(step)
    if epoch is not None:
        snap["epoch"] = int(epoch)
    return snap


def save_snapshots(model_dir, snaps) -> Path:
    """Write the snapshots (sorted by step) to ``<model_dir>/snapshots.json`` atomically."""
    path = Path(model_dir) / FILE
    tmp = path.with_name("." + FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(sorted(snaps, key=lambda s: s["step"]), f, separators=(",", ":"), allow_nan=False)
    os.replace(tmp, path)
    return path


def load_snapshots(model_dir) -> list[dict]:
    """The snapshots of a model directory, by step; [] when it has none (or the file is unreadable)."""
    path = Path(model_dir) / FILE
    if not path.is_file():
        return []
    try:
        with open(path, encoding="utf-8") as f:
            snaps = json.load(f)
    except (OSError, ValueError):
        return []
    return sorted((s for s in snaps if isinstance(s, dict) and "step" in s), key=lambda s: s["step"])


class Snapshots:
    """The snapshot policy of one training run: which steps, the probe, the file."""

    def __init__(self, out_dir, segments, total_steps: int, vocab=None, max_snapshots: int = MAX_SNAPSHOTS):
        self.out, self.segments, self.vocab = Path(out_dir), segments, vocab
        self.due = set(schedule(total_steps, max_snapshots))
        self.snaps = {s["step"]: s for s in load_snapshots(out_dir)}   # a resumed run keeps its earlier ones

    @classmethod
    def for_training(cls, out_dir, data, total_steps: int, max_snapshots: int = MAX_SNAPSHOTS):
        """The policy for a Trainer's data (``valid`` corpus and ``stream`` flag, as ``pipeline``'s data
        objects have them); None when there is nothing to probe or no snapshots are wanted."""
        valid = getattr(data, "valid", None)
        if valid is None or max_snapshots < 1 or getattr(valid, "n_sentences", 0) == 0:
            return None
        segments = probe_segments(valid, bool(getattr(data, "stream", False)))
        return cls(out_dir, segments, total_steps, getattr(valid, "vocab", None), max_snapshots)

    def maybe(self, step: int, lm, epoch=None) -> bool:
        """Take and save a snapshot when ``step`` (updates done so far) is due; True if one was taken."""
        if step not in self.due:
            return False
        self.snaps[step] = take_snapshot(lm, self.segments, step, self.vocab, epoch)
        self.snaps = {s: v for s, v in self.snaps.items() if s <= step}   # after a resume: drop the future
        self.out.mkdir(parents=True, exist_ok=True)
        save_snapshots(self.out, list(self.snaps.values()))
        return True
