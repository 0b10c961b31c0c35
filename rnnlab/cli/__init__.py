"""The ``rnnlab`` command. Thin: parses arguments, calls the library, turns rnnlab errors into one line.

Each sub-command lives in its own module with ``register(subparsers)``; the handler it sets returns an
exit status. A mistake the user made (an ``RnnlabError``, a missing file) prints one line on stderr and
exits 2; no traceback reaches the user for it.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys

from .._version import __version__
from ..errors import RnnlabError

# modules in rnnlab.cli, in the order `rnnlab --help` lists them
COMMANDS = ["train", "evaluate", "generate", "diagnose", "experiment", "gradcheck", "scale", "estimators"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's usage errors: one line, exit 2
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``rnnlab`` command, with the sub-commands of ``COMMANDS`` registered in order."""
    import importlib

    p = _Parser(prog="rnnlab", description="Recurrent networks with explicit backpropagation through time: "
                "train, evaluate, sample, and see the gradient vanish.")
    p.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f".{name}", __name__).register(sub)
    p.commands = sub.choices  # name -> sub-command parser
    return p


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    """Run ``rnnlab`` with ``argv`` (default ``sys.argv[1:]``).

    Returns:
        the exit status: 0 done, 1 a check failed (``gradcheck``), 2 a usage or input error (one line on
        stderr, no traceback), 130 interrupted.
    """
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if not getattr(args, "func", None):
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        parser.print_help()
        return 2
    if unknown:  # reported by the sub-command, whose --help lists what it takes
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    name = f"rnnlab {args.command}"
    # SIGTERM ends a command like Ctrl-C does (training installs its own handler that saves first)
    try:
        old_term = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    except ValueError:  # not the main thread
        old_term = None
    try:
        return int(args.func(args) or 0)
    except RnnlabError as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of our output went away (`rnnlab generate | head`): stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141
    except FileNotFoundError as e:
        print(f"{name}: error: no such file: {e.filename}", file=sys.stderr)
        return 2
    except PermissionError as e:
        print(f"{name}: error: permission denied: {e.filename}; check its permissions", file=sys.stderr)
        return 2
    except OSError as e:  # disk full, a path that is a file, ...
        where = f": {e.filename}" if e.filename else ""
        print(f"{name}: error: {e.strerror or e}{where}; check the disk and the paths given", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{name}: error: out of memory; use a smaller model, batch or vocabulary", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


if __name__ == "__main__":
    sys.exit(main())
