"""Benchmark: peak memory of training on a large corpus (the batches come from the memory-mapped encoding).

    python benchmarks/train_memory.py CORPUS [--stream] [--seconds 20] [--hidden 32] [--vocab-size 8000]

Trains (lines format, class output) in a fresh child process for a time budget and prints the child's
peak resident set (ru_maxrss) and the peaks of its two parts, sampled every 50 ms: resident anonymous
memory (RssAnon: what the process itself holds) and resident file-backed pages (RssFile: pages of the
memory-mapped corpus cache and of the libraries, which the kernel can drop at will). Build a corpus with
benchmarks/data_encode.py --keep.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time


def child(corpus, out, stream, seconds, hidden, vocab_size):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from rnnlab.pipeline import DataConfig, train_language_model
    from rnnlab.training import TrainConfig

    peaks = {"RssAnon": 0, "RssFile": 0}

    def sample():
        while True:
            with open("/proc/self/status") as f:
                kv = dict(line.split(":", 1) for line in f)
            for k in peaks:
                peaks[k] = max(peaks[k], int(kv[k].split()[0]))
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    lines = []
    status = train_language_model(DataConfig(train=corpus, format="lines", vocab_size=vocab_size),
                                  {"hidden_size": hidden, "embedding_size": 32, "output": "class"},
                                  TrainConfig(epochs=1, time_budget=seconds, stream=stream, batch_size=32),
                                  out, log=lines.append, progress=False)
    print(json.dumps({"status": status, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      **{f"peak_{k}_mb": round(v / 1024) for k, v in peaks.items()}, "log": lines}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--out", default=None, help="model directory (default: a temporary one)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    out = a.out or tempfile.mkdtemp(prefix="rnnlab-trainmem-")
    if a.child:
        return child(a.corpus, out, a.stream, a.seconds, a.hidden, a.vocab_size)
    args = [sys.executable, __file__, a.corpus, "--seconds", str(a.seconds), "--hidden", str(a.hidden),
            "--vocab-size", str(a.vocab_size), "--out", out, "--child"] + (["--stream"] if a.stream else [])
    r = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    r["corpus_mb"] = round(os.path.getsize(a.corpus) / 2**20)
    r["mode"] = "stream" if a.stream else "sentences"
    print(json.dumps(r))


if __name__ == "__main__":
    main()
