"""The output layers' shared pieces: the one log-softmax, the registry, the class layer's names."""
import numpy as np
import pytest

import rnnlab
from rnnlab import output
from rnnlab.errors import ConfigError
from rnnlab.tasks import readout

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 7), (3, 2, 4), (1, 1)])
def test_log_softmax_matches_torch_in_place_or_not(dtype, shape):
    rng = np.random.default_rng(sum(shape))
    z = (rng.standard_normal(shape) * 30).astype(dtype)
    z[..., 0] += 1e4 if dtype == np.float64 else 80.0  # exp() of the raw logits would overflow
    want = torch.log_softmax(torch.from_numpy(z), dim=-1).numpy()
    copy = output.log_softmax(z)
    assert copy.dtype == dtype and copy is not z
    np.testing.assert_allclose(copy, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)
    buf = z.copy()
    assert output.log_softmax(buf, out=buf) is buf
    np.testing.assert_array_equal(buf, copy)


def test_one_log_softmax_for_the_tasks_cross_entropy():
    """The tasks' cross-entropy uses the output layers' log-softmax (rnnlab 0.2 had a second copy)."""
    assert readout.log_softmax is output.log_softmax
    rng = np.random.default_rng(0)
    o, y = rng.standard_normal((6, 3)), rng.integers(0, 3, 6)
    loss, do = readout.xent_loss(o, y)
    t = torch.tensor(o, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(t, torch.from_numpy(y))
    tl.backward()
    assert loss == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(do, t.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_outputs_registry_and_class_names():
    assert set(output.OUTPUTS) == {"softmax", "class"}
    assert isinstance(output.make_output("softmax", 5, 3), output.OUTPUTS["softmax"])
    cls = output.make_output("class", 5, 3, class_of_word=[0, 0, 1, 1, 2])
    assert isinstance(cls, output.OUTPUTS["class"])
    assert cls.num_classes == cls.n_classes == 3  # n_classes: rnnlab 0.2's name, kept as an alias
    assert cls.param_shapes()["class_decoder.weight"] == (3, 3)
    with pytest.raises(ConfigError, match="softmax, class"):
        output.make_output("hierarchical", 5, 3)
    assert rnnlab.output is output
