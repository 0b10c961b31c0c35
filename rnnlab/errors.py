"""Typed exceptions. Every mistake a user can make surfaces as one of these, with a one-line message
that names the problem and what to do; the CLI prints the message and exits with status 2."""


class RnnlabError(Exception):
    """Base class of every error rnnlab raises on purpose."""


class ConfigError(RnnlabError, ValueError):
    """A hyperparameter or argument that makes no sense (hidden size 0, negative learning rate, ...)."""


class ShapeError(RnnlabError, ValueError):
    """An array of the wrong shape or dtype was passed to a public function."""


class DataError(RnnlabError, ValueError):
    """A corpus or input file that cannot be used: missing, empty, binary, badly formed, too small."""


class CheckpointError(RnnlabError):
    """A model directory or checkpoint that is not a model, is corrupt, or belongs to another config."""


class NumericalError(RnnlabError, FloatingPointError):
    """Training produced non-finite values and could not recover."""


class WorkerError(RnnlabError, RuntimeError):
    """A Hogwild worker process died (a crash, the out-of-memory killer); the last checkpoint stands."""
