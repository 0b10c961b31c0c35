"""Write a 1-D .npy file of unknown length by appending chunks, then publish it atomically.

    with NpyAppender(path, np.int32) as w:     # data goes to "<path>.tmp-<pid>"
        w.append(chunk)                         # any number of times
    # on success: header written, file fsynced and renamed to `path`; on error: temporary removed

The .npy header (format 1.0) is written last into a fixed 128-byte slot reserved at the start, so the
data streams straight to disk and memory stays bounded by one chunk. `np.load(path, mmap_mode="r")`
reads the result; `iter_chunks(path, n)` reads any 1-D .npy back in chunks with plain reads (no
memory map, so the resident set stays bounded too).
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

_HEADER_BYTES = 128
_MAGIC = b"\x93NUMPY\x01\x00"


def _header(dtype: np.dtype, n: int) -> bytes:
    descr = np.lib.format.dtype_to_descr(dtype)
    d = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': ({n},), }}"
    body_len = _HEADER_BYTES - len(_MAGIC) - 2
    if len(d) + 1 > body_len:
        raise ValueError("npy header does not fit")          # unreachable for 1-D int arrays
    body = d.ljust(body_len - 1) + "\n"
    return _MAGIC + body_len.to_bytes(2, "little") + body.encode("latin1")


def iter_chunks(path: str, chunk: int) -> Iterator[np.ndarray]:
    """The elements of a 1-D .npy file, `chunk` at a time."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f"{path}: unsupported .npy version {version}")
        shape, _, dtype = read_header(f)
        if len(shape) != 1:
            raise ValueError(f"{path}: expected a 1-D array, got shape {shape}")
        left = shape[0]
        while left > 0:
            a = np.fromfile(f, dtype=dtype, count=min(chunk, left))
            if a.size == 0:
                raise ValueError(f"{path}: truncated")
            left -= a.size
            yield a


class NpyAppender:
    """Append-only writer of a 1-D .npy array of `dtype` (see module docstring)."""

    def __init__(self, path: str, dtype):
        self.path = os.fspath(path)
        self.dtype = np.dtype(dtype)
        self.tmp = f"{self.path}.tmp-{os.getpid()}"
        self.n = 0
        self.f = open(self.tmp, "wb")
        self.f.write(b"\0" * _HEADER_BYTES)

    def append(self, chunk) -> None:
        """Write ``chunk`` (any shape, cast to the dtype, flattened) after what is already written."""
        a = np.ascontiguousarray(chunk, dtype=self.dtype).reshape(-1)
        self.f.write(a.tobytes())
        self.n += a.size

    def close(self) -> None:
        """Write the header with the final length, fsync, and rename the file into place."""
        self.f.seek(0)
        self.f.write(_header(self.dtype, self.n))
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Close and delete the temporary file; the target path is left as it was."""
        self.f.close()
        try:
            os.remove(self.tmp)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False
