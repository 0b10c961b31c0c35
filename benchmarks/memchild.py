"""Child process of ``harness.peak_memory``: prints {"peak_mib": ...} for one call of a step.

Usage: python -m benchmarks.memchild '{"factory": "module:function", "kwargs": {...}, "threads": 2}'
"""
from __future__ import annotations

import ctypes
import importlib
import json
import re
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{key}:\s+(\d+)", f.read(), re.M).group(1))


def main(argv):
    spec = json.loads(argv[0])
    # Fixed thresholds: buffers >= 128 KiB are mmapped and unmapped when freed, so RSS follows them.
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    libc.mallopt(M_TRIM_THRESHOLD, 128 * 1024)
    from .harness import set_threads

    set_threads(spec["threads"], use_torch=False)  # torch is imported only by the steps that use it
    module, name = spec["factory"].split(":")
    step = getattr(importlib.import_module(module), name)(**spec["kwargs"])
    if "torch" in sys.modules:
        set_threads(spec["threads"])
    step()
    step()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM (peak RSS) to the current RSS
    before = _status_kib("VmRSS")
    step()
    peak = _status_kib("VmHWM")
    # memory the step keeps for reuse between calls (rnnlab's layer workspace) is part of what a call needs
    kept = getattr(step, "kept_bytes", lambda: 0)() / 1024
    print(json.dumps({"peak_mib": (max(0, peak - before) + kept) / 1024}))


if __name__ == "__main__":
    main(sys.argv[1:])
