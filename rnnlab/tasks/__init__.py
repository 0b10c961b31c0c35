"""Synthetic long-range tasks, the model they are trained with, and the training loop.

    import rnnlab.tasks as tasks
    task = tasks.make_task("adding", 100)                 # adding | copy | temporal-order
    batch = task.sample(50, np.random.default_rng(0))     # batch.x (T, B, 2), batch.y (B, 1)
    model = tasks.TaskModel(task, "lstm", hidden_size=64, seed=0)
    loss, grads, info = model.loss_and_grads(batch)       # grads: keys of model.params
    record = tasks.train(task, "lstm", seed=0, config=tasks.TrainConfig(max_steps=2000))

Every task's docstring states its definition, its baseline loss and its success criterion (fewer than
1% of 10,000 fresh sequences wrong, by the task's own rule of what a wrong sequence is).

The ``agreement`` task of the runner (subject-verb agreement scored with the language model) is not a
sequence generator of this package; see ``rnnlab.experiment``.
"""
from __future__ import annotations

from ..errors import ConfigError
from .adding import Adding
from .base import EVAL_SEQUENCES, SUCCESS_FRACTION_WRONG, Batch, Task, one_hot
from .copy_memory import CopyMemory
from .model import MODELS, TaskModel
from .temporal_order import TemporalOrder
from .train import TrainConfig, train

TASKS = {"adding": Adding, "copy": CopyMemory, "temporal-order": TemporalOrder}

__all__ = ["Adding", "CopyMemory", "TemporalOrder", "Task", "Batch", "TASKS", "MODELS", "TaskModel",
           "TrainConfig", "train", "make_task", "one_hot", "EVAL_SEQUENCES", "SUCCESS_FRACTION_WRONG"]


def make_task(name: str, length: int) -> Task:
    """A task by name with its length parameter (sequence length; the copy task's delay T)."""
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name](length)
