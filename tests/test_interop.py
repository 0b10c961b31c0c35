import numpy as np
import pytest

import rnnlab
from rnnlab.interop import from_torch, to_torch

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("kind,nl", [("rnn", "tanh"), ("rnn", "relu"), ("lstm", None), ("gru", None)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_round_trip_is_exact_and_outputs_agree(kind, nl, dtype):
    layer = rnnlab.make_layer(kind, 3, 5, nonlinearity=nl or "tanh", num_layers=2, dtype=dtype, seed=4)
    mod = to_torch(layer)
    back = from_torch(mod)
    assert type(back) is type(layer) and back.dtype == layer.dtype
    for k in layer.params:
        np.testing.assert_array_equal(back.params[k], layer.params[k])
    x = np.random.default_rng(0).standard_normal((7, 2, 3)).astype(dtype)
    out, _, _ = layer.forward(x)
    with torch.no_grad():
        tout, _ = mod(torch.from_numpy(x))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, tout.numpy(), rtol=tol, atol=tol)


def test_sigmoid_rnn_has_no_torch_equivalent():
    with pytest.raises(rnnlab.errors.ConfigError):
        to_torch(rnnlab.RNN(2, 3, nonlinearity="sigmoid"))


def test_import_rnnlab_does_not_import_torch():
    import subprocess
    import sys
    code = "import sys, rnnlab; rnnlab.RNN(2, 3); assert 'torch' not in sys.modules and 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
