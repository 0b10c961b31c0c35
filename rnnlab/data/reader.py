"""Reading corpus files: bytes -> decoded lines, with one-line errors for every bad file.

    for lineno, text in read_lines("train.txt", errors="strict"):
        ...                                   # text keeps its line ending ("\\n", "\\r\\n" or none)

A corpus is UTF-8 (a leading byte-order mark is dropped). The file is read in binary, one line at a
time, so memory stays bounded by the longest line, whatever the file size. Every problem becomes a
`DataError` whose message is one line naming the file, what is wrong and what to do:

- missing file, a directory, no read permission, an empty file;
- a NUL byte anywhere (a binary file, or UTF-16 text): the byte offset and line are named;
- bytes that are not UTF-8 with `errors="strict"`: the byte offset and line are named, and the message
  suggests `errors="replace"` (CLI `--errors replace`), which replaces each undecodable byte with U+FFFD.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

from ..errors import ConfigError, DataError

ERRORS = ("strict", "replace")
_BOM = b"\xef\xbb\xbf"


def check_errors_option(errors: str) -> None:
    """Raise ConfigError unless ``errors`` is "strict" or "replace"."""
    if errors not in ERRORS:
        raise ConfigError(f"errors must be one of {', '.join(ERRORS)}, not {errors!r}")


def check_file(path: str | os.PathLike) -> int:
    """Raise DataError unless `path` is a readable, non-empty regular file; return its size in bytes."""
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise DataError(f"{p}: no such file; check the path (or use builtin:agreement)") from None
    except OSError as e:
        raise DataError(f"{p}: cannot access ({e.strerror}); check the path and its permissions") from None
    if os.path.isdir(p):
        raise DataError(f"{p}: is a directory; give a corpus file") from None
    if not os.access(p, os.R_OK):
        raise DataError(f"{p}: cannot read (permission denied); check its permissions")
    if st.st_size == 0:
        raise DataError(f"{p}: file is empty; give a corpus file with text in it")
    return st.st_size


def read_lines(path: str | os.PathLike, errors: str = "strict") -> Iterator[tuple[int, str]]:
    """Yield (line_number, text) for every line of a UTF-8 file; line numbers start at 1.

    Args:
        path: the file.
        errors: "strict" (undecodable bytes raise DataError) or "replace" (they become U+FFFD).
    """
    check_errors_option(errors)
    p = os.fspath(path)
    check_file(p)
    try:
        f = open(p, "rb", buffering=1 << 20)
    except OSError as e:
        raise DataError(f"{p}: cannot open ({e.strerror}); check the path and its permissions") from None
    with f:
        offset = 0                                    # byte offset of the current line's start
        lineno = 0
        try:
            for raw in f:
                lineno += 1
                start = offset
                offset += len(raw)
                if lineno == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM):]
                    start += len(_BOM)
                nul = raw.find(b"\0")
                if nul >= 0:
                    raise DataError(f"{p}: looks binary (NUL byte at byte offset {start + nul}, line "
                                    f"{lineno}); give a UTF-8 text file")
                try:
                    text = raw.decode("utf-8", errors)
                except UnicodeDecodeError as e:
                    raise DataError(f"{p}: not valid UTF-8 at byte offset {start + e.start} (line {lineno});"
                                    " convert it to UTF-8 or replace undecodable bytes (errors='replace',"
                                    " --errors replace)") from None
                yield lineno, text
        except OSError as e:
            raise DataError(f"{p}: read failed at line {lineno + 1} ({e.strerror})") from None
