"""`rnnlab train`: train a language model on a corpus."""
from __future__ import annotations

from ._common import add_data_options


def register(sub):
    p = sub.add_parser("train", help="train a language model on a corpus",
                       description="Train a recurrent language model with explicit BPTT. Writes best.npz, last.npz, "
                       "log.jsonl and a gradient report into --out. Without --train it trains on the built-in "
                       "agreement corpus.")
    g = p.add_argument_group("system")
    g.add_argument("--train", default="builtin:agreement", metavar="FILE",
                   help="training corpus, or builtin:agreement (default)")
    g.add_argument("--valid", metavar="FILE", help="validation corpus (default: builtin split, or the last 5%% "
                   "of the training sentences)")
    g.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    g.add_argument("--resume", action="store_true", help="continue the run saved in --out exactly where it stopped")
    g.add_argument("--seed", type=int, default=0, help="seed of initialisation and data order (default 0)")
    g.add_argument("--checkpoint-every", type=float, default=180.0, metavar="S",
                   help="seconds between checkpoints within an epoch (default 180)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--threads", type=int, default=1, metavar="N",
                   help="BLAS threads (default 1: a step's products are small; more threads help only on idle cores)")
    g.add_argument("--no-report", action="store_true", help="do not write the gradient report at the end")
    add_data_options(p)
    m = p.add_argument_group("model")
    m.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="rnn", help="recurrent cell (default rnn)")
    m.add_argument("--nonlinearity", choices=["tanh", "relu", "sigmoid", "linear"], default="tanh",
                   help="rnn cell's nonlinearity (default tanh)")
    m.add_argument("--hidden", type=int, default=100, help="hidden size (default 100, as the tutorial)")
    m.add_argument("--layers", type=int, default=1, help="stacked recurrent layers (default 1)")
    m.add_argument("--embedding", type=int, default=None, metavar="E",
                   help="word embedding size (default: none, one-hot input as in the tutorial)")
    m.add_argument("--output", choices=["softmax", "class"], default="softmax",
                   help="full softmax, or class-factorised softmax (much faster for large vocabularies)")
    m.add_argument("--classes", type=int, default=None, help="number of classes for --output class "
                   "(default sqrt of the vocabulary)")
    m.add_argument("--init", choices=["uniform", "xavier", "orthogonal", "identity"], default="uniform",
                   help="initialisation of the recurrent layers (default uniform, as torch and the tutorial)")
    m.add_argument("--forget-bias", type=float, default=1.0, help="LSTM forget-gate bias at init (default 1.0)")
    m.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="(default float32)")
    o = p.add_argument_group("optimisation")
    o.add_argument("--optimizer", choices=["sgd", "momentum", "adagrad", "rmsprop", "adam", "sparseadam"],
                   default="adagrad",
                   help="(default adagrad)")
    o.add_argument("--lr", type=float, default=None, help="learning rate (default per optimizer: sgd 0.5, "
                   "momentum 0.1, adagrad 0.1, rmsprop 0.002, adam 0.002)")
    o.add_argument("--lr-decay-after", type=int, default=None, metavar="K",
                   help="multiply the learning rate by --lr-decay after epoch K and every later epoch (default: never)")
    o.add_argument("--lr-decay", type=float, default=0.5, metavar="F", help="factor of --lr-decay-after (default 0.5)")
    o.add_argument("--no-halve-lr", action="store_true",
                   help="do not halve the learning rate when the validation loss rises (the tutorial's rule)")
    o.add_argument("--clip", type=float, default=5.0, help="clip the global gradient norm (default 5; 0: off)")
    o.add_argument("--clip-value", type=float, default=None, help="clamp each gradient entry to +-V")
    o.add_argument("--truncate", type=int, default=None, metavar="K",
                   help="per-output truncation: the gradient from each output flows back K steps (default: full BPTT)")
    o.add_argument("--batch-size", type=int, default=32, help="sentences (or streams) per step (default 32)")
    o.add_argument("--epochs", type=int, default=10, help="(default 10)")
    o.add_argument("--time-budget", type=float, default=None, metavar="S", help="stop after S seconds of training")
    o.add_argument("--stream", action="store_true",
                   help="train on the corpus as one continuous stream, carrying the state across chunks")
    o.add_argument("--bptt-chunk", type=int, default=20, metavar="K1", help="--stream: steps per update (default 20)")
    o.add_argument("--bptt-window", type=int, default=None, metavar="K2",
                   help="--stream: steps backpropagated per update, >= K1 (default K1)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import ConfigError
    from ..pipeline import DataConfig, train_language_model
    from ..threads import blas_threads
    from ..train import TrainConfig

    if args.hidden < 1 or args.layers < 1:
        raise ConfigError("--hidden and --layers must be at least 1")
    if args.embedding is not None and args.embedding < 1:
        raise ConfigError("--embedding must be at least 1")
    dcfg = DataConfig(train=args.train, valid=args.valid, format=args.format or "text", column=args.column,
                      field=args.field or "text", level=args.level, vocab_size=args.vocab_size,
                      errors=args.errors or "strict", skip_bad_lines=bool(args.skip_bad_lines))
    model = {"hidden_size": args.hidden, "cell": args.cell, "nonlinearity": args.nonlinearity,
             "num_layers": args.layers, "embedding_size": args.embedding, "output": args.output,
             "n_classes": args.classes, "dtype": args.dtype, "seed": args.seed, "init": args.init,
             "forget_bias": args.forget_bias if args.cell == "lstm" else None}
    tcfg = TrainConfig(optimizer=args.optimizer, lr=args.lr, clip=args.clip or None, clip_value=args.clip_value,
                       truncate=args.truncate, batch_size=args.batch_size, epochs=args.epochs,
                       time_budget=args.time_budget, seed=args.seed, stream=args.stream, bptt_chunk=args.bptt_chunk,
                       bptt_window=args.bptt_window, halve_lr=not args.no_halve_lr,
                       lr_decay_after=args.lr_decay_after, lr_decay=args.lr_decay,
                       checkpoint_every=args.checkpoint_every)
    if args.threads < 1:
        raise ConfigError("--threads must be at least 1")
    with blas_threads(args.threads):
        status = train_language_model(dcfg, model, tcfg, args.out, resume=args.resume, progress=not args.quiet,
                                      report=not args.no_report)
    if status == 0:
        print(f"model written to {args.out} (best.npz, last.npz, log.jsonl)")
    return status
