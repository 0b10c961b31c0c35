"""Continue training an exported rnnlab model with PyTorch DistributedDataParallel, then hand it back.

    rnnlab export --model runs/lm --torch lm.pt
    torchrun --nproc_per_node 2 examples/distributed_train.py --torch lm.pt --train corpus.txt --out lm2.pt
    rnnlab import --torch lm2.pt --out runs/lm2
    rnnlab evaluate --model runs/lm2 --test test.txt

Every rank reads the corpus with the model's own vocabulary and read options (rnnlab.data), cuts it into
the same sentence batches (x, y) of shape (T, B) (y = -1 on padding), and trains on every world_size-th
batch starting at its rank: its shard of the sentences. Each step uses

    loss_rank = world_size * (sum of -log p over the rank's targets) / (targets over all ranks)

so that DDP's gradient average is exactly the gradient of the mean cross-entropy over all ranks'
targets, however unevenly the padding falls. Rank 0 writes the result in the format of
``rnnlab export`` (rnnlab.torch_io.save_pt) with a record of the run appended to its history.

On a CPU-only machine torchrun starts processes with the gloo backend; pass ``--master_addr 127.0.0.1``
(loopback); with GPUs each rank takes cuda:LOCAL_RANK and nccl. Run without torchrun, it trains as a
world of one.
"""
from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from rnnlab.data import Vocab, encode_file, sentence_batches
from rnnlab.errors import ConfigError, RnnlabError
from rnnlab.pipeline import DataConfig
from rnnlab.torch_io import load_pt, save_pt


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = p.add_argument_group("files")
    g.add_argument("--torch", required=True, metavar="IN.pt", help="model written by 'rnnlab export'")
    g.add_argument("--train", required=True, metavar="FILE", help="training corpus (the model's format)")
    g.add_argument("--valid", metavar="FILE", help="held-out corpus: perplexity before and after")
    g.add_argument("--out", required=True, metavar="OUT.pt", help="where rank 0 writes the trained model")
    g.add_argument("--format", choices=["text", "lines", "csv", "jsonl"], help="corpus format (default: the "
                   "model's own)")
    g.add_argument("--column", help="csv: the text column")
    g.add_argument("--field", help="jsonl: the text field")
    g = p.add_argument_group("optimisation")
    g.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    g.add_argument("--lr", type=float, default=None, help="learning rate (default: adam 0.002, sgd 0.5)")
    g.add_argument("--batch-size", type=int, default=32, help="sentences per batch on each rank")
    g.add_argument("--epochs", type=int, default=1)
    g.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    g.add_argument("--clip", type=float, default=5.0, help="clip the global gradient norm (0: off)")
    g.add_argument("--seed", type=int, default=0, help="batch order of epoch e is a function of (seed, e)")
    g = p.add_argument_group("system")
    g.add_argument("--backend", choices=["auto", "gloo", "nccl"], default="auto",
                   help="auto: nccl with GPUs, else gloo")
    g.add_argument("--log-every", type=int, default=10)
    return p.parse_args(argv)


def setup(backend):
    """(rank, world_size, device); starts the process group (a world of one without torchrun)."""
    cuda = torch.cuda.is_available() and backend != "gloo"
    backend = ("nccl" if cuda else "gloo") if backend == "auto" else backend
    if os.environ.get("MASTER_ADDR") in ("127.0.0.1", "localhost"):
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback: don't let gloo pick the host's address
    if "RANK" in os.environ:
        dist.init_process_group(backend)
    else:
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local}" if backend == "nccl" else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return dist.get_rank(), dist.get_world_size(), device, backend


def my_batches(corpus, batch_size, seed, epoch, rank, world):
    """This rank's share of the epoch's batches; every rank gets the same number (DDP steps in lockstep)."""
    batches = list(sentence_batches(corpus, batch_size, rng=(seed, epoch)))
    n = len(batches) // world
    if n == 0:
        raise ConfigError(f"{len(batches)} batches cannot be shared by {world} ranks; lower --batch-size")
    return batches[rank: n * world: world]


def all_sum(values, device):
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


@torch.no_grad()
def rank_disagreement(module, device):
    """Largest |difference| between any rank's parameters and rank 0's: 0.0 when DDP kept them in sync."""
    flat = torch.cat([p.detach().reshape(-1) for p in module.parameters()])
    ref = flat.clone()
    dist.broadcast(ref, 0)
    d = (flat - ref).abs().max().to(torch.float64).reshape(1)
    dist.all_reduce(d, op=dist.ReduceOp.MAX)
    return float(d)


@torch.no_grad()
def perplexity(module, corpus, rank, world, device):
    """exp(mean cross-entropy) over the whole corpus, each rank scoring every world-th batch."""
    module.eval()
    total = n = 0.0
    batches = list(sentence_batches(corpus, 64, rng=0, shuffle=False))
    for x, y in batches[rank::world]:
        y = torch.from_numpy(y).to(device)
        total += float(module.loss(torch.from_numpy(x).to(device), y, reduction="sum"))
        n += int((y >= 0).sum())
    total, n = all_sum([total, n], device)
    module.train()
    return math.exp(total / n)


def main(argv=None):
    args = parse_args(argv)
    rank, world, device, backend = setup(args.backend)
    try:
        run(args, rank, world, device, backend)
        gc.collect()  # the DDP wrapper (and its reducer, which holds the process group) must go first
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


def run(args, rank, world, device, backend):
    """Load, train, measure, and (rank 0) save."""
    log = print if rank == 0 else (lambda *a, **k: None)
    module, meta = load_pt(args.torch)
    vocab = Vocab.from_json(meta["vocab"])
    opts = DataConfig.from_dict(meta.get("data") or {}).read_options()
    opts.update({k: v for k, v in (("format", args.format), ("column", args.column), ("field", args.field))
                 if v is not None})
    corpus = encode_file(args.train, vocab, **opts)
    valid = encode_file(args.valid, vocab, **opts) if args.valid else None
    module.to(device)
    model = DDP(module, device_ids=[device.index] if device.type == "cuda" else None)
    lr = args.lr or {"adam": 0.002, "sgd": 0.5}[args.optimizer]
    opt = (torch.optim.Adam if args.optimizer == "adam" else torch.optim.SGD)(model.parameters(), lr=lr)
    log(f"{world} ranks ({backend}, {device.type}), {corpus.n_sentences} sentences, batch {args.batch_size} "
        f"per rank, {args.optimizer} lr {lr:g}")
    before = perplexity(module, valid, rank, world, device) if valid else None
    if before is not None:
        log(f"valid perplexity before: {before:.2f}")

    step, tokens, t0 = 0, 0, time.perf_counter()
    for epoch in range(args.epochs):
        for x, y in my_batches(corpus, args.batch_size, args.seed, epoch, rank, world):
            x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
            logp, _ = model(x)  # through the DDP wrapper, so its gradient hooks fire
            if module.config["output"] != "class":
                logp = torch.log_softmax(logp, dim=-1)
            loss_sum = torch.nn.functional.nll_loss(logp.reshape(-1, logp.shape[-1]), y.reshape(-1),
                                                    ignore_index=-1, reduction="sum")
            total, n = all_sum([float(loss_sum.detach()), int((y >= 0).sum())], device)
            opt.zero_grad(set_to_none=True)
            (loss_sum * (world / n)).backward()  # DDP averages over ranks: the global mean's gradient
            if args.clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            step, tokens = step + 1, tokens + int(n)
            if step % args.log_every == 0:
                log(f"epoch {epoch + 1} | step {step} | loss {total / n:.4f} | ppl {math.exp(total / n):.1f} | "
                    f"{tokens / (time.perf_counter() - t0):,.0f} tok/s")
            if args.max_steps and step >= args.max_steps:
                break
        if args.max_steps and step >= args.max_steps:
            break

    disagreement = rank_disagreement(module, device)
    log(f"ranks' parameters differ by at most {disagreement:g}")
    after = perplexity(module, valid, rank, world, device) if valid else None
    if after is not None:
        log(f"valid perplexity after: {after:.2f} (before {before:.2f})")
    if rank == 0:
        meta["history"].append({"tool": "examples/distributed_train.py", "world_size": world, "backend": backend,
                                "device": device.type, "optimizer": args.optimizer, "lr": lr,
                                "batch_size": args.batch_size, "steps": step, "tokens": tokens,
                                "rank_disagreement": disagreement,
                                "train": os.path.abspath(args.train), "valid_perplexity_before": before,
                                "valid_perplexity_after": after, "seconds": round(time.perf_counter() - t0, 2)})
        save_pt(args.out, module.to("cpu"), meta)
        log(f"wrote {args.out}: {step} steps, {tokens} tokens on {world} ranks")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RnnlabError as e:  # bad input: one line, as the rnnlab command does
        print(f"distributed_train: error: {e}", file=sys.stderr)
        sys.exit(2)
