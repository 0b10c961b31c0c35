"""Tokenisation: a corpus file (or `builtin:NAME`) -> a stream of sentences, each a list of tokens.

    for sentence in iter_sentences("train.txt", format="lines"):
        ...                                    # ["the", "cat", "sat"], never empty

Formats (`format=`):
    text   plain prose. Paragraphs are separated by blank lines; each paragraph is split into sentences
           and words by syntok (segmenter + tokenizer; "don't" -> "do", "n't"). Lower-cased by default.
    lines  one sentence per line, tokens separated by whitespace, taken as they are (the classic RNNLM
           format). A literal `<unk>` is the vocabulary's unknown token. SRILM-style markers are
           dropped: a leading `<s>` and a trailing `</s>` on a line.
    csv    a header row, then records; `column=NAME` picks the text column. Each cell is prose,
           tokenised like `text`.
    jsonl  one JSON object per line; its string field `field` (default "text") is prose, tokenised like
           `text`. Blank lines are ignored.

Levels (`level=`):
    word   tokens as above.
    char   tokens are characters, the space included (as in char-rnn). A sentence is a line for `lines`
           (stripped of surrounding whitespace), and a syntok sentence for `text`, `csv` and `jsonl`
           (its original text with each run of whitespace made one space).

Lower-casing (`lowercase=`): None (default) lower-cases word-level `text`, `csv` and `jsonl` and leaves
`lines` and character level as they are; True or False forces it for every format.

Tokens equal to `<s>` or `</s>` inside a sentence become `<unk>`: those two are the markers the batcher
adds, and `<s>` must never be a prediction target. Blank lines and empty sentences are skipped.

Bad lines (`jsonl`: invalid JSON, not an object, field missing or not a string; `csv`: a malformed
record or one too short for the column) raise DataError naming the line, or with
`skip_bad_lines=True` are counted in `stats` (a ReadStats) and skipped. A file that yields no sentence
at all raises DataError. Memory is bounded by the longest line (a paragraph of `text` is cut into
pieces of at most PARAGRAPH_CHARS characters at line boundaries).
"""
from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..errors import ConfigError, DataError
from .reader import check_errors_option, read_lines
from .vocab import BOS, EOS, UNK

FORMATS = ("text", "lines", "csv", "jsonl")
LEVELS = ("word", "char")
PARAGRAPH_CHARS = 1 << 20                          # a longer paragraph is segmented in pieces
_PARAGRAPH_SPLIT = re.compile(r"\n[ \t\r\f\v]*\n")  # blank line inside a csv / jsonl cell
_MAX_BAD_LINES_KEPT = 10


@dataclass
class ReadStats:
    """What a pass over a corpus saw. `bad_lines` keeps the first few (line_number, reason) pairs."""
    sentences: int = 0
    tokens: int = 0
    skipped_lines: int = 0
    bad_lines: list = field(default_factory=list)

    def summary(self) -> str:
        """One line: "S sentences, N tokens[, K bad lines skipped (first: ...)]"."""
        s = f"{self.sentences} sentences, {self.tokens} tokens"
        if self.skipped_lines:
            first = ", ".join(str(n) for n, _ in self.bad_lines[:3])
            s += f", {self.skipped_lines} bad lines skipped (first: {first})"
        return s


def check_read_options(format: str = "text", level: str = "word", column: str | None = None,
                       field: str = "text", errors: str = "strict", source=None) -> None:
    """Raise ConfigError for option values that make no sense (before any file is opened).

    For a built-in `source` only `level` and `errors` matter (the format options do not apply)."""
    if level not in LEVELS:
        raise ConfigError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    check_errors_option(errors)
    if isinstance(source, str) and source.startswith("builtin:"):
        return
    if format not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    if format == "csv" and not column:
        raise ConfigError("format csv needs the name of the text column (column=NAME, --column NAME)")
    if format == "jsonl" and not (isinstance(field, str) and field):
        raise ConfigError("format jsonl needs a field name (field='text')")


def iter_sentences(source: str | os.PathLike, format: str = "text", level: str = "word",
                   column: str | None = None, field: str = "text", errors: str = "strict",
                   skip_bad_lines: bool = False, lowercase: bool | None = None,
                   stats: ReadStats | None = None) -> Iterator[list[str]]:
    """Stream the sentences of a corpus, each a non-empty list of string tokens.

    Args:
        source: a file path, or "builtin:agreement[:split][?key=value&...]" (see data.builtin).
        format, level, column, field, errors, skip_bad_lines, lowercase: see the module docstring.
        stats: a ReadStats, updated in place as sentences are produced (counts, skipped lines).
    Raises:
        ConfigError for bad options, DataError for a bad or empty file.
    """
    src = os.fspath(source)
    check_read_options(format, level, column, field, errors, source=src)
    stats = ReadStats() if stats is None else stats
    lower = (format != "lines" and level == "word") if lowercase is None else bool(lowercase)
    if src.startswith("builtin:"):
        from .builtin import builtin_sentences
        sentences = builtin_sentences(src)       # word tokens, lower case; `format` does not apply
        if level == "char":
            sentences = (list(" ".join(s)) for s in sentences)
    elif format == "lines":
        sentences = _lines_sentences(src, level, lower, errors)
    else:
        texts = {"text": _text_paragraphs, "csv": _csv_cells, "jsonl": _jsonl_texts}[format](
            src, errors=errors, column=column, field=field, skip=skip_bad_lines, stats=stats)
        sentences = _prose_sentences(texts, level, lower)
    n_before = stats.sentences
    yield from _counted(sentences, stats)
    if stats.sentences == n_before:
        what = f"column {column!r} of {src}" if format == "csv" and not src.startswith("builtin:") else src
        skipped = f" ({stats.skipped_lines} bad lines skipped)" if stats.skipped_lines else ""
        raise DataError(f"{what}: no sentences found{skipped}; check the file and --format ({format})")


def _counted(sentences: Iterable[list[str]], stats: ReadStats) -> Iterator[list[str]]:
    for s in sentences:
        if s:
            stats.sentences += 1
            stats.tokens += len(s)
            yield s


def _no_markers(tokens: list[str]) -> list[str]:
    """Replace literal <s> / </s> inside a sentence by <unk> (they are the batcher's markers)."""
    if BOS in tokens or EOS in tokens:
        return [UNK if t == BOS or t == EOS else t for t in tokens]
    return tokens


# ---- lines ---------------------------------------------------------------------------------------

def _lines_sentences(path: str, level: str, lower: bool, errors: str) -> Iterator[list[str]]:
    for _, line in read_lines(path, errors):
        yield line_tokens(line, level, lower)


def line_tokens(line: str, level: str, lower: bool) -> list[str]:
    """One line of a ``lines`` corpus as its tokens: split on whitespace (characters for ``level="char"``),
    a leading <s> and a trailing </s> dropped, any other marker made <unk>; a blank line gives []."""
    if lower:
        line = line.lower()
    if level == "char":
        return list(line.strip())
    toks = line.split()
    if toks and toks[0] == BOS:
        toks = toks[1:]
    if toks and toks[-1] == EOS:
        toks = toks[:-1]
    return _no_markers(toks)


# ---- prose: text, csv cells, jsonl fields -> syntok ------------------------------------------------

def _prose_sentences(texts: Iterable[str], level: str, lower: bool) -> Iterator[list[str]]:
    """Split each prose text into sentences with syntok."""
    from syntok.segmenter import segment
    from syntok.tokenizer import Tokenizer

    tokenizer = Tokenizer(replace_not_contraction=False)
    for text in texts:
        for paragraph in _PARAGRAPH_SPLIT.split(text):
            if not paragraph or paragraph.isspace():
                continue
            # segment() over a paragraph's tokens; syntok's analyze() is quadratic in document length.
            for sent in segment(tokenizer.tokenize(paragraph)):
                if not sent:
                    continue
                if level == "char":
                    last = sent[-1]
                    span = paragraph[sent[0].offset:last.offset + len(last.value)]
                    chars = " ".join(span.split())
                    yield list(chars.lower() if lower else chars)
                else:
                    words = [w for t in sent for w in t.value.split()]   # syntok may keep \x1f etc.
                    yield _no_markers([w.lower() for w in words] if lower else words)


def _text_paragraphs(path: str, errors: str, skip: bool, stats: ReadStats, **_) -> Iterator[str]:
    """Paragraphs of a text file (blank-line separated), each at most ~PARAGRAPH_CHARS characters."""
    buf: list[str] = []
    size = 0
    for _, line in read_lines(path, errors):
        if line.isspace():
            if buf:
                yield "".join(buf)
                buf, size = [], 0
            continue
        buf.append(line)
        size += len(line)
        if size >= PARAGRAPH_CHARS:
            yield "".join(buf)
            buf, size = [], 0
    if buf:
        yield "".join(buf)


def _bad_line(path: str, lineno: int, reason: str, skip: bool, stats: ReadStats) -> None:
    if not skip:
        raise DataError(f"{path}:{lineno}: {reason}; fix that line or skip bad lines "
                        "(skip_bad_lines=True, --skip-bad-lines)")
    stats.skipped_lines += 1
    if len(stats.bad_lines) < _MAX_BAD_LINES_KEPT:
        stats.bad_lines.append((lineno, reason))


def _jsonl_texts(path: str, errors: str, field: str, skip: bool, stats: ReadStats, **_) -> Iterator[str]:
    for lineno, line in read_lines(path, errors):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            _bad_line(path, lineno, f"not valid JSON ({e.msg} at column {e.colno})", skip, stats)
            continue
        except (ValueError, RecursionError):
            _bad_line(path, lineno, "not valid JSON (too deeply nested or malformed)", skip, stats)
            continue
        if not isinstance(obj, dict):
            _bad_line(path, lineno, f"expected a JSON object with a {field!r} field, got "
                      f"{type(obj).__name__}", skip, stats)
            continue
        value = obj.get(field)
        if not isinstance(value, str):
            keys = ", ".join(repr(k) for k in list(obj)[:10]) or "none"
            what = "no" if value is None else "a non-string"
            _bad_line(path, lineno, f"{what} {field!r} field (keys: {keys})", skip, stats)
            continue
        yield value


def _csv_cells(path: str, errors: str, column: str, skip: bool, stats: ReadStats, **_) -> Iterator[str]:
    lines = (text for _, text in read_lines(path, errors))
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 26))    # long comments: allow 64 MB cells
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path}: no header row; a CSV corpus needs a header naming its columns") from None
    except csv.Error as e:
        raise DataError(f"{path}:1: malformed CSV header ({e})") from None
    names = [h.strip() for h in header]
    if column not in names:
        shown = ", ".join(repr(n) for n in names[:20]) + (", ..." if len(names) > 20 else "")
        raise DataError(f"{path}: no column {column!r}; available columns: {shown} (choose with --column)")
    col = names.index(column)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            _bad_line(path, reader.line_num, f"malformed CSV record ({e})", skip, stats)
            continue
        if not row:
            continue
        if len(row) <= col:
            _bad_line(path, reader.line_num, f"record has {len(row)} fields, no {column!r} column",
                      skip, stats)
            continue
        yield row[col]


def tokenize_text(text: str, format: str = "text", level: str = "word", lowercase: bool | None = None) -> list[str]:
    """The tokens of a short piece of text (for example ``rnnlab generate --prime``), read the way a corpus of
    ``format`` would be: whitespace-separated as they are for ``lines``, syntok word tokens for prose;
    characters for ``level="char"``. Sentence boundaries inside the text are ignored."""
    if level not in LEVELS:
        raise ConfigError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    lower = (format != "lines" and level == "word") if lowercase is None else bool(lowercase)
    if lower:
        text = text.lower()
    if format == "lines" or level == "char":
        return list(" ".join(text.split())) if level == "char" else _no_markers(text.split())
    return [t for sent in _prose_sentences([text], level, False) for t in sent]
