"""Benchmark: encode a generated corpus of a few hundred MB and report time and peak memory.

    python benchmarks/data_encode.py --size-mb 300 --format lines [--dir /tmp/rnnlab-bench] [--keep]

Writes a Zipf-distributed corpus (100k word types, 5-40 words a line), then runs, in a fresh child
process so its peak resident set is its own: count_tokens (the tokenising pass, cached), Vocab
(8000 words), encode_file (the vocabulary mapping) and one pass over sentence batches of the
memory-mapped result. Prints wall times, tokens/s and the child's peak RSS (ru_maxrss).
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np


def make_corpus(path: str, size_mb: int, fmt: str, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = np.array(["".join(rng.choice(letters, rng.integers(2, 10))) for _ in range(100_000)])
    target = size_mb * 2**20
    with open(path, "w", encoding="utf-8") as f:
        written = 0
        while written < target:
            ids = np.minimum(rng.zipf(1.2, 200_000), len(words)) - 1
            cuts = np.cumsum(rng.integers(5, 41, 20_000))
            cuts = cuts[cuts < len(ids)]
            lines = [" ".join(s) for s in np.split(words[ids], cuts)]
            if fmt == "text":                     # prose: capitalised sentences, paragraphs
                lines = [ln.capitalize() + "." for ln in lines]
            block = "\n".join(lines) + "\n"
            f.write(block)
            written += len(block)


def child(path: str, fmt: str, cache: str) -> None:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from rnnlab.data import Vocab, count_tokens, encode_file, sentence_batches
    def peak_mb():
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    def rss_now():      # resident anonymous memory and resident file-backed pages (memory maps)
        with open("/proc/self/status") as f:
            kv = dict(line.split(":", 1) for line in f)
        return {k: round(int(kv[k].split()[0]) / 1024, 1) for k in ("RssAnon", "RssFile")}

    r = {"start_peak_rss_mb": peak_mb()}
    t0 = time.perf_counter()
    counts = count_tokens(path, cache_dir=cache, format=fmt)
    t1 = time.perf_counter()
    r["count_peak_rss_mb"] = peak_mb()
    vocab = Vocab.from_counts(counts, 8000)
    corpus = encode_file(path, vocab, cache_dir=cache, format=fmt)
    t2 = time.perf_counter()
    r["encode_peak_rss_mb"] = peak_mb()
    n_batches = sum(1 for _ in sentence_batches(corpus, 64, rng=0))
    t3 = time.perf_counter()
    r["batches_peak_rss_mb"] = peak_mb()
    r["after_batches_rss_mb"] = rss_now()
    r.update({"tokens": corpus.n_tokens, "sentences": corpus.n_sentences, "types": len(counts),
              "tokenise_s": round(t1 - t0, 2), "map_s": round(t2 - t1, 2), "batches_s": round(t3 - t2, 2),
              "batches": n_batches, "tokens_per_s": round(corpus.n_tokens / (t1 - t0))})
    print(json.dumps(r))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=300)
    ap.add_argument("--format", choices=["lines", "text"], default="lines")
    ap.add_argument("--dir", default=None, help="work directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the corpus and cache")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(*a.child)
    work = a.dir or tempfile.mkdtemp(prefix="rnnlab-bench-")
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, f"corpus-{a.size_mb}mb.{a.format}.txt")
    if not os.path.exists(path):
        t = time.perf_counter()
        make_corpus(path, a.size_mb, a.format)
        print(f"generated {os.path.getsize(path) / 2**20:.0f} MB in {time.perf_counter() - t:.0f} s")
    cache = os.path.join(work, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    out = subprocess.run([sys.executable, __file__, "--child", path, a.format, cache],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    r["file_mb"] = round(os.path.getsize(path) / 2**20)
    r["cache_mb"] = round(sum(os.path.getsize(os.path.join(cache, f)) for f in os.listdir(cache)) / 2**20)
    print(json.dumps(r))
    if not a.keep and not a.dir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
