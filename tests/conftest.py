import os
import sys

# Single-threaded BLAS, set before NumPy loads: on the small matrices of recurrent steps, threaded BLAS
# only adds contention (3-30x slower per step measured on 2 busy cores).
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")

sys.path.insert(0, os.path.dirname(__file__))
