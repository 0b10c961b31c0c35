"""The API reference builds (tools/build_docs.py, as `make docs` runs it) and its checks catch what they should."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("pdoc", reason="the API reference is built with pdoc (pip install '.[test]')")


def _tool():
    spec = importlib.util.spec_from_file_location("build_docs", ROOT / "tools" / "build_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_docs_build_passes_and_writes_the_reference(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "build_docs.py"), "--out", str(tmp_path / "api")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for page in ("index.html", "rnnlab.html", "rnnlab/lm.html", "rnnlab/layers.html", "rnnlab/diagnostics.html",
                 "rnnlab/data.html", "rnnlab/cli.html"):
        assert (tmp_path / "api" / page).is_file(), page
    assert not (tmp_path / "api" / "rnnlab" / "cli" / "_common.html").exists()    # private modules left out
    # a reference in a docstring became a link to the page of what it names
    assert 'href="../bptt.html"' in (tmp_path / "api" / "rnnlab" / "layers" / "base.html").read_text()


def test_reference_checks_catch_broken_references():
    t = _tool()
    problems = []
    t.check_text("see ``rnnlab.lm.LanguageModel.forward_backward`` and `rnnlab.optim.Adam`", "ok", None,
                 problems, markdown=False)
    t.check_text("fields: `rnnlab.lm.ModelConfig.vocab_size`, `rnnlab.lm.LanguageModel.params`", "ok", None,
                 problems, markdown=False)
    assert problems == []
    t.check_text("``rnnlab.lm.NoSuchModel`` and `rnnlab.nomodule.thing`", "doc", None, problems, markdown=False)
    assert problems == ["doc: `rnnlab.lm.NoSuchModel` does not resolve",
                        "doc: `rnnlab.nomodule.thing` does not resolve"]
    problems.clear()
    md = ("A [link](bptt.md), a [broken one](nowhere.md), `rnnlab/bptt.py`, `rnnlab/missing.py`,\n"
          "`tests/test_layers.py::test_truncation_matches_detach_definition`, `tests/test_layers.py::no_such`\n"
          "```bash\n`rnnlab.not.checked.in.code.blocks`\n```\n")
    t.check_text(md, "page", ROOT / "docs", problems, markdown=True)
    assert problems == ["page: rnnlab/missing.py does not exist", "page: tests/test_layers.py defines no no_such",
                        "page: link to nowhere.md (docs/nowhere.md) does not exist"]


def test_docstring_check_finds_undocumented_public_functions():
    t = _tool()

    class Documented:
        """Has one."""

    def undocumented():
        pass

    def documented():
        """Has one."""

    assert t.own_docstring(Documented) == "Has one."
    assert not t.own_docstring(undocumented)
    assert t.own_docstring(documented) == "Has one."
    from rnnlab.lm import ModelConfig
    assert "architecture" in t.own_docstring(ModelConfig)     # a real docstring, not the dataclass signature


def test_cli_reports_the_version_the_changelog_releases():
    import rnnlab

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    r = subprocess.run([sys.executable, "-m", "rnnlab", "--version"], capture_output=True, text=True, env=env,
                       timeout=60)
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and lines[0] == f"rnnlab {rnnlab.__version__}"
    assert lines[1].startswith("LSTM and GRU steps: ")
    assert f"## [{rnnlab.__version__}] - " in (ROOT / "CHANGELOG.md").read_text()
