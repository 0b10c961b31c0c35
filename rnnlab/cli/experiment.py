"""`rnnlab experiment`: train a grid of models x lengths x seeds on a long-range task and tabulate it."""
from __future__ import annotations


def _list(kind):
    def parse(s):
        items = [x.strip() for x in s.split(",") if x.strip()]
        return [int(x) for x in items] if kind is int else items
    return parse


def _opt_float(s):
    return None if s.lower() in ("none", "off", "0") else float(s)


def register(sub):
    """Add the ``experiment`` sub-command to ``sub`` (the sub-parsers of ``rnnlab.cli.build_parser``)."""
    from ..estimators.online import ONLINE_TASKS
    from ..experiment import TASK_NAMES
    from ..init import SCHEMES
    from ..layers import DEFAULT_FORGET_BIAS
    from ..optim import OPTIMIZERS
    from ..tasks import MODELS
    from ..tasks.train import TrainConfig

    d = TrainConfig()
    tasks = TASK_NAMES + tuple(t for t in ONLINE_TASKS if t not in TASK_NAMES)  # "add": online training only
    p = sub.add_parser(
        "experiment", help="train models x lengths x seeds on a long-range task; write results and a figure",
        description=f"Train every combination of --models, --lengths and seeds on TASK ({', '.join(TASK_NAMES)}), "
        "in parallel worker processes, and write results.json, results.csv, "
        "summary.md and figure.png to --out. A run stops when the task is solved (fewer than 1% of 10,000 "
        "fresh sequences wrong) or its budget is spent. Re-running into the same --out resumes: finished runs "
        "are skipped.")
    p.add_argument("task", metavar="TASK", choices=tasks,
                   help=" | ".join(tasks) + " (add: online training, the task of Marschall et al. 2020)")
    g = p.add_argument_group("grid")
    g.add_argument("--models", type=_list(str), default="rnn-tanh,irnn,lstm,gru",
                   help=f"comma-separated: {', '.join(MODELS)} (default %(default)s)")
    g.add_argument("--lengths", type=_list(int), default="50,100,200",
                   help="comma-separated sequence lengths (copy: the delay T) (default %(default)s)")
    g.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per model and length (default 3)")
    g = p.add_argument_group("system")
    g.add_argument("--out", required=True, metavar="DIR", help="output directory (resumes if it holds results)")
    g.add_argument("--jobs", type=int, default=2, help="runs in parallel, one process each (default 2)")
    g.add_argument("--budget-seconds", type=float, default=None, metavar="S",
                   help="wall-clock limit per run (default: none; --steps bounds every run); with --estimator, "
                        "the same compute for every gradient algorithm")
    g.add_argument("--quiet", action="store_true", help="no progress bar or per-run lines")
    g = p.add_argument_group("model")
    g.add_argument("--hidden", type=int, default=d.hidden_size, help=f"hidden size (default {d.hidden_size})")
    g.add_argument("--init", default=None, choices=list(SCHEMES),
                   help="initialisation for every model but irnn (default: each model's own)")
    g.add_argument("--spectral-radius", type=float, default=None, metavar="RHO",
                   help="rescale recurrent matrices to spectral radius RHO")
    g.add_argument("--forget-bias", type=float, default=None,
                   help=f"LSTM forget-gate bias (default {DEFAULT_FORGET_BIAS}, as rnnlab.LSTM)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--optimizer", default=d.optimizer, choices=list(OPTIMIZERS),
                   help=f"(default {d.optimizer})")
    g.add_argument("--lr", type=float, default=d.lr, help=f"learning rate (default {d.lr})")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help=f"sequences per step (default {d.batch_size})")
    g.add_argument("--steps", type=int, default=d.max_steps, help=f"step budget per run (default {d.max_steps})")
    g.add_argument("--clip", type=_opt_float, default=d.clip, metavar="C",
                   help=f"clip the gradient's global norm to C; 'none' to disable (default {d.clip})")
    g.add_argument("--clip-value", type=_opt_float, default=None, metavar="V",
                   help="clip every gradient entry to [-V, V] (default: off)")
    g.add_argument("--omega", type=float, default=0.0, metavar="ALPHA",
                   help="weight of Pascanu et al.'s vanishing-gradient regulariser, RNN models (default 0)")
    g.add_argument("--estimator", default=None, metavar="NAME",
                   help="train online with this gradient algorithm (rnnlab.estimators: bptt, tbptt-K, checkpointed, "
                        "rtrl, uoro, kf-rtrl, snap-1, snap-2, rflo, eprop), updating every --update-every steps; "
                        "the add task always trains this way (default bptt)")
    g.add_argument("--update-every", type=int, default=None, metavar="K",
                   help="with --estimator: steps between weight updates "
                        "(default 1; bptt and checkpointed: 10, their window)")
    g = p.add_argument_group("evaluation")
    g.add_argument("--eval-every", type=int, default=d.eval_every,
                   help=f"steps between checks for an early solve (default {d.eval_every})")
    g.add_argument("--eval-sequences", type=int, default=d.eval_sequences,
                   help=f"fresh sequences of the final verdict (default {d.eval_sequences})")
    p.set_defaults(func=run)


def run(args) -> int:
    """``rnnlab experiment``: ``rnnlab.experiment.run_experiment`` over the grid of ``args``, then the
    summary table; returns 0."""
    if args.estimator or args.task == "add":   # online training with rnnlab.estimators (its own runner)
        from ..estimators.online import run_online_experiment
        return run_online_experiment(args)
    from ..experiment import ExperimentConfig, run_experiment
    from ..tasks.train import TrainConfig

    train = TrainConfig(hidden_size=args.hidden, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
                        clip=args.clip, clip_value=args.clip_value, max_steps=args.steps,
                        budget_seconds=args.budget_seconds, eval_every=args.eval_every,
                        eval_sequences=args.eval_sequences, init=args.init, spectral_radius=args.spectral_radius,
                        forget_bias=args.forget_bias, omega=args.omega)
    models = args.models if isinstance(args.models, list) else _list(str)(args.models)
    lengths = args.lengths if isinstance(args.lengths, list) else _list(int)(args.lengths)
    cfg = ExperimentConfig(task=args.task, models=models, lengths=lengths, seeds=args.seeds, train=train)
    records = run_experiment(cfg, args.out, jobs=args.jobs, progress=not args.quiet)
    from ..experiment import summary_markdown
    grid = [r for r in records if r["model"] in cfg.models and r["length"] in cfg.lengths]
    print(summary_markdown(grid, cfg.models), end="")
    print(f"wrote {args.out}/results.json, results.csv, summary.md, figure.png")
    return 0
