"""`rnnlab train`: train a language model on a corpus."""
from __future__ import annotations

import argparse
import os
import sys

from ._common import add_data_options, finite_float, int_at_least, nonnegative_float, positive_float, probability

DEFAULT_EPOCHS = 10


class Given(argparse.Action):
    """Store a flag's value and add its name to ``namespace.given``: a preset fills in only the flags that
    were not given, a flag given at its default value (``--workers 1``) included."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given = (getattr(namespace, "given", None) or frozenset()) | {self.dest}


def register(sub):
    """Add the ``train`` sub-command to ``sub`` (the sub-parsers of ``rnnlab.cli.build_parser``)."""
    p = sub.add_parser("train", help="train a language model on a corpus",
                       description="Train a recurrent language model with explicit BPTT. Writes best.npz, last.npz "
                       "and log.jsonl into --out. Without --train it trains on the built-in agreement corpus. "
                       "last.npz is rewritten at every epoch end, every --checkpoint-every seconds and on "
                       "Ctrl-C/SIGTERM (exit status 130); --resume continues from it exactly.")
    from ..presets import MEASURED, PRESETS, describe
    g = p.add_argument_group("system")
    g.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="a complete recipe; flags given as well override its values. "
                        + "; ".join(f"{n}: {describe(n)} [{MEASURED[n]}]" for n in sorted(PRESETS))
                        + " (fortunes, two busy cores; README, docs/PERFORMANCE.md)")
    g.add_argument("--train", default="builtin:agreement", metavar="FILE",
                   help="training corpus, or builtin:agreement (default)")
    g.add_argument("--valid", metavar="FILE", help="validation corpus (default: builtin split, or the last 5%% "
                   "of the training sentences)")
    g.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    g.add_argument("--resume", action="store_true", help="continue the run saved in --out exactly where it stopped "
                   "(its saved configuration is used; only --epochs and --time-budget may change)")
    g.add_argument("--force", action="store_true", help="replace a model or run already in --out")
    g.add_argument("--seed", type=int_at_least(0), default=0, help="seed of initialisation and data order (default 0)")
    g.add_argument("--checkpoint-every", type=positive_float, default=180.0, metavar="S",
                   help="seconds between checkpoints within an epoch (default 180)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--threads", type=int_at_least(1), default=1, metavar="N",
                   help="BLAS threads (default 1: a step's products are small; more threads help only on idle cores)")
    g.add_argument("--workers", action=Given, type=int_at_least(1), default=1, metavar="W",
                   help="processes training one model at once in shared memory (Hogwild, as word2vec and "
                        "faster-rnnlm; default 1). Two on two cores: ~1.8x the tokens/s for a little perplexity "
                        "at the same epochs; runs then differ slightly from one to the next. Sentence batches "
                        "only (not --stream)")
    g.add_argument("--no-report", action="store_true", help="do not write the gradient report at the end")
    add_data_options(p)
    from ..init import SCHEMES
    from ..layers import DEFAULT_FORGET_BIAS, LAYERS, NONLINEARITIES
    from ..optim import DEFAULT_LR, OPTIMIZERS
    from ..output import OUTPUTS

    m = p.add_argument_group("model")
    m.add_argument("--cell", action=Given, choices=list(LAYERS), default="rnn", help="recurrent cell (default rnn)")
    m.add_argument("--nonlinearity", choices=list(NONLINEARITIES), default="tanh",
                   help="rnn cell's nonlinearity (default tanh)")
    m.add_argument("--hidden", action=Given, type=int_at_least(1), default=100,
                   help="hidden size (default 100, as the tutorial)")
    m.add_argument("--layers", type=int_at_least(1), default=1, help="stacked recurrent layers (default 1)")
    m.add_argument("--embedding", type=int_at_least(1), default=None, metavar="E",
                   help="word embedding size (default: none, one-hot input as in the tutorial)")
    m.add_argument("--output", action=Given, choices=list(OUTPUTS), default="softmax",
                   help="full softmax, or class-factorised softmax (much faster for large vocabularies)")
    m.add_argument("--classes", type=int_at_least(2), default=None, help="number of classes for --output class "
                   "(default sqrt of the vocabulary)")
    m.add_argument("--init", choices=list(SCHEMES), default="uniform",
                   help="initialisation of the recurrent layers (default uniform, as torch and the tutorial)")
    m.add_argument("--forget-bias", type=finite_float, default=DEFAULT_FORGET_BIAS,
                   help=f"LSTM forget-gate bias at init (default {DEFAULT_FORGET_BIAS}, as rnnlab.LSTM: "
                        f"Jozefowicz et al. 2015)")
    m.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="(default float32)")
    m.add_argument("--dropout", type=probability, default=0.0, metavar="P",
                   help="dropout probability in training (variational, one mask per sequence: on the embeddings, "
                        "between layers and before the output; Zaremba et al. 2014, Gal & Ghahramani 2016); "
                        "default 0")
    m.add_argument("--dropout-recurrent", type=probability, default=0.0, metavar="P",
                   help="dropout probability of the recurrent state in training: one mask per sequence on "
                        "h_{t-1} where it enters W_hh, in every layer (Gal & Ghahramani 2016); default 0")
    m.add_argument("--tie", action="store_true",
                   help="weight tying: the output layer's word vectors are the input embedding (needs --embedding "
                        "equal to --hidden)")
    m.add_argument("--direct", action=Given, type=positive_float, default=None, metavar="M",
                   help="maximum-entropy direct connections (hashed n-gram features of the history added to the "
                        "output scores, as the RNNLM toolkits' -direct): a table of M million entries")
    m.add_argument("--direct-order", action=Given, type=int_at_least(1), default=None, metavar="N",
                   help="order of the direct connections' n-grams: the last 0..N-1 words (default 4 with --direct)")
    o = p.add_argument_group("optimisation")
    o.add_argument("--direct-lr", type=positive_float, default=None, metavar="R",
                   help="learning rate of the direct connections' table (faster-rnnlm's --maxent-alpha); default: "
                        "--lr. The schedule scales both alike")
    o.add_argument("--direct-l2", type=nonnegative_float, default=0.0, metavar="D",
                   help="L2 decay of the table entries each update touches, w <- w (1 - D) - step (faster-rnnlm's "
                        "--maxent-beta, 1e-6 there); default 0")
    o.add_argument("--optimizer", action=Given, choices=list(OPTIMIZERS), default="adagrad", help="(default adagrad)")
    o.add_argument("--lr", action=Given, type=positive_float, default=None,
                   help="learning rate (default per optimizer: "
                   + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()) + ")")
    o.add_argument("--lr-decay-after", action=Given, type=int_at_least(1), default=None, metavar="K",
                   help="multiply the learning rate by --lr-decay after epoch K and every later epoch "
                        "(default: never)")
    o.add_argument("--lr-decay", type=positive_float, default=0.5, metavar="F",
                   help="factor of --lr-decay-after (default 0.5)")
    o.add_argument("--no-halve-lr", action="store_true",
                   help="do not halve the learning rate when the validation loss rises (the tutorial's rule)")
    o.add_argument("--clip", type=nonnegative_float, default=5.0,
                   help="clip the global gradient norm (default 5; 0: off)")
    o.add_argument("--clip-value", type=positive_float, default=None, help="clamp each gradient entry to +-V")
    o.add_argument("--truncate", type=int_at_least(0), default=None, metavar="K",
                   help="per-output truncation: the gradient from each output flows back K steps (default: full BPTT)")
    o.add_argument("--batch-size", action=Given, type=int_at_least(1), default=32,
                   help="sentences (or streams) per step (default 32)")
    o.add_argument("--epochs", action=Given, type=int_at_least(0), default=None,
                   help=f"(default {DEFAULT_EPOCHS}; with --resume: the saved run's, or more)")
    o.add_argument("--time-budget", type=positive_float, default=None, metavar="S",
                   help="stop after S seconds of training")
    o.add_argument("--stream", action="store_true",
                   help="train on the corpus as one continuous stream, carrying the state across chunks")
    o.add_argument("--bptt-chunk", type=int_at_least(1), default=20, metavar="K1",
                   help="--stream: steps per update (default 20)")
    o.add_argument("--bptt-window", type=int_at_least(1), default=None, metavar="K2",
                   help="--stream: steps backpropagated per update, >= K1 (default K1)")
    p.set_defaults(func=run, get_default=p.get_default, given=frozenset())


# flags that may accompany --resume with any value (they do not change what the run computes)
_RESUME_FREE = {"out", "resume", "force", "quiet", "no_report", "epochs", "time_budget", "func", "get_default",
                "command", "threads", "workers", "preset", "given"}
# every other flag: where the saved run keeps its value
_SAVED_AS = {"train": ("data", "train"), "valid": ("data", "valid"), "format": ("data", "format"),
             "column": ("data", "column"), "field": ("data", "field"), "level": ("data", "level"),
             "vocab_size": ("data", "vocab_size"), "errors": ("data", "errors"),
             "skip_bad_lines": ("data", "skip_bad_lines"), "cell": ("model", "cell"),
             "nonlinearity": ("model", "nonlinearity"), "hidden": ("model", "hidden_size"),
             "layers": ("model", "num_layers"), "embedding": ("model", "embedding_size"),
             "output": ("model", "output"), "init": ("model", "init"), "forget_bias": ("model", "forget_bias"),
             "dtype": ("model", "dtype"), "seed": ("train", "seed"), "optimizer": ("train", "optimizer"),
             "lr": ("train", "lr"), "no_halve_lr": ("train", "halve_lr"), "clip": ("train", "clip"),
             "clip_value": ("train", "clip_value"), "truncate": ("train", "truncate"),
             "batch_size": ("train", "batch_size"), "stream": ("train", "stream"),
             "bptt_chunk": ("train", "bptt_chunk"), "bptt_window": ("train", "bptt_window"),
             "checkpoint_every": ("train", "checkpoint_every"), "classes": ("model", "num_classes"),
             "lr_decay_after": ("train", "lr_decay_after"), "lr_decay": ("train", "lr_decay"),
             "direct": ("model", "direct_size"), "tie": ("model", "tie"), "dropout": ("model", "dropout"),
             "direct_order": ("model", "direct_order"), "direct_lr": ("train", "direct_lr"),
             "direct_l2": ("train", "direct_l2"), "dropout_recurrent": ("model", "dropout_recurrent")}


def _configs(args):
    """(DataConfig, model kwargs, TrainConfig) of a fresh run with these arguments; raises ConfigError."""
    from ..errors import ConfigError
    from ..pipeline import DataConfig
    from ..train import TrainConfig

    if args.resume and args.force:
        raise ConfigError("--resume continues the run in --out and --force replaces it; choose one")
    if args.classes is not None and args.output != "class":
        raise ConfigError("--classes applies to the class-factorised output; add --output class")
    if args.classes is not None and args.vocab_size is not None and args.classes > args.vocab_size:
        raise ConfigError(f"--classes {args.classes} is more than --vocab-size {args.vocab_size}; "
                          f"choose fewer classes")
    if args.workers > 1 and args.stream:
        raise ConfigError("--workers above 1 trains on sentence batches; --stream carries the state from one "
                          "chunk to the next and runs in one process: drop one of them")
    if args.bptt_window is not None and not args.stream:
        raise ConfigError("--bptt-window applies to --stream training; add --stream")
    for flag, v, default in (("--direct-lr", args.direct_lr, None), ("--direct-l2", args.direct_l2, 0.0)):
        if v != default and args.direct is None:
            raise ConfigError(f"{flag} applies to direct connections; add --direct M (table size in millions of "
                              f"entries)")
    if args.direct_order is not None and args.direct is None:
        raise ConfigError("--direct-order sets the order of direct connections; add --direct M (table size in "
                          "millions of entries)")
    dcfg = DataConfig(train=args.train, valid=args.valid, format=args.format or "text", column=args.column,
                      field=args.field or "text", level=args.level, vocab_size=args.vocab_size,
                      errors=args.errors or "strict", skip_bad_lines=bool(args.skip_bad_lines))
    model = {"hidden_size": args.hidden, "cell": args.cell, "nonlinearity": args.nonlinearity,
             "num_layers": args.layers, "embedding_size": args.embedding, "output": args.output,
             "dtype": args.dtype, "seed": args.seed, "init": args.init,
             "forget_bias": args.forget_bias if args.cell == "lstm" else None,
             "tie": args.tie, "dropout": args.dropout, "dropout_recurrent": args.dropout_recurrent,
             "direct_size": None if args.direct is None else int(round(args.direct * 1e6)),
             "direct_order": None if args.direct is None else (args.direct_order or 4)}
    if args.output == "class":  # the class layer's only (train_language_model turns it into word classes)
        model["num_classes"] = args.classes
    tcfg = TrainConfig(optimizer=args.optimizer, lr=args.lr, clip=args.clip or None, clip_value=args.clip_value,
                       truncate=args.truncate, batch_size=args.batch_size,
                       epochs=DEFAULT_EPOCHS if args.epochs is None else args.epochs,
                       time_budget=args.time_budget, seed=args.seed, stream=args.stream, bptt_chunk=args.bptt_chunk,
                       bptt_window=args.bptt_window, halve_lr=not args.no_halve_lr,
                       lr_decay_after=args.lr_decay_after, lr_decay=args.lr_decay,
                       checkpoint_every=args.checkpoint_every, direct_lr=args.direct_lr, direct_l2=args.direct_l2)
    return dcfg, model, tcfg


def _check_resume_flags(args, out, fresh):
    """A flag given with --resume must agree with the saved run: the run continues as it was configured."""
    from ..checkpoint import read_meta
    from ..errors import ConfigError

    given = [k for k, v in vars(args).items() if k not in _RESUME_FREE and v != args.get_default(k)]
    if not given or not (out / "last.npz").is_file():
        return  # nothing to compare with: train_language_model says what is missing
    saved = read_meta(out / "last.npz")
    for k in given:
        section, key = _SAVED_AS[k]
        want = fresh[section].get(key)
        have = saved.get(section, {}).get(key)
        if key == "num_classes" or want == have:
            continue
        flag = "--" + k.replace("_", "-")
        value = "" if isinstance(getattr(args, k), bool) else f" {getattr(args, k)}"
        raise ConfigError(f"{flag}{value} differs from the run saved in {out} ({key} {have!r}); --resume continues "
                          f"that run as it was configured: drop {flag}, or train into another --out")


def run(args) -> int:
    """``rnnlab train``: build the data, model and training configurations from ``args`` and call
    ``rnnlab.pipeline.train_language_model``; returns its status (0 done, 130 interrupted and saved).

    Raises:
        ConfigError: contradictory or bad options, or, with ``--resume``, options that differ from the
            saved run's (only ``--epochs`` and ``--time-budget`` may change).
    """
    from pathlib import Path

    from ..errors import ConfigError
    from ..pipeline import train_language_model
    from ..presets import apply_preset
    from ..threads import blas_threads
    from ..train import TrainConfig

    if args.preset is not None and args.resume:
        raise ConfigError("--preset starts a new run; --resume continues the saved one as it was configured: "
                          "drop --preset")
    if args.preset is not None:
        apply_preset(args, args.preset, args.given)
        if args.workers > (os.cpu_count() or 1):
            args.workers = os.cpu_count() or 1
    dcfg, model, tcfg = _configs(args)
    out = Path(args.out)
    if args.resume:
        _check_resume_flags(args, out, {"data": dcfg.to_dict(), "model": model, "train": tcfg.to_dict()})
        # only the length of the run may change: more epochs (0: as saved) and a new time budget
        tcfg = TrainConfig(epochs=args.epochs or 0, time_budget=args.time_budget)
    cores = os.cpu_count() or 1
    if args.workers * args.threads > cores:
        print(f"note: --workers {args.workers} with --threads {args.threads} asks for "
              f"{args.workers * args.threads} threads on {cores} core{'s' if cores > 1 else ''}: they will wait "
              f"on each other; at most {cores} in all is fastest")
    with blas_threads(args.threads):
        status = train_language_model(dcfg, model, tcfg, out, resume=args.resume, progress=not args.quiet,
                                      force=args.force, report=not args.no_report, workers=args.workers)
    if status == 0:
        print(f"model written to {out} (best.npz, last.npz, log.jsonl)")
    elif status == 130:
        print(f"rnnlab train: interrupted; progress saved in {out / 'last.npz'}; continue with "
              f"'rnnlab train --resume --out {out}'", file=sys.stderr)
    return status
