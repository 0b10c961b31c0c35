"""What the command line does, reachable from Python: files -> vocabulary -> encoded corpora -> batches ->
training; evaluation; sampling. The CLI only parses arguments and calls these.

    from rnnlab.pipeline import DataConfig, train_language_model
    train_language_model(DataConfig(train="corpus.txt", format="lines"), {"hidden_size": 100},
                         TrainConfig(epochs=5), out_dir="runs/lm")
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import checkpoint
from .config import ConfigMixin
from .errors import ConfigError, DataError
from .lm import LanguageModel, ModelConfig
from .train import TrainConfig, Trainer, evaluate

EVAL_BATCH = 64
DEFAULT_VOCAB = 8000  # the vocabulary cap of a corpus without its own <unk>


@dataclass
class DataConfig(ConfigMixin):
    """Where the text comes from and how it is read (the data flags of ``rnnlab train``); saved in every
    checkpoint so that evaluation and sampling read text the same way.

    Raises:
        ConfigError: a vocabulary below 4 or a validation fraction outside (0, 0.5).
    """

    _what = "data configuration"

    train: str = "builtin:agreement"  # a file, or builtin:agreement
    valid: str | None = None          # None: the builtin's valid split, or the last 5% of the training sentences
    format: str = "text"              # text | lines | csv | jsonl
    column: str | None = None         # csv: the text column
    field: str = "text"               # jsonl: the text field
    level: str = "word"               # word | char
    vocab_size: int | None = None     # ids including <unk>, <s>, </s>; None: every word of a corpus with its
    #                                   own <unk> (a closed vocabulary), else DEFAULT_VOCAB
    errors: str = "strict"            # strict | replace: what to do with bytes that are not UTF-8
    skip_bad_lines: bool = False      # jsonl/csv: skip malformed lines instead of stopping
    lowercase: bool | None = None     # None: lower-case word-level prose, keep `lines` as they are
    valid_fraction: float = 0.05      # held-out share of the training sentences when no valid set is given

    def __post_init__(self):
        if self.vocab_size is not None and self.vocab_size < 4:
            raise ConfigError(f"vocab-size must be at least 4 (three special tokens and a word), got {self.vocab_size}")
        if not 0 < self.valid_fraction < 0.5:
            raise ConfigError("valid-fraction must lie in (0, 0.5)")

    def read_options(self):
        """The keyword arguments of ``rnnlab.data.iter_sentences`` and ``rnnlab.data.encode_file``."""
        return {"format": self.format, "level": self.level, "column": self.column, "field": self.field,
                "errors": self.errors, "skip_bad_lines": self.skip_bad_lines, "lowercase": self.lowercase}



# -- data behind the trainer ---------------------------------------------------------------------------


class SentenceData:
    """Sentences as independent sequences, bucketed by length, reshuffled every epoch (seeded)."""

    stream = False

    def __init__(self, train, valid, batch_size, seed):
        self.train, self.valid, self.batch_size, self.seed = train, valid, batch_size, seed
        self._n = {}

    def epoch_batches(self, epoch, start=0):
        """The (x, y) batches of ``epoch``, (T, B) each, from batch index ``start`` on; the order is a
        function of (seed, epoch)."""
        from .data import sentence_batches
        return sentence_batches(self.train, self.batch_size, rng=(self.seed, epoch), start=start)

    def n_batches(self, epoch):
        """Batches per epoch."""
        from .data import n_sentence_batches
        return n_sentence_batches(self.train, self.batch_size)

    def valid_batches(self):
        """The validation sentences in batches of ``EVAL_BATCH``, in order."""
        return eval_batches(self.valid)

    def probe_batch(self):
        """The validation batch of the longest sentences: where the gradient's reach shows."""
        from .data import sentence_batches
        return max(sentence_batches(self.valid, 32, shuffle=False), key=lambda b: b[0].shape[0])


class StreamData:
    """The corpus as one stream, as the classic RNNLM toolkits read it, cut into B parallel streams.

    Targets are every token with a </s> after each sentence; the input after a </s> is <s>, so each
    sentence is read exactly as in sentence mode, but the state flows on from the sentence before. Each
    update runs forward over a window of k2 steps that ends k1 steps after the previous one and learns from
    its last k1 outputs: TBPTT(k1, k2) of Williams & Peng (1990). With k2 = k1 the windows do not overlap.
    Each window is read from the (memory-mapped) corpus when it is needed (``data.stream_window``), so
    memory does not grow with the corpus.
    """

    stream = True

    def __init__(self, train, valid, batch_size, k1, k2=None):
        self.train, self.valid, self.B, self.k1 = train, valid, batch_size, k1
        self.k2 = k2 or k1
        M = train.n_predicted
        if M < 2 * batch_size:
            raise DataError(f"the training corpus ({M} targets) is too small for {batch_size} parallel streams; "
                            f"lower --batch-size to at most {M // 2}")
        self.L = -(-M // batch_size)                                   # ceil: only the last stream is padded

    def _windows(self):
        """(s, p, e, s'): window [s, e) learns from outputs [p, e); the next window starts at s'."""
        overlap = self.k2 - self.k1
        for p in range(0, self.L, self.k1):
            yield max(0, p - overlap), p, min(p + self.k1, self.L), max(0, p + self.k1 - overlap)

    def epoch_batches(self, epoch, start=0):
        """The (x, y) windows of an epoch, (T <= k2, B) each, from window ``start`` on; targets already
        learnt from in the previous window are -1. The same every epoch."""
        from .data import stream_window

        for i, (s, p, e, s_next) in enumerate(self._windows()):
            if i < start:
                continue
            x, y = stream_window(self.train, self.B, s, e)
            y[: p - s] = -1             # outputs already learnt from in the previous window
            # the state entering s' (-1: this window's own entering state); the last window has no next one
            self._carry_at = min(s_next - 1 - s, e - s - 1)
            yield x, y

    def carry_index(self, x):
        """Step (within the current window) whose state enters the next window."""
        return self._carry_at

    def n_batches(self, epoch):
        """Windows per epoch: ceil(L / k1) for streams of length L."""
        return -(-self.L // self.k1)

    def valid_batches(self):
        """The validation sentences in batches of ``EVAL_BATCH``, in order (sentences, not a stream)."""
        return eval_batches(self.valid)

    def probe_batch(self):
        """60 steps of 4 validation streams, the state carried across sentences as in training."""
        from .data import stream_batches
        return next(stream_batches(self.valid, 4, 60))


def eval_batches(corpus):
    """The sentences of an EncodedCorpus as (x, y) batches of ``EVAL_BATCH``, unshuffled."""
    from .data import sentence_batches
    return sentence_batches(corpus, EVAL_BATCH, shuffle=False)


# -- building ------------------------------------------------------------------------------------------


def _split_valid(corpus, fraction):
    """Hold out the last `fraction` of the sentences (at least one) as a validation corpus."""
    from .data import EncodedCorpus

    S = corpus.n_sentences
    if S < 2:
        raise DataError(f"{corpus.source}: only {S} sentence; give a validation file with --valid")
    k = max(1, int(round(S * fraction)))
    cut = S - k
    o = np.asarray(corpus.offsets)
    train = EncodedCorpus(corpus.tokens[: o[cut]], o[: cut + 1], corpus.vocab, corpus.source, {})
    valid = EncodedCorpus(corpus.tokens[o[cut]:], o[cut:] - o[cut], corpus.vocab, corpus.source + " (held out)", {})
    return train, valid


def skipped_lines_note(corpus) -> str | None:
    """One line saying how many bad lines reading ``corpus`` (an EncodedCorpus) skipped, and the first one:
    "train.jsonl: 3 bad lines skipped (first: line 7: not valid JSON ...)"; None when none were skipped.
    The counts come from the reading pass, kept in the encoding cache, so a cached corpus reports them too."""
    stats = corpus.stats or {}
    k = int(stats.get("skipped_lines", 0))
    if not k:
        return None
    bad = stats.get("bad_lines") or []
    first = f" (first: line {bad[0][0]}: {bad[0][1]})" if bad else ""
    return f"{corpus.source}: {k} bad line{'s' if k > 1 else ''} skipped{first}"


def prepare_data(dcfg: DataConfig, cache_dir, log=print):
    """(vocab, train corpus, valid corpus). Logs one line per corpus that had bad lines skipped
    (``skip_bad_lines``), then one line about the data."""
    from .data import Vocab, builtin_split, count_tokens, encode_file, is_builtin

    opts = dcfg.read_options()
    t0 = time.perf_counter()
    counts = count_tokens(dcfg.train, str(cache_dir), **opts)
    types = sum(1 for t in counts if t not in ("<unk>", "<s>", "</s>"))
    closed = counts.get("<unk>", 0) > 0      # the corpus folded its rare words itself (PTB, WikiText)
    size = dcfg.vocab_size or (types + 3 if closed else DEFAULT_VOCAB)
    vocab = Vocab.from_counts(counts, size, level=opts.get("level") or "word")
    folded = types - (len(vocab) - 3)
    vocab_note = (f"all {types} word types kept: the corpus has its own <unk>" if closed and not dcfg.vocab_size
                  else f"{folded} word types folded into <unk>" if folded > 0 else "every word type kept")
    train = encode_file(dcfg.train, vocab, cache_dir=str(cache_dir), **opts)
    read = [train]
    if dcfg.valid is not None:
        valid = encode_file(dcfg.valid, vocab, cache_dir=str(cache_dir), **opts)
        read.append(valid)
    elif is_builtin(dcfg.train):
        valid = encode_file(builtin_split(dcfg.train, "valid"), vocab, cache_dir=str(cache_dir), **opts)
    else:
        train, valid = _split_valid(train, dcfg.valid_fraction)
    for note in filter(None, map(skipped_lines_note, read)):
        log(note)
    log(f"data: {train.n_sentences} training sentences ({train.n_predicted} predicted tokens), "
        f"{valid.n_sentences} validation sentences, vocabulary {len(vocab)} ({vocab_note}) "
        f"({time.perf_counter() - t0:.1f} s)")
    return vocab, train, valid


def _resumable(out: Path):
    """(meta, extra) of ``out/last.npz`` if it holds a run that can be resumed; CheckpointError otherwise."""
    path = out / "last.npz"
    if not path.exists():
        what = "no such directory" if not out.exists() else "no last.npz"
        raise checkpoint.CheckpointError(f"nothing to resume in {out}: {what}; start the run without --resume")
    try:
        _, meta, extra = checkpoint.load(path)
    except checkpoint.CheckpointError as e:
        best = " (best.npz is an earlier state of the same run: copy it to last.npz to resume from there)" \
            if (out / "best.npz").exists() else ""
        raise checkpoint.CheckpointError(f"cannot resume: {e}{best}") from None
    missing = [k for k in ("data", "train", "model", "state", "optimizer", "vocab") if k not in meta]
    if missing:
        raise checkpoint.CheckpointError(f"{path} holds a model but no training state ({', '.join(missing)} "
                                         f"missing); it cannot be resumed: train a new run in another --out")
    return meta, extra


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
        meta, extra = _resumable(out)
        try:
            dcfg = DataConfig.from_dict(meta["data"])
            tcfg_saved = TrainConfig.from_dict(meta["train"])
            model_cfg = ModelConfig.from_dict(meta["model"])
        except (ConfigError, TypeError, AttributeError) as e:
            raise checkpoint.CheckpointError(f"{out / 'last.npz'} holds a configuration this rnnlab cannot use "
                                             f"({e}); resume it with the rnnlab that wrote it") from None
        # a resumed run may be given more epochs or time; everything else is as saved
        tcfg_saved.epochs = max(tcfg_saved.epochs, tcfg.epochs)
        tcfg_saved.time_budget = tcfg.time_budget
        tcfg = tcfg_saved
    else:
        _claim_out_dir(out, force)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint.remove_temporaries(out)
    vocab, train, valid = prepare_data(dcfg, out / "cache", log=log)
    if resume:
        _check_same_data(out, meta, vocab, train)
        lm = LanguageModel.from_config(model_cfg, class_of_word=extra.get("extra/class_of_word"))
    else:
        kw = dict(model_kwargs)
        if kw.get("output") == "class":
            n_classes = kw.pop("n_classes", None) or max(2, int(round(math.sqrt(len(vocab)))))
            if n_classes > len(vocab):
                raise ConfigError(f"--classes {n_classes} is more than the vocabulary ({len(vocab)} tokens in "
                                  f"{dcfg.train}); choose at most {len(vocab)} classes")
            kw["class_of_word"] = vocab.frequency_classes(n_classes)
        lm = LanguageModel(len(vocab), **kw)
    if tcfg.stream:
        data = StreamData(train, valid, tcfg.batch_size, tcfg.bptt_chunk, tcfg.bptt_window)
    else:
        data = SentenceData(train, valid, tcfg.batch_size, tcfg.seed)
    meta_base = {"data": dcfg.to_dict(), "vocab": vocab.to_json(),
                 "corpus": {"train_tokens": int(train.n_tokens), "train_sentences": int(train.n_sentences)}}
    trainer = Trainer(lm, tcfg, data, out, meta_base, log=log, progress=progress, workers=workers)
    if resume:
        try:
            trainer.restore(out / "last.npz")
        except (ConfigError, KeyError, TypeError, ValueError) as e:
            raise checkpoint.CheckpointError(f"{out / 'last.npz'} does not match its own configuration ({e}); "
                                             f"it cannot be resumed: train a new run in another --out") from None
        st = trainer.state
        if st["epoch"] >= tcfg.epochs:
            log(f"nothing left to do: the run in {out} has finished its {tcfg.epochs} epochs; "
                f"give --epochs N (more than {tcfg.epochs}) to train longer")
            return 0
        log(f"resuming {out} at epoch {st['epoch'] + 1}, batch {st['batch']} (step {st['step']})")
    else:
        log(f"model: {lm!r}, {sum(v.size for v in lm.params.values()):,} parameters")
        log(f"training: {tcfg.optimizer} lr {tcfg.learning_rate:g}, batch {tcfg.batch_size}, "
            f"{'full BPTT' if tcfg.truncate is None else f'truncate {tcfg.truncate}'}"
            f"{', stream' if tcfg.stream else ''}, clip {tcfg.clip}, epochs {tcfg.epochs}"
            f"{'' if tcfg.time_budget is None else f', time budget {tcfg.time_budget:g} s'}"
            f"{f', {workers} Hogwild workers' if workers > 1 else ''}")
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
    from .report.models import diagnose_model_dirs

    t0 = time.perf_counter()
    diagnose_model_dirs([out], Path(out) / "report", log=lambda *a: None)
    log(f"gradient report: {Path(out) / 'report' / 'report.html'} ({time.perf_counter() - t0:.1f} s)")


def load_for_use(model_dir):
    """(lm, vocab, meta) for evaluation and sampling."""
    from .data import Vocab

    lm, meta = checkpoint.load_model(model_dir)
    try:
        vocab = Vocab.from_json(meta["vocab"])
    except (KeyError, TypeError, ValueError) as e:
        raise checkpoint.CheckpointError(f"{model_dir}: the checkpoint holds no usable vocabulary ({e})") from None
    if len(vocab) != lm.vocab_size:
        raise checkpoint.CheckpointError(f"{model_dir}: vocabulary of {len(vocab)} tokens, model of {lm.vocab_size}")
    return lm, vocab, meta


def evaluate_model(model_dir, test, read_options: dict | None = None, cache_dir=None, stream=None):
    """Perplexity of a trained model on a corpus: {'perplexity', 'cross_entropy', 'tokens', ...,
    'skipped_lines', 'skipped_note', 'stream'} (bad lines skipped with ``skip_bad_lines``, and
    ``skipped_lines_note`` of the corpus or None). ``stream``: carry the state across sentences
    (``rnnlab.stream_eval``); None: as the model was trained (``--stream`` or not)."""
    from .data import encode_file

    lm, vocab, meta = load_for_use(model_dir)
    opts = DataConfig.from_dict(meta.get("data", {})).read_options()
    opts.update({k: v for k, v in (read_options or {}).items() if v is not None})
    corpus = encode_file(test, vocab, cache_dir=None if cache_dir is None else str(cache_dir), **opts)
    t0 = time.perf_counter()
    if stream is None:
        stream = bool(meta.get("train", {}).get("stream", False))
    if stream:
        from .stream_eval import evaluate_stream
        r = evaluate_stream(lm, corpus)
    else:
        r = evaluate(lm, eval_batches(corpus))
    r["stream"] = bool(stream)
    r.update(sentences=corpus.n_sentences, seconds=time.perf_counter() - t0,
             bits_per_token=r["cross_entropy"] / math.log(2),
             skipped_lines=int((corpus.stats or {}).get("skipped_lines", 0)), skipped_note=skipped_lines_note(corpus))
    return r


def generate_text(model_dir, n=10, temperature=1.0, prime=None, max_length=None, seed=None, allow_unk=False):
    """Sample ``n`` sentences; returns a list of strings."""
    from .data import tokenize_text
    from .sample import sample

    lm, vocab, meta = load_for_use(model_dir)
    dcfg = DataConfig.from_dict(meta.get("data", {}))
    level = dcfg.level
    if max_length is None:
        max_length = 200 if level == "char" else 50
    prime_ids = []
    if prime:
        toks = tokenize_text(prime, format=dcfg.format, level=level, lowercase=dcfg.lowercase)
        prime_ids = [int(i) for i in vocab.encode(toks)]
    rng = np.random.default_rng(seed)
    ids = sample(lm, vocab.bos, vocab.eos, n=n, prime=prime_ids, temperature=temperature, max_length=max_length,
                 rng=rng, banned=() if allow_unk else (vocab.unk,))
    prefix = vocab.decode(prime_ids) if prime_ids else []
    return [vocab.join(prefix + vocab.decode(s)) for s in ids]
