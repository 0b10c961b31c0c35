"""Training, as parts with one job each:

    step.py      train_step(model, opt, batch, carry) -> StepResult: forward, backward, guard, clip, update
    tally.py     the bookkeeping of a pass (one row per worker) and a worker's inner loop
    loop.py      Trainer: drives the step over the data with a schedule; evaluate
    recovery.py  the last good state, rollbacks, and what a run checkpoint holds
    journal.py   log.jsonl, the progress bar, the epoch line
    config.py    StepConfig (the step's settings, shared by every trainer), TrainConfig (the LM's run)

Hogwild workers (``rnnlab.hogwild``) run the same step and keep the same tally; so do the long-range
tasks (``rnnlab.tasks.train``) and online training with a gradient estimator (``rnnlab.estimators.online``).
"""
from .config import DEFAULT_LR, StepConfig, TrainConfig
from .loop import Trainer, evaluate
from .step import Batch, StepResult, as_batch, train_step

__all__ = ["DEFAULT_LR", "StepConfig", "TrainConfig", "Trainer", "evaluate", "Batch", "StepResult", "as_batch",
           "train_step"]
