"""Benchmark cases: each is a function ``run(ctx) -> list[Row]`` that times its implementations side by
side with ``harness.compare``. ``CASES`` runs in order; matmul comes first because the others report
their GFLOP/s as a share of its rate. To add a case, write such a function and list it here."""
from . import estimators, layers, lm, matmul, score, train

CASES = {
    "matmul": matmul.run,
    "layers": layers.run_layers,
    "layer-parts": layers.run_parts,
    "truncate": layers.run_truncate,
    "lm": lm.run,
    "lm-reference": lm.run_reference,
    "lm-class": lm.run_class,
    "train": train.run,
    "score": score.run,
    "estimators": estimators.run,
}
