"""The ``rnnlab`` command. Thin: parses arguments, calls the library, turns rnnlab errors into one line.

Each sub-command lives in its own module with ``register(subparsers)``; the handler it sets returns an
exit status. A mistake the user can act on (an ``RnnlabError``, a missing file, a permission, a full disk,
out of memory) prints one line on stderr and exits 2; no traceback reaches the user for it. Anything else
is a bug in rnnlab: its traceback is written to a file (in the command's --out or --model directory when
there is one, else a temporary file), one line says where, and the exit status is 70.
"""
from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from .._version import __version__
from ..errors import RnnlabError

# modules in rnnlab.cli, in the order `rnnlab --help` lists them
COMMANDS = ["train", "evaluate", "score", "generate", "diagnose", "experiment", "gradcheck", "scale", "estimators"]
INTERNAL_ERROR = 70  # exit status of a bug (EX_SOFTWARE of sysexits.h)
# OSErrors the user can act on: a path, a permission, the disk. Any other OSError (a bad file descriptor,
# an invalid argument to a system call, ...) comes from rnnlab's own code and is treated as a bug.
USER_ERRNOS = frozenset({errno.ENOENT, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EROFS,
                         errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENOTEMPTY, errno.ENAMETOOLONG,
                         errno.EFBIG, errno.EIO, errno.ELOOP})


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's usage errors: one line, exit 2
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Version(argparse.Action):
    """``--version``: rnnlab's version, then which code the gated cells run (rnnlab.kernels)."""

    def __call__(self, parser, namespace, values, option_string=None):
        import os

        from .. import kernels

        if os.environ.get("RNNLAB_KERNELS", "").strip().lower() == "numpy":
            how = "NumPy code (RNNLAB_KERNELS=numpy)"
        elif kernels.available():
            import numba
            how = f"compiled kernels (numba {numba.__version__})"
        else:
            how = "NumPy code (numba is not installed)"
        print(f"rnnlab {__version__}\nLSTM and GRU steps: {how}")     # stdout, as argparse's version action
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``rnnlab`` command, with the sub-commands of ``COMMANDS`` registered in order."""
    import importlib

    p = _Parser(prog="rnnlab", description="Recurrent networks with explicit backpropagation through time: "
                "train, evaluate, sample, and see the gradient vanish.")
    p.add_argument("--version", action=_Version, nargs=0, help="show the version (and whether the LSTM and GRU "
                   "run compiled kernels) and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f".{name}", __name__).register(sub)
    p.commands = sub.choices  # name -> sub-command parser
    return p


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def _report_dirs(args):
    """Where a command keeps its files: its --out directory, then its --model directory (that of a .npz)."""
    model = getattr(args, "model", None)
    for d in (getattr(args, "out", None), *(model if isinstance(model, list) else [model])):
        if d:
            d = Path(d)
            yield d.parent if d.suffix == ".npz" else d


def internal_error(name: str, args, exc: BaseException, argv) -> int:
    """Report a bug: the traceback goes to a file, one line on stderr says where. Returns INTERNAL_ERROR."""
    from .._version import __version__

    text = (f"rnnlab {__version__}, python {sys.version.split()[0]}\ncommand: rnnlab {' '.join(argv)}\n\n"
            + "".join(traceback.format_exception(exc)))
    fname = f"rnnlab-error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    path = None
    for d in _report_dirs(args):
        try:
            if d.is_dir():
                (d / fname).write_text(text)
                path = d / fname
                break
        except OSError:
            continue
    if path is None:
        import tempfile
        try:
            fd, tmp = tempfile.mkstemp(prefix="rnnlab-error-", suffix=".txt")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            path = tmp
        except OSError:
            pass
    what = (str(exc).strip().splitlines() or [""])[0][:200]
    where = f"the traceback is in {path}" if path else "its traceback follows"
    print(f"{name}: internal error (a bug in rnnlab): {type(exc).__name__}{': ' + what if what else ''}; {where}; "
          f"please report it", file=sys.stderr)
    if path is None:
        print(text, file=sys.stderr)
    return INTERNAL_ERROR


def main(argv=None) -> int:
    """Run ``rnnlab`` with ``argv`` (default ``sys.argv[1:]``).

    Returns:
        the exit status: 0 done, 1 a check failed (``gradcheck``), 2 a usage or input error (one line on
        stderr, no traceback), 70 an internal error (a bug: one line on stderr names the file that holds
        the traceback), 130 interrupted.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
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
    except OSError as e:  # disk full, a path that is a file, ...; any other OSError is a bug
        if e.errno not in USER_ERRNOS:
            return internal_error(name, args, e, argv)
        where = f": {e.filename}" if e.filename else ""
        print(f"{name}: error: {e.strerror or e}{where}; check the disk and the paths given", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{name}: error: out of memory; use a smaller model, batch or vocabulary", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # anything else is a bug: keep its traceback
        return internal_error(name, args, e, argv)
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


if __name__ == "__main__":
    sys.exit(main())
