"""rnnlab's benchmarks: ``python -m benchmarks`` (``make bench``) prints one table in which every
comparison is timed side by side in one process, float32, on the same thread count for NumPy's BLAS
and torch, warmed up, medians of repeated runs, with achieved GFLOP/s against the measured matrix-product
rate and peak memory. torch and threadpoolctl are benchmark-only dependencies (the ``test`` extra)."""
