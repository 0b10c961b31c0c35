"""rnnlab: recurrent networks with backpropagation through time written out in NumPy.

    import numpy as np, rnnlab
    layer = rnnlab.LSTM(input_size=8, hidden_size=16, dtype=np.float64)
    out, hn, cache = layer.forward(x)                # x: (T, B, 8)
    dx, dh0, grads = layer.backward(cache, dout)     # grads: same keys as layer.params
"""
from ._version import __version__
from .finite_differences import gradcheck
from .layers import GRU, LSTM, RNN, make_layer

__all__ = ["__version__", "RNN", "LSTM", "GRU", "LanguageModel", "make_layer", "gradcheck"]


def __getattr__(name):
    # Lazy imports keep `import rnnlab` light (NumPy only).
    if name in ("LanguageModel",):
        from .lm import LanguageModel
        return LanguageModel
    if name in ("optim", "diagnostics", "interop", "reference", "tasks", "data", "errors", "init", "bptt",
                "sparse", "output", "lm", "train", "checkpoint", "regularizers", "experiment"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'rnnlab' has no attribute {name!r}")
