"""``rnnlab diagnose`` from Python: trained model directories -> the same text for each -> the report.

    from rnnlab.report.models import diagnose_model_dirs
    diagnose_model_dirs(["runs/rnn", "runs/lstm"], "runs/report", text=None, max_distance=50)

Each model reads the text with its own vocabulary and reading options (those it was trained with). The
batch is a continuous stream cut into ``batch`` rows of ``steps`` tokens (default 4; the state is carried
across sentences, so distances are not limited by sentence length), or the first ``batch`` sentences from a
zero state (default 32, at most ``steps`` long; ``batching="sentences"``); by default the way the model was
trained. Without ``text``, the
model's validation data: its --valid file, the builtin corpus' valid split, or else its training file.
Each model's ``log.jsonl`` supplies the gradient norms of its training for the explosion figure.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..errors import ConfigError


def read_grad_norm_log(path) -> list[float]:
    """Global gradient norms from a training log (JSON lines), in order: each record with a ``grad_norm``
    (epoch means, per-step records, and non-finite events, whose norm is written as 'nan' or 'inf')."""
    norms = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue   # a line cut short by a crash: the rest of the log is still useful
            if isinstance(rec, dict) and "grad_norm" in rec:
                try:
                    norms.append(float(rec["grad_norm"]))
                except (TypeError, ValueError):
                    norms.append(math.nan)
    return norms


def default_text(meta: dict) -> str:
    """The text a model is diagnosed on when none is given: its validation data."""
    from ..data import builtin_split, is_builtin

    d = meta.get("data", {})
    if d.get("valid"):
        return d["valid"]
    train = d.get("train", "builtin:agreement")
    return builtin_split(train, "valid") if is_builtin(train) else train


def first_batch(corpus, batching: str, steps: int, batch: int):
    """(x, y) (T, B): the first stream chunk, or the first ``batch`` sentences (capped at ``steps``)."""
    from ..data import sentence_batches, stream_batches

    if batching == "stream":
        return next(iter(stream_batches(corpus, batch, chunk=steps)))
    return next(iter(sentence_batches(corpus, batch, rng=0, shuffle=False, bucket=False, max_len=steps)))


def load_model_data(model_dir, text=None, steps: int = 100, batch: int | None = None, batching: str | None = None,
                    with_info: bool = False):
    """(lm, x, y, log path or None) for one model directory; ``batch`` defaults to 4 streams or 32
    sentences. ``with_info`` adds a fifth item for the lab: {vocab, meta, corpus, mode, source}."""
    from ..data import encode_file
    from ..prepare import DataConfig
    from ..use import load_trained

    lm, meta = load_trained(model_dir)
    vocab = lm.vocab
    source = text if text is not None else default_text(meta)
    opts = DataConfig.from_dict(meta.get("data", {})).read_options()
    corpus = encode_file(source, vocab, cache_dir=None, **opts)
    mode = batching or ("stream" if meta.get("train", {}).get("stream") else "sentences")
    x, y = first_batch(corpus, mode, steps, batch or (4 if mode == "stream" else 32))
    log = Path(model_dir) / "log.jsonl"
    if with_info:
        info = {"vocab": vocab, "meta": meta, "corpus": corpus, "mode": mode, "source": source}
        return lm, x, y, (log if log.is_file() else None), info
    return lm, x, y, (log if log.is_file() else None)


def model_names(model_dirs) -> list[str]:
    """Short distinct names: the directory names, made unique with their parents when needed."""
    paths = [Path(d).resolve() for d in model_dirs]
    base = [p.name or str(p) for p in paths]
    names = [str(Path(p.parent.name) / b) if base.count(b) > 1 else b for p, b in zip(paths, base)]
    return [n if names.count(n) == 1 else f"{n} #{i + 1}" for i, n in enumerate(names)]


def diagnose_model_dirs(model_dirs, out_dir, text=None, max_distance: int = 50, steps: int = 100,
                        batch: int | None = None, batching: str | None = None, names=None, log=print,
                        lab: bool = True, **kw) -> dict:
    """Load each model directory, diagnose it on the same text, write the report into ``out_dir``
    (with ``lab``, the interactive view's data: ``model_lab.model_lab``)."""
    from . import diagnose_models
    from .model_lab import model_lab

    if not model_dirs:
        raise ConfigError("give at least one --model directory")
    if max_distance < 1 or steps < 2 or (batch is not None and batch < 1):
        raise ConfigError("--max-distance must be >= 1, --steps >= 2 and --batch >= 1")
    if batching not in (None, "stream", "sentences"):
        raise ConfigError(f"batching must be stream or sentences, got {batching!r}")
    names = list(names) if names else model_names(model_dirs)
    models, logs, labs = [], {}, []
    for name, d in zip(names, model_dirs):
        lm, x, y, log_path, info = load_model_data(d, text, steps, batch, batching, with_info=True)
        models.append((name, lm, (x, y)))
        if log_path is not None:
            norms = read_grad_norm_log(log_path)
            if len(norms) >= 2:
                logs[name] = norms
        if lab:
            labs.append((name, model_lab(d, lm, info, log_path, use_snapshots=text is None)))
        log(f"{name}: {lm!r}, {int((y >= 0).sum())} target tokens")
    return diagnose_models(models, out_dir=out_dir, max_distance=max_distance, training_logs=logs or None,
                           labs=labs or None, **kw)
