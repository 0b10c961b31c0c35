"""The commands of docs/guide.md run as written.

How a block is marked runnable: the line right before its opening fence is an HTML comment (invisible on
the rendered page)

    <!-- runnable [requires=NAME[,NAME...]] ["as written" => "for the test" ...] -->
    ```bash            (or ```python)

- Marked blocks run in document order, in one fresh temporary directory, so later blocks use what earlier
  ones made. A ``bash`` block runs with ``bash -e -o pipefail``, a ``python`` block with this Python; any
  non-zero exit fails the test, showing the block and its output.
- ``"A" => "B"`` replaces the text A of the block by B for the test run only (to shrink a one-minute
  training run to two seconds); A must occur in the block, so a replacement cannot silently go stale.
- ``requires=`` names what a block needs beyond the installed package: ``experiment`` (the ``rnnlab
  experiment`` sub-command), ``benchmarks`` and ``examples`` (those folders of the repository, linked into
  the directory; ``examples`` also needs torch with gloo). A block whose requirement is missing is skipped
  with a warning; its replacements are still checked.
- ``rnnlab``, ``python`` and ``torchrun`` resolve to this interpreter (small shims first on PATH), with the
  repository on PYTHONPATH, so the guide runs against this checkout whether or not it is installed.

Unmarked blocks (installation, sample output) are not run.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "guide.md"
MARKER = re.compile(r"^<!--\s*runnable\b(?P<attrs>.*?)-->\s*$")
FENCE_OPEN = re.compile(r"^```(?P<lang>\w+)\s*$")
REPLACEMENT = re.compile(r'"((?:[^"\\]|\\.)*)"\s*=>\s*"((?:[^"\\]|\\.)*)"')
REQUIRES = re.compile(r"\brequires=([\w,-]+)")
KNOWN_REQUIREMENTS = {"experiment", "benchmarks", "examples"}


@dataclass
class Block:
    line: int                      # 1-based line of the opening fence
    lang: str                      # bash | python
    code: str                      # as written
    replacements: list = field(default_factory=list)
    requires: tuple = ()

    def for_test(self) -> str:
        code = self.code
        for old, new in self.replacements:
            code = code.replace(old, new)
        return code


def parse(text: str) -> list[Block]:
    """The marked blocks of a markdown text; ValueError for a marker that is not followed by a runnable
    fence, a replacement whose text is not in its block, or an unknown requirement."""
    lines = text.splitlines()
    blocks = []
    for i, line in enumerate(lines):
        m = MARKER.match(line)
        if not m:
            continue
        attrs = m.group("attrs")
        fence = FENCE_OPEN.match(lines[i + 1]) if i + 1 < len(lines) else None
        if not fence or fence.group("lang") not in ("bash", "python"):
            raise ValueError(f"line {i + 1}: a runnable marker must be followed by a ```bash or ```python fence")
        end = next((j for j in range(i + 2, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            raise ValueError(f"line {i + 2}: the fence is never closed")
        code = "\n".join(lines[i + 2:end]) + "\n"
        unquote = lambda s: s.replace('\\"', '"')
        repl = [(unquote(a), unquote(b)) for a, b in REPLACEMENT.findall(attrs)]
        for old, _ in repl:
            if old not in code:
                raise ValueError(f"line {i + 1}: replacement {old!r} does not occur in its block")
        req = tuple(REQUIRES.search(attrs).group(1).split(",")) if REQUIRES.search(attrs) else ()
        unknown = set(req) - KNOWN_REQUIREMENTS
        if unknown:
            raise ValueError(f"line {i + 1}: unknown requirement {sorted(unknown)}")
        leftover = REQUIRES.sub("", REPLACEMENT.sub("", attrs)).strip()
        if leftover:
            raise ValueError(f"line {i + 1}: cannot read {leftover!r} in the marker")
        blocks.append(Block(i + 2, fence.group("lang"), code, repl, req))
    return blocks


def _have(requirement: str) -> bool:
    if requirement == "experiment":
        from rnnlab.cli import COMMANDS
        return "experiment" in COMMANDS
    if requirement == "benchmarks":
        return (ROOT / "benchmarks" / "__main__.py").exists()
    if requirement == "examples":
        try:
            import torch.distributed as dist
        except ImportError:
            return False
        return (ROOT / "examples").is_dir() and dist.is_available() and dist.is_gloo_available()
    return False


def _environment(workdir: Path) -> dict:
    """Shims for rnnlab, python and torchrun in workdir/.bin; the checkout on PYTHONPATH."""
    bindir = workdir / ".bin"
    bindir.mkdir()
    py = shlex.quote(sys.executable)
    shims = {"rnnlab": f'exec {py} -m rnnlab "$@"', "python": f'exec {py} "$@"',
             "torchrun": f'exec {py} -m torch.distributed.run "$@"'}
    for name, body in shims.items():
        p = bindir / name
        p.write_text(f"#!/bin/sh\n{body}\n")
        p.chmod(0o755)
    for folder in ("benchmarks", "examples"):
        if (ROOT / folder).is_dir():
            (workdir / folder).symlink_to(ROOT / folder, target_is_directory=True)
    env = dict(os.environ)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1")
    return env


def run_blocks(blocks: list[Block], workdir: Path, timeout: float = 180) -> list[Block]:
    """Run ``blocks`` in order in ``workdir``; AssertionError at the first failure. Returns the skipped ones."""
    env = _environment(workdir)
    skipped = []
    for b in blocks:
        missing = [r for r in b.requires if not _have(r)]
        if missing:
            skipped.append(b)
            continue
        code = b.for_test()
        cmd = ["bash", "-e", "-o", "pipefail", "-c", code] if b.lang == "bash" else [sys.executable, "-c", code]
        r = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            out = (r.stdout + r.stderr)[-3000:]
            raise AssertionError(f"block at line {b.line} exited {r.returncode}:\n{textwrap.indent(code, '    ')}\n"
                                 f"--- output (tail) ---\n{out}")
    return skipped


def test_guide_markers_are_well_formed():
    blocks = parse(GUIDE.read_text())
    assert len(blocks) >= 15
    langs = {b.lang for b in blocks}
    assert langs == {"bash", "python"}
    # every rnnlab sub-command the guide teaches is exercised by a runnable block
    commands = {m.group(1) for b in blocks for m in re.finditer(r"^\s*rnnlab (\w+)", b.code, re.M)}
    assert {"train", "evaluate", "generate", "diagnose", "gradcheck", "export", "import", "experiment"} <= commands


def test_parse_rejects_what_it_cannot_run():
    with pytest.raises(ValueError, match="does not occur"):
        parse('<!-- runnable "--epochs 9" => "--epochs 1" -->\n```bash\nrnnlab train --epochs 3\n```\n')
    with pytest.raises(ValueError, match="must be followed"):
        parse("<!-- runnable -->\n```text\nhello\n```\n")
    with pytest.raises(ValueError, match="unknown requirement"):
        parse("<!-- runnable requires=gpu -->\n```bash\ntrue\n```\n")
    b, = parse('intro\n<!-- runnable "a b" => "c" -->\n```bash\necho a b\n```\n\n```bash\nnot run\n```\n')
    assert (b.line, b.for_test()) == (3, "echo c\n")


def test_a_failing_block_fails(tmp_path):
    blocks = parse("<!-- runnable -->\n```bash\necho fine\n```\n<!-- runnable -->\n```bash\nfalse\necho after\n```\n")
    with pytest.raises(AssertionError, match="line 6 exited 1"):
        run_blocks(blocks, tmp_path)


def test_guide_commands_run(tmp_path):
    skipped = run_blocks(parse(GUIDE.read_text()), tmp_path)
    for b in skipped:
        warnings.warn(f"docs/guide.md block at line {b.line} not run: needs {', '.join(b.requires)}", stacklevel=1)
    assert (tmp_path / "runs" / "rnn" / "best.npz").exists()
    assert (tmp_path / "runs" / "rnn" / "report" / "report.html").exists()    # written when training ends
    assert (tmp_path / "runs" / "report" / "report.html").exists()
