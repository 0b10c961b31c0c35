#!/usr/bin/env python3
"""The race to a good language model: rnnlab's presets against faster-rnnlm, one after the other on one
machine, each timed from its start to every validation perplexity it reports and to its end; then each
model's test perplexity (both tools count every word and </s>). Standard library only.

    python3 scripts/race.py CORPUS_DIR --frnn /tmp/frnn/faster-rnnlm/rnnlm [--nce] [--preset fast best]
        [--rnnlab "NAME=FLAGS" ...] [--json out.json]

CORPUS_DIR holds train.txt valid.txt test.txt, one sentence per line (../shared/corpora/fortunes.sh). Prints a
summary table (test PPL, wall time) and the time-to-perplexity table (validation PPL after each epoch
against wall time since the start), both as Markdown for docs/PERFORMANCE.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

FRNN_BASE = "-hidden 100 -hidden-type tanh -threads 2 -bptt 4 -bptt-skip 10 -alpha 0.1"
FRNN_SYSTEMS = {
    "faster-rnnlm HS": "",
    "faster-rnnlm HS + direct 100M order 4": "-direct 100 -direct-order 4",
}
FRNN_NCE = {"faster-rnnlm NCE 20 + direct 100M order 4": "-nce 20 -direct 100 -direct-order 4"}
RNNLAB_VALID = re.compile(r"^epoch (\d+).*?valid ppl ([0-9.e+]+)")
FRNN_VALID = re.compile(r"entropy \(bits\) valid:\s+([0-9.]+)")


def timed(cmd, pattern, to_ppl, cwd, env=None):
    """Run ``cmd``; return (wall seconds, [(seconds since start, validation PPL)], output) where each
    validation line is timed when it is printed (both tools print one per epoch)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    points, buf, out = [], b"", []
    while True:
        chunk = p.stdout.read1(4096) if hasattr(p.stdout, "read1") else p.stdout.read(4096)
        if not chunk:
            break
        buf += chunk
        *lines, buf = re.split(rb"[\r\n]", buf)
        for raw in lines:
            line = raw.decode(errors="replace")
            out.append(line)
            m = pattern.search(line)
            if m:
                points.append((time.perf_counter() - t0, to_ppl(m)))
    status = p.wait()
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"{cmd[0]} failed with status {status}:\n" + "\n".join(out[-20:]))
    return wall, points, out


def frnn_run(binary, flags, corpus, work, name):
    model = os.path.join(work, re.sub(r"\W+", "_", name))
    cmd = [binary, "-rnnlm", model, "-train", "train.txt", "-valid", "valid.txt", *FRNN_BASE.split(), *flags.split()]
    wall, points, _ = timed(cmd, FRNN_VALID, lambda m: 2 ** float(m.group(1)), corpus)
    test = [binary, "-rnnlm", model, "-test", "test.txt"] + (["-nce-accurate-test", "1"] if "-nce" in flags else [])
    r = subprocess.run(test, cwd=corpus, capture_output=True, text=True)
    bits = float(re.search(r"Test entropy\s+([0-9.]+)", r.stdout + r.stderr).group(1))
    return {"system": name, "command": " ".join(cmd[3:]), "wall_s": wall, "valid": points, "test_ppl": 2 ** bits}


def rnnlab_run(flags, corpus, work, name):
    out = os.path.join(work, re.sub(r"\W+", "_", name))
    cmd = ["rnnlab", "train", "--train", "train.txt", "--valid", "valid.txt", "--format", "lines", "--out", out,
           "--quiet", "--no-report", *shlex.split(flags)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    wall, points, _ = timed(cmd, RNNLAB_VALID, lambda m: float(m.group(2)), corpus, env)
    r = subprocess.run(["rnnlab", "evaluate", "--model", out, "--test", "test.txt", "--json"], cwd=corpus,
                       capture_output=True, text=True, check=True)
    return {"system": name, "command": "rnnlab train " + flags, "wall_s": wall, "valid": points,
            "test_ppl": json.loads(r.stdout)["perplexity"]}


def tables(results):
    """(summary, time-to-perplexity) Markdown tables."""
    s = ["| system | test PPL | wall time |", "| --- | ---: | ---: |"]
    s += [f"| {r['system']} (`{r['command']}`) | {r['test_ppl']:.1f} | {r['wall_s']:.1f} s |" for r in results]
    n = max(len(r["valid"]) for r in results)
    t = ["| epoch | " + " | ".join(r["system"] for r in results) + " |", "| ---: |" + " ---: |" * len(results)]
    for e in range(n):
        cells = [f"{r['valid'][e][1]:.1f} @ {r['valid'][e][0]:.1f} s" if e < len(r["valid"]) else ""
                 for r in results]
        t.append(f"| {e + 1} | " + " | ".join(cells) + " |")
    return "\n".join(s), "\n".join(t)


def figure(results, path):
    """Validation perplexity against wall time, one line per system (needs matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in results:
        if r["valid"]:
            t, p = zip(*r["valid"])
            ax.plot(t, p, marker="o", label=f"{r['system']} (test {r['test_ppl']:.1f})")
    ax.set_xlabel("wall time since the start (s)")
    ax.set_ylabel("validation perplexity")
    ax.set_ylim(top=min(200, ax.get_ylim()[1]))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", help="directory with train.txt, valid.txt, test.txt")
    ap.add_argument("--frnn", help="faster-rnnlm's rnnlm binary (built outside the project; ../shared/PEERS.md)")
    ap.add_argument("--nce", action="store_true", help="also faster-rnnlm with NCE + direct (slow: ~2 minutes)")
    ap.add_argument("--no-hs", action="store_true", help="skip faster-rnnlm without direct connections")
    ap.add_argument("--preset", nargs="*", default=["fast", "best"], help="rnnlab presets to run (default fast best)")
    ap.add_argument("--rnnlab", action="append", default=[], metavar="NAME=FLAGS",
                    help="another rnnlab run, e.g. 'gru=--preset fast --cell gru'")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--figure", metavar="PNG", help="plot validation perplexity against wall time (matplotlib)")
    args = ap.parse_args(argv)
    corpus = os.path.abspath(args.corpus)
    with open("/proc/loadavg") as f:
        print(f"load before: {' '.join(f.read().split()[:3])}", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as work:
        if args.frnn:
            systems = dict(FRNN_SYSTEMS, **(FRNN_NCE if args.nce else {}))
            if args.no_hs:
                del systems["faster-rnnlm HS"]
            for name, flags in systems.items():
                results.append(frnn_run(args.frnn, flags, corpus, work, name))
                print(f"{name}: test PPL {results[-1]['test_ppl']:.1f} in {results[-1]['wall_s']:.1f} s", flush=True)
        runs = [(f"rnnlab --preset {p}", f"--preset {p}") for p in args.preset]
        runs += [tuple(spec.split("=", 1)) for spec in args.rnnlab]
        for name, flags in runs:
            results.append(rnnlab_run(flags, corpus, work, name))
            print(f"{name}: test PPL {results[-1]['test_ppl']:.1f} in {results[-1]['wall_s']:.1f} s", flush=True)
    with open("/proc/loadavg") as f:
        print(f"load after: {' '.join(f.read().split()[:3])}")
    summary, curve = tables(results)
    print("\n" + summary + "\n\nValidation perplexity after each epoch @ wall time since the start:\n\n" + curve)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if args.figure:
        figure(results, args.figure)
    return 0 if all(math.isfinite(r["test_ppl"]) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
