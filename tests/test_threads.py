"""rnnlab.threads: the BLAS thread limit of `rnnlab train --threads`."""
import numpy as np  # noqa: F401  (the BLAS must be loaded for threadpoolctl to see it)
import pytest

from rnnlab.cli import main
from rnnlab.threads import blas_threads

threadpoolctl = pytest.importorskip("threadpoolctl")


def blas_counts():
    return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]


def test_blas_threads_limits_inside_the_block_and_restores_after():
    before = blas_counts()
    assert before
    with blas_threads(1):
        assert blas_counts() == [1] * len(before)
    assert blas_counts() == before
    with blas_threads(None):
        assert blas_counts() == before


def test_train_rejects_zero_threads(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:  # refused while parsing, before any data is read
        main(["train", "--out", str(tmp_path / "m"), "--threads", "0", "--epochs", "0"])
    assert e.value.code == 2
    assert "--threads" in capsys.readouterr().err
