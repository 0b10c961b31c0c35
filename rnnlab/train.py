"""The training loop's old home: ``rnnlab.training`` holds it now (step, loop, recovery, journal)."""
from .training import DEFAULT_LR, TrainConfig, Trainer, evaluate

__all__ = ["DEFAULT_LR", "TrainConfig", "Trainer", "evaluate"]
