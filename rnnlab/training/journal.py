"""What a run tells: ``log.jsonl`` records, the progress bar, and one line per epoch."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path


class Journal:
    """Appends JSON records to ``path``; each carries the global step at which it was written, so that a
    resume can drop what came after its checkpoint (``checkpoint.trim_log``)."""

    def __init__(self, path):
        self.path = Path(path)

    def write(self, record: dict, step: int) -> None:
        """Append ``record`` (with ``"step": step`` unless it has one)."""
        record.setdefault("step", step)
        with open(self.path, "a+b") as f:
            if f.tell() > 0:  # a line cut short by a crash (kill -9) gets its own line, not the next record's
                f.seek(-1, 2)
                if f.read(1) != b"\n":
                    f.write(b"\n")
            f.write((json.dumps(record) + "\n").encode())


def ppl(p):
    """Perplexity for a log line: 123.4, or 1.01e+304 when training has blown up."""
    return f"{p:.1f}" if p < 1e6 else f"{p:.3g}"


def epoch_line(record: dict, summary: str | None) -> str:
    """``epoch 3 | loss 4.812 | ppl 123.0 | valid ppl 130.2 * | grad-norm 2.1 | 41.0k tok/s | lr 0.1``."""
    return (f"epoch {record['epoch']}{'' if record['complete'] else ' (partial)'} | loss {record['train_loss']:.3f} | "
            f"ppl {ppl(record['train_ppl'])} | valid ppl {ppl(record['valid_ppl'])}{' *' if record['best'] else ''} | "
            f"grad-norm {record['grad_norm']:.2f} | {record['tokens_per_s'] / 1000:.1f}k tok/s | lr {record['lr']:g}"
            + (f" | {summary}" if summary else ""))


class Progress:
    """The progress bar of an epoch (nothing when disabled): batches done, running loss, perplexity,
    gradient norm and speed."""

    def __init__(self, enabled, total, initial, desc):
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=initial, desc=desc, unit="batch", leave=False, file=sys.stderr,
                            dynamic_ncols=True, mininterval=0.5)

    def show(self, loss_sum, tokens, norm, seconds, position):
        """Move to batch ``position`` with the epoch's running figures."""
        if self.bar is None:
            return
        rate = tokens / max(seconds, 1e-9)
        avg = loss_sum / max(tokens, 1)
        self.bar.set_postfix_str(f"loss {avg:.3f} | ppl {ppl(math.exp(min(avg, 700)))} | grad-norm {norm:.2f} | "
                                 f"{rate / 1000:.1f}k tok/s", refresh=False)
        self.bar.update(position - self.bar.n)

    def close(self):
        """Take the bar off the terminal."""
        if self.bar is not None:
            self.bar.close()
