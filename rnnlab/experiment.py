"""The experiment runner: train every (model, length, seed) of a grid on one task and tabulate who learns.

    from rnnlab.experiment import ExperimentConfig, run_experiment
    cfg = ExperimentConfig(task="adding", models=["rnn-tanh", "lstm"], lengths=[25, 50], seeds=2)
    records = run_experiment(cfg, "runs/adding", jobs=2)

Output directory:

    config.json    the task and training settings; a later run into the same directory must match them
    results.json   {"config": ..., "records": [...]}, one record per finished run (written after each run)
    results.csv    the same records as a table
    summary.md     per model and length: runs solved, median final metric, median steps
    figure.png     fraction of seeds solved and median metric / baseline against length, one line per model

A record: task, model, length, seed, metric_name, metric (final loss on 10,000 fresh sequences; null if
not finite), baseline, fraction_wrong, success, solved_step, steps, seconds, diverged, train_loss
(last step), train_loss_max (largest training loss seen), grad_norm_max (largest gradient norm before
clipping), omega (last value of Pascanu's regulariser, if used), eval_sequences.

Runs execute in worker processes (``jobs`` at a time) with single-threaded BLAS: on small recurrent
matrices threaded BLAS only adds contention (measured: 3-30x slower per step on 2 busy cores). An
interrupted grid resumes where it stopped: runs whose record is already in results.json are skipped.
"""
from __future__ import annotations

import csv
import io
import json
import os
import statistics
from dataclasses import dataclass, field

from .errors import ConfigError, NumericalError
from .tasks import MODELS, TASKS, TrainConfig, make_task

AGREEMENT = "agreement"
TASK_NAMES = tuple(TASKS) + (AGREEMENT,)
CSV_FIELDS = ["task", "model", "length", "seed", "metric_name", "metric", "baseline", "fraction_wrong", "success",
              "solved_step", "steps", "seconds", "diverged", "train_loss", "train_loss_max", "grad_norm_max", "omega",
              "eval_sequences"]
_BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


@dataclass
class ExperimentConfig:
    """A grid: one ``task``, every model of ``models`` at every length of ``lengths``, seeds 0..seeds-1,
    each run trained with ``train`` (``rnnlab.tasks.TrainConfig``).

    Raises:
        ConfigError: an unknown task or model, an empty or repeating list, a length the task cannot take,
            or seeds < 1.
    """

    task: str                                        # adding | copy | temporal-order | agreement
    models: list = field(default_factory=lambda: ["rnn-tanh", "irnn", "lstm", "gru"])
    lengths: list = field(default_factory=lambda: [50, 100, 200])
    seeds: int = 3                                   # seeds 0 .. seeds-1
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        if self.task not in TASK_NAMES:
            raise ConfigError(f"unknown task {self.task!r}; choose one of {', '.join(TASK_NAMES)}")
        if not self.models:
            raise ConfigError("--models needs at least one model")
        for m in self.models:
            if m not in MODELS:
                raise ConfigError(f"unknown model {m!r}; choose from {', '.join(MODELS)}")
        if not self.lengths:
            raise ConfigError("--lengths needs at least one length")
        if self.task != AGREEMENT:
            for n in self.lengths:
                make_task(self.task, n)             # validates the length for this task
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise ConfigError(f"--seeds must be a positive integer, got {self.seeds!r}")
        if len(set(self.models)) != len(self.models) or len(set(self.lengths)) != len(self.lengths):
            raise ConfigError("--models and --lengths must not repeat an entry")
        if self.task == AGREEMENT:
            for n in self.lengths:
                if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 12:
                    raise ConfigError(f"agreement lengths are subject-verb distances 0..12, got {n!r}")
            if self.train.omega:
                raise ConfigError("--omega is not available for the agreement task")
        if self.train.omega and any(not m.startswith(("rnn", "irnn")) for m in self.models):
            raise ConfigError("--omega applies to RNN models only (rnn-*, irnn); drop lstm/gru from --models")

    def grid(self):
        """The runs as (model, length, seed), lengths outermost."""
        return [(m, n, s) for n in self.lengths for m in self.models for s in range(self.seeds)]

    def identity(self) -> dict:
        """What must match for records to be comparable (the grid itself may grow between runs)."""
        return {"task": self.task, "train": self.train.to_dict()}


# -- one run (in a worker process) ------------------------------------------------------------------

def run_one(task: str, model: str, length: int, seed: int, train_cfg: dict) -> dict:
    """Train and score one grid point; returns its record."""
    cfg = TrainConfig.from_dict(train_cfg)
    if task == AGREEMENT:
        return _agreement_run(model, length, seed, cfg)
    from .tasks import train
    return train(make_task(task, length), model, seed=seed, config=cfg)


AGREEMENT_ITEMS = 500        # fresh test sentences at the run's distance
AGREEMENT_SUCCESS = 0.9      # accuracy that counts as solved (chance: 0.5)


def _agreement_run(model, length, seed, cfg):
    """Agreement (Linzen et al. 2016) with the language model: train ``model`` on builtin:agreement (all
    distances up to 12, sentence batches) for the step/time budget, then score it on fresh sentences in which
    exactly ``length`` words separate subject and verb. Success: accuracy >= 0.9 (chance 0.5)."""
    import math
    import time

    import numpy as np

    from .data import agreement_items, build_vocab, builtin_split, encode_file
    from .lm import LanguageModel
    from .prepare import SentenceData
    from .tasks.agreement import agreement_scores
    from .tasks.model import MODELS
    from .training import TrainConfig as LMTrainConfig
    from .training import Trainer

    t0 = time.perf_counter()
    spec = "builtin:agreement"
    vocab = build_vocab(spec, 1000)
    train, valid = encode_file(spec, vocab), encode_file(builtin_split(spec, "valid"), vocab)
    m = MODELS[model]
    lm = LanguageModel(len(vocab), cfg.hidden_size, cell=m["cell"], nonlinearity=m.get("nonlinearity", "tanh"),
                       embedding_size=32, seed=seed, spectral_radius=cfg.spectral_radius,
                       # None means the model's own; 0.0 is a value (`or` took it for None); the IRNN is identity
                       init=m["init"] if cfg.init is None or model == "irnn" else cfg.init,
                       forget_bias=(m.get("forget_bias") if cfg.forget_bias is None else cfg.forget_bias)
                       if m["cell"] == "lstm" else None)
    batch = min(cfg.batch_size, 64)
    steps_per_epoch = math.ceil(train.n_sentences / batch)
    tcfg = LMTrainConfig(optimizer=cfg.optimizer, lr=cfg.lr, clip=cfg.clip, clip_value=cfg.clip_value, batch_size=batch,
                         epochs=max(1, math.ceil(cfg.max_steps / steps_per_epoch)), time_budget=cfg.budget_seconds,
                         seed=seed, halve_lr=False)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(lm, tcfg, SentenceData(train, valid, batch, seed), tmp, {}, log=lambda *a: None,
                          progress=False)
        trainer.cfg.epochs = tcfg.epochs
        diverged = False
        with np.errstate(all="ignore"):
            try:
                trainer.run()
            except NumericalError:  # rollbacks exhausted; steps skipped and recovered from are no divergence
                diverged = True
    scores = agreement_scores(lm, vocab, agreement_items(AGREEMENT_ITEMS, seed=10_000 + seed, distance=length))
    acc = scores["accuracy"]
    return {"task": AGREEMENT, "model": model, "length": int(length), "seed": int(seed), "metric_name": "accuracy",
            "metric": acc, "baseline": 0.5, "fraction_wrong": 1.0 - acc,
            "success": bool(acc >= AGREEMENT_SUCCESS and not diverged),
            "solved_step": None, "steps": int(trainer.state["step"]), "seconds": round(time.perf_counter() - t0, 3),
            "diverged": diverged, "train_loss": None, "train_loss_max": None,
            "grad_norm_max": None, "omega": None, "eval_sequences": AGREEMENT_ITEMS}


def _worker(args):
    return run_one(*args)


def _worker_init():
    import signal
    import warnings
    warnings.simplefilter("ignore", RuntimeWarning)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C reaches the parent, which terminates the pool


# -- results files ----------------------------------------------------------------------------------

def _key(r):
    return (r["model"], int(r["length"]), int(r["seed"]))


def _atomic_write(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def load_results(out_dir: str) -> list:
    """The records of ``out_dir/results.json`` ([] when there is none).
    Raises ConfigError when the file is not a results file."""
    path = os.path.join(out_dir, "results.json")
    if not os.path.exists(path):
        return []
    try:
        with open(path) as f:
            return json.load(f)["records"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"{path} is not a results file of rnnlab experiment ({e}); move it away") from None


def write_results(out_dir: str, identity: dict, records: list) -> None:
    """Write ``results.json`` ({"config": identity, "records"}) and ``results.csv`` atomically, records
    sorted by (model, length, seed)."""
    records = sorted(records, key=lambda r: (r["model"], r["length"], r["seed"]))
    _atomic_write(os.path.join(out_dir, "results.json"),
                  json.dumps({"config": identity, "records": records}, indent=1) + "\n")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in records:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_FIELDS})
    _atomic_write(os.path.join(out_dir, "results.csv"), buf.getvalue())


def summarize(records: list) -> dict:
    """(model, length) -> {"solved", "runs", "median_metric", "median_ratio", "median_steps",
    "median_steps_solved", "diverged", "metric_name"}."""
    groups = {}
    for r in records:
        groups.setdefault((r["model"], r["length"]), []).append(r)
    out = {}
    for k, rs in groups.items():
        finite = [r["metric"] for r in rs if r["metric"] is not None]
        med = statistics.median(finite) if finite else None
        solved_at = [r["steps"] for r in rs if r["success"]]
        out[k] = {"solved": sum(r["success"] for r in rs), "runs": len(rs), "median_metric": med,
                  "median_ratio": None if med is None else med / rs[0]["baseline"],
                  "median_steps": statistics.median(r["steps"] for r in rs),
                  "median_steps_solved": statistics.median(solved_at) if solved_at else None,
                  "diverged": sum(r["diverged"] for r in rs), "metric_name": rs[0]["metric_name"]}
    return out


def summary_markdown(records: list, models: list | None = None) -> str:
    """Markdown table: one row per model, one column per length, 'solved/runs (median metric)'."""
    if not records:
        return "(no runs)\n"
    s = summarize(records)
    models = models or sorted({r["model"] for r in records})
    models = [m for m in models if any(k[0] == m for k in s)]
    lengths = sorted({r["length"] for r in records})
    metric = records[0]["metric_name"]
    lines = ["| model | " + " | ".join(f"T={n}" for n in lengths) + " |",
             "|---|" + "---|" * len(lengths)]
    for m in models:
        cells = []
        for n in lengths:
            g = s.get((m, n))
            if g is None:
                cells.append("-")
                continue
            med = "n/a" if g["median_metric"] is None else f"{g['median_metric']:.3g}"
            div = f", {g['diverged']} diverged" if g["diverged"] else ""
            steps = f", solved in {g['median_steps_solved']:g} steps" if g["solved"] else ""
            cells.append(f"{g['solved']}/{g['runs']} ({metric} {med}{steps}{div})")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    base = ", ".join(f"T={n}: {next(r['baseline'] for r in records if r['length'] == n):.3g}" for n in lengths)
    lines.append("")
    n_eval = records[0].get("eval_sequences", 10_000)
    lines.append(f"Cells: runs solved / runs (median final {metric} on {n_eval:,} fresh sequences; median steps "
                 "to the solve, over solved runs). "
                 f"Baseline {metric}: {base}.")
    return "\n".join(lines) + "\n"


def plot_results(records: list, path: str, title: str = "", models: list | None = None) -> bool:
    """Figure of success rate and median metric/baseline against length; False if matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    s = summarize(records)
    models = models or sorted({r["model"] for r in records})
    lengths = sorted({r["length"] for r in records})
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    markers = "osD^vx*"
    for i, m in enumerate(models):
        pts = [(n, s[(m, n)]) for n in lengths if (m, n) in s]
        if not pts:
            continue
        xs = [n for n, _ in pts]
        style = dict(marker=markers[i % len(markers)], label=m, alpha=0.85)
        offset = 0.015 * (i - (len(models) - 1) / 2)        # keeps coinciding lines apart
        a1.plot(xs, [g["solved"] / g["runs"] + offset for _, g in pts], **style)
        a2.plot(xs, [float("nan") if g["median_ratio"] is None else g["median_ratio"] for _, g in pts], **style)
    metric = records[0]["metric_name"]
    a1.set(xlabel="length T", ylabel="fraction of seeds solved (lines offset slightly)", ylim=(-0.08, 1.08),
           title="success: < 1% of fresh sequences wrong")
    a2.set(xlabel="length T", ylabel=f"median final {metric} / baseline", yscale="log", title=metric)
    a2.axhline(1.0, color="gray", lw=0.8, ls="--")
    for a in (a1, a2):
        a.set_xscale("log")
        a.set_xticks(lengths)
        a.set_xticklabels([str(n) for n in lengths])
        a.minorticks_off()
        a.grid(alpha=0.3)
    a1.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# -- the grid -------------------------------------------------------------------------------------

def _prepare_out(out_dir, cfg):
    os.makedirs(out_dir, exist_ok=True)
    cpath = os.path.join(out_dir, "config.json")
    ident = cfg.identity()
    if os.path.exists(cpath):
        with open(cpath) as f:
            old = json.load(f)
        if old != json.loads(json.dumps(ident)):
            diff = sorted(k for k in set(old.get("train", {})) | set(ident["train"])
                          if old.get("train", {}).get(k) != ident["train"].get(k))
            what = "task" if old.get("task") != ident["task"] else ", ".join(diff)
            raise ConfigError(f"{out_dir} holds results of different settings ({what}); use another --out")
    else:
        _atomic_write(cpath, json.dumps(ident, indent=1) + "\n")
    return ident


def run_experiment(cfg: ExperimentConfig, out_dir: str, jobs: int = 1, progress: bool = True, log=print) -> list:
    """Run the missing points of ``cfg``'s grid into ``out_dir`` and write every output file.

    Returns all records in the directory (earlier runs included)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs must be a positive integer, got {jobs!r}")
    ident = _prepare_out(out_dir, cfg)
    records = load_results(out_dir)
    done = {_key(r) for r in records}
    todo = [p for p in cfg.grid() if p not in done]
    if done and progress:
        log(f"resuming: {len(done)} run(s) already in {out_dir}, {len(todo)} to go")
    train_cfg = cfg.train.to_dict()
    # longest sequences first: the slowest runs start early and the pool drains evenly
    args = sorted([(cfg.task, m, n, s, train_cfg) for (m, n, s) in todo], key=lambda a: -a[2])
    if args:
        _run_pool(args, jobs, progress, records, out_dir, ident, log)
    write_results(out_dir, ident, records)
    grid_records = [r for r in records if r["model"] in cfg.models and r["length"] in cfg.lengths]
    _atomic_write(os.path.join(out_dir, "summary.md"), summary_markdown(grid_records, cfg.models))
    title = f"{cfg.task}: {', '.join(cfg.models)} ({cfg.seeds} seeds)"
    if not plot_results(grid_records, os.path.join(out_dir, "figure.png"), title, cfg.models) and progress:
        log("matplotlib is not installed: no figure (pip install 'rnnlab[plot]')")
    return records


def _describe(r):
    m = "n/a" if r["metric"] is None else f"{r['metric']:.4g}"
    verdict = (f"solved at step {r['solved_step']}" if r["success"] else
               "diverged" if r["diverged"] else "not solved")
    return (f"{r['model']:<11} T={r['length']:<4} seed {r['seed']}: {r['metric_name']} {m} "
            f"(baseline {r['baseline']:.3g}), {100 * r['fraction_wrong']:.1f}% wrong, {verdict}, "
            f"{r['steps']} steps, {r['seconds']:.0f} s")


def _run_pool(args, jobs, progress, records, out_dir, ident, log):
    import multiprocessing as mp

    from tqdm import tqdm

    saved = {k: os.environ.get(k) for k in _BLAS_ENV}
    os.environ.update({k: "1" for k in _BLAS_ENV})      # inherited by the spawned workers
    bar = tqdm(total=len(args), desc="runs", unit="run", disable=not progress, dynamic_ncols=True)
    try:
        ctx = mp.get_context("spawn")
        with ctx.Pool(min(jobs, len(args)), initializer=_worker_init) as pool:
            for rec in pool.imap_unordered(_worker, args):
                records.append(rec)
                write_results(out_dir, ident, records)
                bar.update(1)
                if progress:
                    bar.write(_describe(rec))
    finally:
        bar.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
