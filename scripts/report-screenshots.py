#!/usr/bin/env python3
"""Screenshots of the report page's interactive view in pinned states, for docs/diagnostics.md.

    make demo && python scripts/report-screenshots.py [demo-out/report] [docs/img] [PREFIX] [EXTRA]

Opens report.html in headless Chromium (Debian's package) with the view's state in the URL hash, as a
reader's link would, and saves:

    PREFIX-pinned.png     the first two models (the demo's tanh RNN and LSTM) side by side, token t pinned
    PREFIX-truncated.png  the same view with truncated BPTT(k): the dropped terms greyed
    PREFIX-cell.png       the same t with the LSTM's cell-state gradient ||dL_t/dc_s|| (when a model is an LSTM)

t is the last token of the longest probe segment of the first model; k is a third of its length. PREFIX
defaults to "lab"; EXTRA is added to every hash (e.g. "&step=0": the first training snapshot).
"""
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]


ONLY_THE_VIEW = "body > :not(#lab) { display: none !important; } body { margin-top: 0; } #lab > p { display: none; }"


def main(argv):
    report = Path(argv[1] if len(argv) > 1 else "demo-out/report")
    out = Path(argv[2] if len(argv) > 2 else "docs/img")
    prefix = argv[3] if len(argv) > 3 else "lab"
    extra = argv[4] if len(argv) > 4 else ""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        sys.exit("chromium not found (Debian: apt-get install chromium; see scripts/ensure-chromium.sh)")
    data = json.loads((report / "report.json").read_text())
    labs = [(m["name"], m["lab"]) for m in data["models"] if "lab" in m]
    if not labs:
        sys.exit(f"{report}/report.json has no interactive view (written by an older rnnlab?)")
    name, lab = labs[0]
    f = lab["frames"][-1]
    cuts = f["segments"] + [f["steps"]]
    a, b = max(zip(cuts[:-1], cuts[1:]), key=lambda s: s[1] - s[0])
    t, k = b - 1, max(1, (b - a) // 3)
    base = f"#model={quote(name)}&t={t}{extra}"
    shots = {f"{prefix}-pinned.png": base, f"{prefix}-truncated.png": f"{base}&k={k}"}
    if any(lb["cell"] == "lstm" for _, lb in labs):
        shots[f"{prefix}-cell.png"] = f"{base}&part=c"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # a copy of the page showing the view alone (the summary table and the figures hidden)
        page = Path(tmp) / "report.html"
        page.write_text((report / "report.html").read_text(encoding="utf-8").replace(
            "</head>", f"<style>{ONLY_THE_VIEW}</style></head>", 1), encoding="utf-8")
        for file, frag in shots.items():
            url = page.as_uri() + frag
            subprocess.run([exe, *FLAGS, f"--user-data-dir={tmp}/profile", "--window-size=1200,1250",
                            "--virtual-time-budget=3000", f"--screenshot={out / file}", url],
                           check=True, capture_output=True, timeout=120)
            print(f"{out / file}: {frag}")


if __name__ == "__main__":
    main(sys.argv)
