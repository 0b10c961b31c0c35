"""Training a language model from files, as ``rnnlab train`` does: prepare the data, build or restore the
model, run the Trainer, write the gradient report.

    from rnnlab.prepare import DataConfig
    from rnnlab.training import TrainConfig
    from rnnlab.training.entry import train_language_model
    train_language_model(DataConfig(train="corpus.txt", format="lines"), {"hidden_size": 100},
                         TrainConfig(epochs=5), out_dir="runs/lm")
"""
from __future__ import annotations

import math
import time
from pathlib import Path

from .. import checkpoint
from ..errors import ConfigError
from ..lm import CLASS_OF_WORD, LanguageModel, ModelConfig, state_from_arrays
from ..prepare import DataConfig, SentenceData, StreamData, prepare_data
from .config import TrainConfig
from .loop import Trainer


def _resumable(out: Path):
    """(meta, arrays) of ``out/last.npz`` if it holds a run that can be resumed; CheckpointError otherwise."""
    path = out / "last.npz"
    if not path.exists():
        what = "no such directory" if not out.exists() else "no last.npz"
        raise checkpoint.CheckpointError(f"nothing to resume in {out}: {what}; start the run without --resume")
    try:
        arrays, meta = checkpoint.load(path)
    except checkpoint.CheckpointError as e:
        best = " (best.npz is an earlier state of the same run: copy it to last.npz to resume from there)" \
            if (out / "best.npz").exists() else ""
        raise checkpoint.CheckpointError(f"cannot resume: {e}{best}") from None
    missing = [k for k in ("data", "train", "model", "state", "optimizer", "vocab") if k not in meta]
    if missing:
        raise checkpoint.CheckpointError(f"{path} holds a model but no training state ({', '.join(missing)} "
                                         f"missing); it cannot be resumed: train a new run in another --out")
    return meta, arrays


def _saved_configs(out: Path, meta: dict, tcfg: TrainConfig):
    """(data, training, model) configurations of a run to resume; of ``tcfg`` only ``epochs`` (when larger)
    and ``time_budget`` apply."""
    try:
        dcfg = DataConfig.from_dict(meta["data"])
        saved = TrainConfig.from_dict(meta["train"])
        model_cfg = ModelConfig.from_dict(meta["model"])
    except ConfigError as e:
        raise checkpoint.CheckpointError(f"{out / 'last.npz'} holds a configuration this rnnlab cannot use "
                                         f"({e}); resume it with the rnnlab that wrote it") from None
    # a resumed run may be given more epochs or time; everything else is as saved
    saved.epochs = max(saved.epochs, tcfg.epochs)
    saved.time_budget = tcfg.time_budget
    return dcfg, saved, model_cfg


def _check_same_data(out, meta, vocab, train):
    """A resumed run must see the data it was trained on; an edited corpus would change batches and ids."""
    saved = meta.get("corpus")
    now = {"train_tokens": int(train.n_tokens), "train_sentences": int(train.n_sentences)}
    if vocab.to_json() != meta["vocab"] or (saved is not None and saved != now):
        raise checkpoint.CheckpointError(
            f"the training data of the run in {out} has changed since it was saved ({meta['data']['train']}: "
            f"{now['train_sentences']} sentences now, {(saved or {}).get('train_sentences', '?')} then, or another "
            f"vocabulary); restore the original corpus to resume, or train a new run in another --out")


def _claim_out_dir(out: Path, force: bool):
    """A fresh run may not silently mix with (or overwrite) a model already in ``out``."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a directory; choose another --out")
    old = [n for n in ("best.npz", "last.npz") if (out / n).exists()]
    if old and not force:
        raise checkpoint.CheckpointError(f"{out} already holds a model ({', '.join(old)}); continue its run with "
                                         f"--resume, choose another --out, or pass --force to replace it")
    if force:
        for n in ("best.npz", "last.npz", "log.jsonl"):
            if (out / n).exists():
                (out / n).unlink()


def new_model(vocab, model_kwargs: dict, source: str) -> LanguageModel:
    """A fresh LanguageModel over ``vocab``; the class output's classes are the vocabulary's frequency
    classes (``num_classes`` of them, default about sqrt(V))."""
    kw = dict(model_kwargs)
    if "n_classes" in kw:      # its old name
        kw["num_classes"] = kw.pop("n_classes")
    if kw.get("output") == "class":
        num_classes = kw.pop("num_classes", None) or max(2, int(round(math.sqrt(len(vocab)))))
        if num_classes > len(vocab):
            raise ConfigError(f"--classes {num_classes} is more than the vocabulary ({len(vocab)} tokens in "
                              f"{source}); choose at most {len(vocab)} classes")
        kw["class_of_word"] = vocab.frequency_classes(num_classes)
    return LanguageModel(len(vocab), vocab=vocab, **kw)


def make_data(tcfg: TrainConfig, train, valid):
    """The batches the trainer reads: a stream (``tcfg.stream``) or shuffled sentences."""
    if tcfg.stream:
        return StreamData(train, valid, tcfg.batch_size, tcfg.bptt_chunk, tcfg.bptt_window)
    return SentenceData(train, valid, tcfg.batch_size, tcfg.seed)


def _restore(trainer: Trainer, out: Path, tcfg: TrainConfig, log) -> bool:
    """Restore ``out/last.npz`` into ``trainer``; False when the run has nothing left to do."""
    try:
        trainer.restore(out / "last.npz")
    except ConfigError as e:
        raise checkpoint.CheckpointError(f"{out / 'last.npz'} does not match its own configuration ({e}); "
                                         f"it cannot be resumed: train a new run in another --out") from None
    st = trainer.state
    if st["epoch"] >= tcfg.epochs:
        log(f"nothing left to do: the run in {out} has finished its {tcfg.epochs} epochs; "
            f"give --epochs N (more than {tcfg.epochs}) to train longer")
        return False
    log(f"resuming {out} at epoch {st['epoch'] + 1}, batch {st['batch']} (step {st['step']})")
    return True


def _log_start(lm, tcfg: TrainConfig, workers: int, log) -> None:
    log(f"model: {lm!r}, {sum(v.size for v in lm.params.values()):,} parameters")
    log(f"training: {tcfg.optimizer} lr {tcfg.learning_rate:g}, batch {tcfg.batch_size}, "
        f"{'full BPTT' if tcfg.truncate is None else f'truncate {tcfg.truncate}'}"
        f"{', stream' if tcfg.stream else ''}, clip {tcfg.clip}, epochs {tcfg.epochs}"
        f"{'' if tcfg.time_budget is None else f', time budget {tcfg.time_budget:g} s'}"
        f"{'' if tcfg.direct_lr is None else f', direct lr {tcfg.direct_lr:g}'}"
        f"{f', direct l2 {tcfg.direct_l2:g}' if tcfg.direct_l2 else ''}"
        f"{f', {workers} Hogwild workers' if workers > 1 else ''}")


def train_language_model(dcfg: DataConfig, model_kwargs: dict, tcfg: TrainConfig, out_dir, resume=False,
                         log=print, progress=True, force=False, report=True, workers=1):
    """Train (or resume) a language model into ``out_dir``; returns the Trainer's exit status. With
    ``report``, a run that finishes ends by writing the gradient report of its model into ``out_dir/report``.

    A fresh run refuses a directory that already holds a model unless ``force`` (which deletes its best.npz,
    last.npz and log.jsonl). ``resume`` continues ``out_dir/last.npz`` with its saved configuration; of
    ``tcfg`` only ``epochs`` (when larger than saved) and ``time_budget`` apply. ``workers`` > 1 trains with
    that many Hogwild processes (``rnnlab.hogwild``; sentence batches only).
    """
    out = Path(out_dir)
    if resume and force:
        raise ConfigError("--resume continues the run in --out and --force replaces it; choose one")
    if resume:
        meta, arrays = _resumable(out)
        dcfg, tcfg, model_cfg = _saved_configs(out, meta, tcfg)
    else:
        _claim_out_dir(out, force)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint.remove_temporaries(out)
    vocab, train, valid = prepare_data(dcfg, out / "cache", log=log)
    if resume:
        _check_same_data(out, meta, vocab, train)
        lm = LanguageModel.from_config(model_cfg, class_of_word=state_from_arrays(arrays).get(CLASS_OF_WORD),
                                       vocab=vocab)
    else:
        lm = new_model(vocab, model_kwargs, dcfg.train)
    meta_base = {"data": dcfg.to_dict(), "vocab": vocab.to_json(),
                 "corpus": {"train_tokens": int(train.n_tokens), "train_sentences": int(train.n_sentences)}}
    trainer = Trainer(lm, tcfg, make_data(tcfg, train, valid), out, meta_base, log=log, progress=progress,
                      workers=workers)
    if resume and not _restore(trainer, out, tcfg, log):
        return 0
    if not resume:
        _log_start(lm, tcfg, workers, log)
    status = trainer.run()
    if status == 0 and report and any((out / f).exists() for f in ("best.npz", "last.npz")):
        write_training_report(out, log)
    return status


def write_training_report(out, log=print):
    """The diagnostics report of a trained model directory (skipped, with a note, without matplotlib)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        log("report skipped: matplotlib is not installed (pip install 'rnnlab[plot]')")
        return
    from ..report.models import diagnose_model_dirs

    t0 = time.perf_counter()
    diagnose_model_dirs([out], Path(out) / "report", log=lambda *a: None)
    log(f"gradient report: {Path(out) / 'report' / 'report.html'} ({time.perf_counter() - t0:.1f} s)")
