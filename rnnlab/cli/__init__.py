"""The ``rnnlab`` command. Thin: parses arguments, calls the library, turns rnnlab errors into one line.

Each sub-command lives in its own module with ``register(subparsers)``; the handler it sets returns an
exit status. A mistake the user made (an ``RnnlabError``, a missing file) prints one line on stderr and
exits 2; no traceback reaches the user for it.
"""
from __future__ import annotations

import argparse
import sys

from .._version import __version__
from ..errors import RnnlabError

# modules in rnnlab.cli, in the order `rnnlab --help` lists them
COMMANDS = ["train", "evaluate", "generate", "diagnose", "experiment", "gradcheck", "scale"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's usage errors: one line, exit 2
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    p = _Parser(prog="rnnlab", description="Recurrent networks with explicit backpropagation through time: "
                "train, evaluate, sample, and see the gradient vanish.")
    p.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f".{name}", __name__).register(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except RnnlabError as e:
        print(f"rnnlab {args.command}: error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"rnnlab {args.command}: error: no such file: {e.filename}", file=sys.stderr)
        return 2
    except PermissionError as e:
        print(f"rnnlab {args.command}: error: permission denied: {e.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rnnlab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
