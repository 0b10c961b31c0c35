"""Input of ``rnnlab score``: numbered lines read as they arrive, and the words of a line read the way the
model read its training text.

    src = LineSource(open("hyps.txt", "rb"), "hyps.txt")
    for lineno, text in src:        # DataError naming the file and line for bytes that are not UTF-8
        words = line_words(text, data_config)
        if not src.ready(): ...     # nothing more can be read without waiting: score what is held now

``ready`` lets the scorer batch many lines from a file or a fast pipe, yet answer each line of an
interactive session at once.
"""
from __future__ import annotations

import os
import select

from ..data.tokenize import line_tokens, tokenize_text
from ..errors import DataError

_CHUNK = 1 << 16


class LineSource:
    """(line number, text) of a binary stream, decoded as UTF-8 (``errors`` "strict" or "replace");
    the text has no line ending."""

    def __init__(self, f, name: str, errors: str = "strict"):
        self.f, self.name, self.errors = f, name, errors
        try:
            self.fd = f.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None               # not a real file (a test's BytesIO): read line by line
        self.buf, self.pos, self.eof, self.lineno = b"", 0, False, 0

    def _fill(self) -> None:
        data = os.read(self.fd, _CHUNK) if self.fd is not None else self.f.readline()
        if not data:
            self.eof = True
        self.buf = self.buf[self.pos:] + data
        self.pos = 0

    def ready(self) -> bool:
        """True when the next line (or the end) can be had without waiting for the writer."""
        if self.eof or self.fd is None or self.buf.find(b"\n", self.pos) >= 0:
            return True
        try:
            return bool(select.select([self.fd], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            end = self.buf.find(b"\n", self.pos)
            if end >= 0 or (self.eof and self.pos < len(self.buf)):
                stop = end + 1 if end >= 0 else len(self.buf)
                raw = self.buf[self.pos:stop]
                self.pos = stop
                self.lineno += 1
                return self.lineno, self._decode(raw)
            if self.eof:
                raise StopIteration
            self._fill()

    def _decode(self, raw: bytes) -> str:
        if self.lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8", self.errors)
        except UnicodeDecodeError as e:
            raise DataError(f"{self.name}:{self.lineno}: not valid UTF-8 (byte {e.start + 1} of the line); "
                            "convert the text to UTF-8, or replace bad bytes with --errors replace") from None
        if "\0" in text:
            raise DataError(f"{self.name}:{self.lineno}: a NUL byte; this looks like a binary file, not text")
        return text.rstrip("\r\n")


def line_words(text: str, data_config) -> list[str]:
    """The words of one line of text, one sentence, read as the model's training text was (its format's
    tokenizer, level and lower-casing; ``lines``: split on whitespace, a leading <s> and trailing </s>
    dropped). Never fails: a blank line is the empty sentence."""
    dc = data_config
    if dc.format != "lines":
        return tokenize_text(text, format="text", level=dc.level, lowercase=dc.lowercase)
    return line_tokens(text, dc.level, bool(dc.lowercase))
