"""The vector index's file: one ``vector-index.fpvi`` per directory, written atomically, read safely.

Layout: a magic string, the length of a JSON header, the header, then raw C-contiguous arrays
whose shapes the header determines, then a SHA-256 of everything before it. With a cipher the whole
file is sealed in AES-GCM chunks (:class:`~faceprint.privacy.SealedWriter`, ``aad`` binding it to
its store). It is written to a temporary file, fsynced and renamed, then the directory fsynced.
Reading never raises for a bad file: missing, truncated, corrupt, of another version or layout,
sealed under another key — all give None, and the caller rebuilds from the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import StoreError
from ..privacy import Cipher, SealedReader, SealedWriter, fsync_directory

__all__ = ["FILE_NAME", "Layout", "read", "write"]

FILE_NAME = "vector-index.fpvi"
_MAGIC = b"FPVINDEX"
_HEADER_LIMIT = 1 << 16

#: From a file's header: the (shape, dtype) of each array that follows, or None to refuse the file.
Layout = Callable[[dict[str, Any]], Sequence[tuple[tuple[int, ...], Any]] | None]


def write(
    directory: Path,
    header: dict[str, Any],
    arrays: Sequence[NDArray[Any]],
    *,
    cipher: Cipher | None,
    aad: bytes,
) -> None:
    """``header`` and ``arrays`` to ``directory/vector-index.fpvi``, atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / FILE_NAME
    temp = directory / f".{FILE_NAME}.{os.getpid()}.{threading.get_ident()}.tmp"
    encoded = json.dumps(header, sort_keys=True).encode()
    digest = hashlib.sha256()
    try:
        with open(temp, "wb") as raw:
            fh: Any = raw if cipher is None else SealedWriter(raw, cipher, aad)
            parts: list[bytes | memoryview] = [_MAGIC, struct.pack("<I", len(encoded)), encoded]
            for part in parts + [_raw(a) for a in arrays]:
                digest.update(part)
                fh.write(part)
            fh.write(digest.digest())
            if cipher is not None:
                fh.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temp, final)
    finally:
        temp.unlink(missing_ok=True)
    fsync_directory(directory)


def read(
    directory: Path, layout: Layout, *, cipher: Cipher | None, aad: bytes
) -> tuple[dict[str, Any], list[NDArray[Any]]] | None:
    """The header and arrays of ``directory/vector-index.fpvi``, or None for a missing or bad file."""
    path = Path(directory) / FILE_NAME
    try:
        with open(path, "rb") as fh:
            if cipher is None:
                return _read(fh, os.fstat(fh.fileno()).st_size, layout)
            sealed = SealedReader(fh, cipher, aad)
            return _read(sealed, sealed.size, layout)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, MemoryError, struct.error, StoreError):
        return None


def _read(fh: Any, size: int, layout: Layout) -> tuple[dict[str, Any], list[NDArray[Any]]] | None:
    digest = hashlib.sha256()

    def read_exact(buffer: memoryview) -> None:
        if fh.readinto(buffer) != len(buffer):
            raise ValueError("truncated")
        digest.update(buffer)

    head = bytearray(len(_MAGIC) + 4)
    read_exact(memoryview(head))
    if bytes(head[: len(_MAGIC)]) != _MAGIC:
        return None
    (length,) = struct.unpack("<I", head[len(_MAGIC) :])
    if length > _HEADER_LIMIT:
        return None
    encoded = bytearray(length)
    read_exact(memoryview(encoded))
    header = json.loads(encoded)
    specs = layout(header)
    if specs is None or any(n < 0 for shape, _ in specs for n in shape):
        return None
    arrays = [np.empty(shape, dtype=dtype) for shape, dtype in specs]
    if size != len(head) + length + sum(a.nbytes for a in arrays) + digest.digest_size:
        return None
    for array in arrays:
        if array.size:
            read_exact(_raw(array))
    if fh.read() != digest.digest():
        return None
    return header, arrays


def _raw(array: NDArray[Any]) -> memoryview:
    """The bytes of a C-contiguous array, as a writable view (also for zero-length arrays)."""
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8).data
