"""Build the API reference with pdoc and check every reference in the documentation; exit 1 on any problem.

    python tools/build_docs.py [--out build/api]

1. pdoc renders every public module of rnnlab (Google-style docstrings) into ``--out``. A warning from pdoc
   (a module that fails to import, a name in ``__all__`` that does not resolve) is an error.
2. Every public module, class, function and method must have a docstring.
3. References are checked wherever they are written: the docstrings, README.md, CHANGELOG.md, docs/*.md and
   the markdown cells of examples/*.ipynb.
   - a code span holding a dotted name ``rnnlab.x.y`` must import / resolve (module, attribute, dataclass
     field, or an attribute the class sets on ``self``);
   - a code span that is a repository path (``rnnlab/bptt.py``, ``tests/test_layers.py::test_name``) must name
     an existing file (and a function defined in it);
   - a relative markdown link ``[text](path)`` must name an existing file.

pdoc itself has no strict mode (an unresolved name simply stays plain code), hence the checks here.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import json
import pkgutil
import re
import shutil
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Documents and modules that other branches of the project are writing. A reference to one of them is not an
# error while it is missing; once it exists it is checked like any other. Empty this once they are merged.
PENDING: set[str] = set()

CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
DOTTED = re.compile(r"(?<![\w.])rnnlab(?:\.[A-Za-z_]\w*)+(?![\w*])")   # `rnnlab.x.diagnose_*`: the prefix
REPO_PATH = re.compile(r"^((?:rnnlab|tests|examples|benchmarks|docs|tools)/[\w./-]+\.(?:py|md|ipynb))(?:::(\w+))?$")
MD_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def public_modules() -> list[str]:
    """Every importable rnnlab module whose dotted name has no part starting with an underscore."""
    import rnnlab

    names = ["rnnlab"]
    for m in pkgutil.walk_packages(rnnlab.__path__, "rnnlab."):
        if not any(part.startswith("_") for part in m.name.split(".")):
            names.append(m.name)
    return sorted(names)


def pdoc_specs(names: list[str]) -> list[str]:
    """pdoc's module specifications for ``names``: a package without ``__all__`` brings its submodules along,
    so those are not named again; private modules (a part starting with ``_``) are left out."""
    import pdoc.extract

    specs: list[str] = []
    covered: set[str] = set()
    for n in names:
        if n not in covered:
            specs.append(n)
            covered.update(pdoc.extract.walk_specs([n]))
    return specs + [r"!(.*\.)?_"]


def resolve(name: str) -> bool:
    """True if ``name`` (``rnnlab.a.b.c``) is a module or an attribute reachable from one."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for j, attr in enumerate(parts[i:]):
            last = j == len(parts) - i - 1
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                return last and inspect.isclass(obj) and _declares(obj, attr)
        return True
    return False


def _declares(cls, attr: str) -> bool:
    """A dataclass field without default, an annotation, or ``self.attr = ...`` in the class's source."""
    for c in cls.__mro__:
        if attr in getattr(c, "__dataclass_fields__", {}) or attr in getattr(c, "__annotations__", {}):
            return True
        try:
            if re.search(rf"\bself\.{attr}\b\s*(?::[^=]*)?=", inspect.getsource(c)):
                return True
        except (OSError, TypeError):
            pass
    return False


def code_spans(text: str) -> list[str]:
    return [m.group(2).strip() for m in CODE_SPAN.finditer(text)]


def check_text(text: str, where: str, base: Path | None, problems: list[str], markdown: bool) -> None:
    """Append to ``problems`` every broken reference in ``text`` (``base``: folder for relative links)."""
    prose = FENCE.sub("", text) if markdown else text
    for span in code_spans(prose):
        for name in DOTTED.findall(span):
            if not resolve(name) and not _pending(name):
                problems.append(f"{where}: `{name}` does not resolve")
        m = REPO_PATH.match(span)
        if m:
            path, func = m.group(1), m.group(2)
            if not (ROOT / path).is_file():
                if path not in PENDING:
                    problems.append(f"{where}: {path} does not exist")
            elif func and not re.search(rf"^\s*(?:async\s+)?def {func}\b|^class {func}\b",
                                        (ROOT / path).read_text(), re.M):
                problems.append(f"{where}: {path} defines no {func}")
    if markdown and base is not None:
        for target in MD_LINK.findall(prose):
            if re.match(r"^[a-z]+:|^#|^mailto:", target):
                continue
            path = (base / target.split("#")[0]).resolve()
            rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
            if not path.exists() and rel not in PENDING:
                problems.append(f"{where}: link to {target} ({rel}) does not exist")


def _pending(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in PENDING)


def check_documents(problems: list[str]) -> int:
    """Check README, CHANGELOG, docs/*.md and the notebooks' markdown; returns the number of files read."""
    files = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
    n = 0
    for f in files:
        if f.exists():
            check_text(f.read_text(), f.relative_to(ROOT).as_posix(), f.parent, problems, markdown=True)
            n += 1
    for nb in sorted((ROOT / "examples").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        for i, cell in enumerate(cells):
            if cell["cell_type"] == "markdown":
                check_text("".join(cell["source"]), f"{nb.relative_to(ROOT).as_posix()} cell {i}", nb.parent,
                           problems, markdown=True)
        n += 1
    return n


def walk(doc):
    """Yield a pdoc Module, Class or Function and, recursively, its public members (not variables)."""
    import pdoc.doc

    yield doc
    for m in getattr(doc, "own_members", []):
        if isinstance(m, (pdoc.doc.Class, pdoc.doc.Function)) and not m.name.startswith("_"):
            yield from walk(m)


def own_docstring(obj) -> str | None:
    """A module's or class's own docstring (not inherited, not the signature a dataclass makes up), or a
    function's (inherited from the method it overrides)."""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
        if doc and "__dataclass_fields__" in obj.__dict__ and doc.startswith(f"{obj.__name__}("):
            return None
        return doc
    return obj.__doc__ if inspect.ismodule(obj) else inspect.getdoc(obj)


def check_docstrings(modules, problems: list[str]) -> int:
    """Docstrings must exist on every public module, class, function and method defined in rnnlab, and their
    references resolve. Returns the number of objects checked."""
    import pdoc.doc

    n = 0
    for mod in modules:
        for d in walk(mod):
            if not isinstance(d, pdoc.doc.Module) and d.taken_from[0] != mod.modulename:
                continue  # re-exported or inherited: checked where it is defined
            n += 1
            own = own_docstring(d.obj)
            if not (own or "").strip():
                problems.append(f"{d.fullname}: no docstring")
                continue
            check_text(own, d.fullname, None, problems, markdown=False)
    return n


def build(out: Path) -> list[str]:
    """Render the reference into ``out``; return the list of problems (empty: all good)."""
    if str(ROOT) not in sys.path:     # this checkout's rnnlab, whether or not it is installed
        sys.path.insert(0, str(ROOT))
    import pdoc
    import pdoc.doc
    import pdoc.render

    import rnnlab

    if (out / "search.js").exists():    # a previous build: start clean so no stale page survives
        shutil.rmtree(out)
    for name in rnnlab.__all__:       # lazily imported names: pdoc reads the module's __dict__
        setattr(rnnlab, name, getattr(rnnlab, name))
    names = public_modules()
    problems: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.render.configure(docformat="google", show_source=True, search=True,
                              footer_text=f"rnnlab {rnnlab.__version__}")
        modules = [pdoc.doc.Module(importlib.import_module(n)) for n in names]
        n_docs = check_docstrings(modules, problems)
        pdoc.pdoc(*pdoc_specs(names), output_directory=out)
    for w in caught:
        if "pdoc" in (w.filename or "") or issubclass(w.category, UserWarning):
            problems.append(f"pdoc: {str(w.message).splitlines()[0]}")
    n_files = check_documents(problems)
    print(f"api reference: {len(names)} modules, {n_docs} documented objects -> {out / 'index.html'}; "
          f"{n_files} documents checked")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "api", help="output folder (default build/api)")
    args = ap.parse_args(argv)
    problems = build(args.out)
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} documentation problems", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
