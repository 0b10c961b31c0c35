"""docs/scoring.md's worked example: its commands run as written, and every number it shows is what they
print. Blocks after ``<!-- scoring-example -->`` run in order (bash -e) in one temporary directory; the
block after ``<!-- scoring-example-output FILE -->`` is FILE's expected content (numbers to 1e-5)."""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "scoring.md"
MARK = re.compile(r"^<!--\s*scoring-example(?:-output\s+(\S+))?\s*-->$")


def blocks():
    """[(output file or None, block text)] in document order."""
    lines, out, i = DOC.read_text().splitlines(), [], 0
    while i < len(lines):
        m = MARK.match(lines[i].strip())
        if m:
            assert lines[i + 1].startswith("```"), f"docs/scoring.md:{i + 2}: a fence must follow the marker"
            end = lines.index("```", i + 2)
            out.append((m.group(1), "\n".join(lines[i + 2:end]) + "\n"))
            i = end
        i += 1
    return out


def same(got: str, want: str):
    g, w = got.split(), want.split()
    assert len(g) == len(w), (got, want)
    for a, b in zip(g, w):
        try:
            assert abs(float(a) - float(b)) <= 1e-5, (a, b)
        except ValueError:
            assert a == b, (a, b)


def test_worked_example_runs_and_its_numbers_hold(tmp_path):
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "rnnlab").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m rnnlab "$@"\n')
    (shims / "rnnlab").chmod(0o755)
    env = dict(os.environ, PATH=f"{shims}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    work = tmp_path / "work"
    work.mkdir()
    found = blocks()
    assert sum(f is None for f, _ in found) >= 2 and sum(f is not None for f, _ in found) >= 3
    for target, text in found:
        if target is None:
            r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", text], cwd=work, env=env,
                               capture_output=True, text=True)
            assert r.returncode == 0, f"{text}\n{r.stdout}\n{r.stderr}"
        else:
            same((work / target).read_text(), text)
