"""Encoding a corpus into flat integer arrays, memory-mapped and cached on disk.

    counts = count_tokens("train.txt", cache_dir="out/cache", format="lines")
    vocab = Vocab.from_counts(counts, 8000)
    train = encode_file("train.txt", vocab, cache_dir="out/cache", format="lines")
    train.tokens                    # (N,) int32 ids, np.memmap: all sentences back to back, no markers
    train.offsets                   # (S+1,) int64: sentence i is tokens[offsets[i]:offsets[i+1]]

Two steps, each bounded in memory whatever the corpus size:
1. Tokenising pass (once per file and read options): sentences stream from `iter_sentences`; each
   distinct token gets a provisional id in order of first appearance; ids and sentence offsets are
   appended block by block to .npy files. Memory: the table of distinct tokens plus one block.
   The pass yields the token counts too, so counting and encoding read the file only once.
2. Vocabulary mapping (once per vocabulary): a lookup table provisional id -> vocabulary id, applied
   with NumPy in chunks from the memory-mapped step-1 array into a new .npy.

Cache files (in `cache_dir`; None keeps everything in memory, for small corpora and tests):
    <stem>-<key>.raw.npy, <stem>-<key>.offsets.npy, <stem>-<key>.json     step 1
    <stem>-<key>.<vocab fingerprint>.npy                                   step 2
`key` hashes the file's absolute path, size and modification time, the read options and
CACHE_VERSION, so editing the corpus or changing an option rebuilds; the vocabulary fingerprint hashes
its tokens. Files are written to a temporary name, fsynced and renamed; the .json is written last and
marks a complete step 1. Damaged or mismatched cache files are rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..errors import DataError
from .npyfile import NpyAppender, iter_chunks
from .reader import check_file
from .tokenize import ReadStats, check_read_options, iter_sentences
from .vocab import EOS, Vocab

CACHE_VERSION = 1
BLOCK_TOKENS = 1 << 18          # tokens per block of the tokenising pass (~20 MB of str refs)
MAP_CHUNK = 1 << 22             # ids per chunk of the vocabulary mapping


@dataclass
class EncodedCorpus:
    """A corpus as vocabulary ids. Arrays may be np.memmap (read-only) views of cache files.

    Attributes:
        tokens: (N,) int32 ids of all sentences back to back, without <s> / </s>.
        offsets: (S+1,) int64, offsets[0] = 0, offsets[-1] = N; sentence i = tokens[offsets[i]:offsets[i+1]].
        vocab: the Vocab the ids refer to.
        source: the file or builtin spec it came from.
        stats: what reading saw: {"sentences", "tokens", "skipped_lines", "bad_lines"}.
    """
    tokens: np.ndarray
    offsets: np.ndarray
    vocab: Vocab
    source: str = ""
    stats: dict = field(default_factory=dict)

    @property
    def n_sentences(self) -> int:
        """Number of sentences S."""
        return len(self.offsets) - 1

    @property
    def n_tokens(self) -> int:
        """Number of tokens N, markers excluded."""
        return len(self.tokens)

    @property
    def n_predicted(self) -> int:
        """Targets per pass: every token plus one </s> per sentence (the perplexity denominator)."""
        return self.n_tokens + self.n_sentences

    @cached_property
    def lengths(self) -> np.ndarray:
        """(S,) int64 sentence lengths in tokens (without markers); computed once."""
        return np.diff(np.asarray(self.offsets))

    @cached_property
    def stream_starts(self) -> np.ndarray:
        """(S,) int64 position of each sentence in the stream w1 .. wn </s> v1 .. </s>."""
        return np.asarray(self.offsets[:-1]) + np.arange(self.n_sentences, dtype=np.int64)

    def __len__(self) -> int:
        return self.n_sentences

    def sentence(self, i: int) -> np.ndarray:
        """(n_i,) ids of sentence ``i`` (without markers), as an in-memory array."""
        return np.asarray(self.tokens[self.offsets[i]:self.offsets[i + 1]])


# ---- step 1: tokenising pass ---------------------------------------------------------------------

class _MemorySink:
    def __init__(self, dtype):
        self.dtype, self.parts = dtype, []

    def append(self, a):
        self.parts.append(np.asarray(a, self.dtype))

    def array(self):
        return np.concatenate(self.parts) if self.parts else np.zeros(0, self.dtype)


def _tokenize_pass(source, read_opts: dict, ids_out, offsets_out):
    """Stream sentences into provisional ids; return (types, counts (n_types,) int64, ReadStats)."""
    index: defaultdict = defaultdict()
    index.default_factory = index.__len__      # a new token gets the next id on first lookup
    counts = np.zeros(0, np.int64)
    stats = ReadStats()
    flat: list[str] = []
    ends: list[int] = []
    offsets_out.append(np.zeros(1, np.int64))
    written = 0

    def flush():
        nonlocal counts, written
        ids = np.fromiter(map(index.__getitem__, flat), dtype=np.int32, count=len(flat))
        block = np.bincount(ids, minlength=len(index)).astype(np.int64)
        block[:len(counts)] += counts
        counts = block
        ids_out.append(ids)
        offsets_out.append(written + np.asarray(ends, np.int64))
        written += len(flat)
        flat.clear()
        ends.clear()

    for sent in iter_sentences(source, stats=stats, **read_opts):
        flat.extend(sent)
        ends.append(len(flat))
        if len(flat) >= BLOCK_TOKENS:
            flush()
    if ends:
        flush()
    return list(index), counts, stats


def _stats_dict(stats: ReadStats) -> dict:
    return {"sentences": stats.sentences, "tokens": stats.tokens, "skipped_lines": stats.skipped_lines,
            "bad_lines": [list(b) for b in stats.bad_lines]}


def _normalise_opts(read_opts: dict, source: str) -> dict:
    allowed = {"format", "level", "column", "field", "errors", "skip_bad_lines", "lowercase"}
    unknown = set(read_opts) - allowed
    if unknown:
        raise TypeError(f"unknown read options: {', '.join(sorted(unknown))}")
    opts = {"format": "text", "level": "word", "column": None, "field": "text", "errors": "strict",
            "skip_bad_lines": False, "lowercase": None}
    opts.update(read_opts)
    check_read_options(opts["format"], opts["level"], opts["column"], opts["field"], opts["errors"],
                       source=source)
    return opts


def _cache_base(source: str, opts: dict, cache_dir: str) -> tuple[str, str]:
    """(path prefix of the step-1 cache files, full key) for a source and its read options."""
    if source.startswith("builtin:"):
        from .agreement import GRAMMAR_VERSION
        ident = {"builtin": source, "grammar": GRAMMAR_VERSION}
        stem = "builtin-" + re.sub(r"[^A-Za-z0-9]+", "-", source[len("builtin:"):]).strip("-")
    else:
        path = os.path.abspath(source)
        st = os.stat(path)
        ident = {"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        stem = re.sub(r"[^A-Za-z0-9._]+", "_", os.path.basename(path))[:40]
    blob = json.dumps({"v": CACHE_VERSION, "src": ident, "opts": opts}, sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()
    return os.path.join(cache_dir, f"{stem}-{key[:16]}"), key


def _load_step1(base: str, key: str):
    try:
        with open(base + ".json", encoding="utf-8") as f:
            meta = json.load(f)
        if meta.get("key") != key:
            return None
        raw = np.load(base + ".raw.npy", mmap_mode="r")
        offsets = np.load(base + ".offsets.npy", mmap_mode="r")
        types, counts = meta["types"], np.asarray(meta["counts"], np.int64)
        ok = (raw.dtype == np.int32 and offsets.dtype == np.int64 and raw.shape == (meta["n_tokens"],)
              and offsets.shape == (meta["n_sentences"] + 1,) and len(types) == len(counts))
        return (types, counts, raw, offsets, meta["stats"]) if ok else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_json(path: str, obj) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _step1(source: str, opts: dict, cache_dir: str | None):
    """(types, counts, raw ids, offsets, stats dict), from the cache when it is valid."""
    if cache_dir is None:
        ids, offs = _MemorySink(np.int32), _MemorySink(np.int64)
        types, counts, stats = _tokenize_pass(source, opts, ids, offs)
        return types, counts, ids.array(), offs.array(), _stats_dict(stats)
    if not source.startswith("builtin:"):
        check_file(source)                     # one-line DataError before stat() in _cache_base
    _make_dir(cache_dir)
    base, key = _cache_base(source, opts, cache_dir)
    hit = _load_step1(base, key)
    if hit is not None:
        return hit
    try:
        with NpyAppender(base + ".raw.npy", np.int32) as ids, \
                NpyAppender(base + ".offsets.npy", np.int64) as offs:
            types, counts, stats = _tokenize_pass(source, opts, ids, offs)
        meta = {"key": key, "source": source, "opts": opts, "n_tokens": ids.n,
                "n_sentences": offs.n - 1, "stats": _stats_dict(stats), "types": types,
                "counts": counts.tolist()}
        _write_json(base + ".json", meta)
    except OSError as e:
        raise DataError(f"cannot write the corpus cache in {cache_dir} ({e.strerror}); "
                        "choose a writable directory") from None
    hit = _load_step1(base, key)
    if hit is None:
        raise DataError(f"the corpus cache in {cache_dir} could not be read back; delete it and retry")
    return hit


def _make_dir(cache_dir: str) -> None:
    try:
        os.makedirs(cache_dir, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the cache directory {cache_dir} ({e.strerror}); "
                        "choose a writable directory") from None


# ---- public API ----------------------------------------------------------------------------------

def count_tokens(source, cache_dir: str | None = None, **read_opts) -> Counter:
    """Token counts of a corpus, plus `</s>`: the number of sentences (every sentence ends in one).

    Args:
        source: file path or builtin spec; read_opts: options of `iter_sentences` (format, level, ...).
        cache_dir: where the tokenising pass is cached (then `encode_file` reuses it); None: memory.
    """
    src = os.fspath(source)
    opts = _normalise_opts(read_opts, src)
    types, counts, _, offsets, _ = _step1(src, opts, cache_dir)
    c = Counter(dict(zip(types, counts.tolist())))
    c[EOS] += len(offsets) - 1
    return c


def build_vocab(source, max_size: int, cache_dir: str | None = None, strict: bool = False,
                **read_opts) -> Vocab:
    """`Vocab.from_counts(count_tokens(source, ...), max_size)` with the level of `read_opts`."""
    counts = count_tokens(source, cache_dir, **read_opts)
    return Vocab.from_counts(counts, max_size, level=read_opts.get("level", "word"), strict=strict)


def encode_file(source, vocab: Vocab, cache_dir: str | None = None, **read_opts) -> EncodedCorpus:
    """Encode a corpus with `vocab` (see module docstring); tokens outside it become `vocab.unk`.

    With a `cache_dir`, the arrays are read-only memory maps of cache files, reused on later calls.
    """
    src = os.fspath(source)
    opts = _normalise_opts(read_opts, src)
    types, _, raw, offsets, stats = _step1(src, opts, cache_dir)
    table = vocab.encode(types)                                # (n_types,) provisional -> vocab id
    if cache_dir is None:
        return EncodedCorpus(table[raw], offsets, vocab, src, stats)
    base, _ = _cache_base(src, opts, cache_dir)
    path = f"{base}.{vocab.fingerprint()[:16]}.npy"
    tokens = _load_mapped(path, len(raw))
    if tokens is None:
        try:
            with NpyAppender(path, np.int32) as out:
                for ids in iter_chunks(base + ".raw.npy", MAP_CHUNK):   # plain reads: bounded RSS
                    out.append(table[ids])
        except (OSError, ValueError) as e:
            raise DataError(f"cannot write the corpus cache in {cache_dir} ({e}); "
                            "choose a writable directory, or delete the cache") from None
        tokens = _load_mapped(path, len(raw))
        if tokens is None:
            raise DataError(f"the corpus cache file {path} could not be read back; delete it and retry")
    return EncodedCorpus(tokens, offsets, vocab, src, stats)


def _load_mapped(path: str, n: int):
    try:
        a = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    return a if a.dtype == np.int32 and a.shape == (n,) else None


def encode_sentences(sentences, vocab: Vocab, source: str = "<memory>") -> EncodedCorpus:
    """Encode an iterable of token lists in memory (small corpora, tests); empty sentences are kept."""
    parts, lens = [], []
    for s in sentences:
        parts.append(vocab.encode(s))
        lens.append(len(parts[-1]))
    tokens = np.concatenate(parts) if parts else np.zeros(0, np.int32)
    offsets = np.concatenate([[0], np.cumsum(lens, dtype=np.int64)]).astype(np.int64)
    stats = {"sentences": len(lens), "tokens": int(offsets[-1]), "skipped_lines": 0, "bad_lines": []}
    return EncodedCorpus(tokens.astype(np.int32), offsets, vocab, source, stats)
