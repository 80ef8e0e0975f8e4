"""What the vector index is built from: exact chunked top-k search, and a readers-writer lock."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

__all__ = ["RWLock", "exact_search"]

_CHUNK_ROWS = 32_768
FloatArray = NDArray[np.float32]


class RWLock:
    """Many readers or one writer; a waiting writer holds back new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def exact_search(
    matrix: FloatArray, queries: FloatArray, k: int, *, chunk: int = _CHUNK_ROWS
) -> tuple[NDArray[np.int64], FloatArray]:
    """Row numbers (q, k) and inner products of the k best rows of ``matrix``, best first.

    The matrix product runs chunk by chunk with a partial top-k per chunk, so memory stays at
    ``q x chunk`` scores and no full-length ``argpartition`` is needed. Rows beyond
    ``len(matrix)`` are padded with -1 and ``-inf``.
    """
    q, n = len(queries), len(matrix)
    best_rows = np.full((q, k), -1, dtype=np.int64)
    best_scores = np.full((q, k), -np.inf, dtype=np.float32)
    for start in range(0, n, chunk):
        scores = queries @ matrix[start : start + chunk].T
        width = scores.shape[1]
        if width > k:
            part = np.argpartition(scores, width - k, axis=1)[:, width - k :]
            part_scores = np.take_along_axis(scores, part, axis=1)
        else:
            part, part_scores = np.broadcast_to(np.arange(width), scores.shape), scores
        rows = np.concatenate([best_rows, part + start], axis=1)
        merged = np.concatenate([best_scores, part_scores], axis=1)
        keep = np.argpartition(merged, merged.shape[1] - k, axis=1)[:, merged.shape[1] - k :]
        best_rows = np.take_along_axis(rows, keep, axis=1)
        best_scores = np.take_along_axis(merged, keep, axis=1)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    return np.take_along_axis(best_rows, order, axis=1), np.take_along_axis(best_scores, order, axis=1)
