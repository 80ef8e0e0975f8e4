"""What the gallery needs of a vector search engine, over plain arrays and ints, with a fake beside it.

:class:`~faceprint.store.vector_index.VectorIndex` (faiss IVF with exact re-rank) is the engine
the store ships; another (a Milvus collection, issue 17) plugs in by implementing
:class:`VectorSearch`. :class:`FakeVectorSearch` is the exact, dependency-free double for tests.
Vectors are the store's protected templates (unit float32 rows); ids are template ids; ``seq``
is the position in the database's changes feed the engine reflects.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidInput

__all__ = ["FakeVectorSearch", "FloatArray", "IdArray", "VectorSearch"]

IdArray = NDArray[np.int64]
FloatArray = NDArray[np.float32]


@runtime_checkable
class VectorSearch(Protocol):
    """Top-k inner-product search over (template id, unit vector) pairs, following a changes feed."""

    def add(self, ids: IdArray, vectors: FloatArray, *, seq: int) -> None:
        """Add ``vectors`` (n, dim) under ``ids`` (n,); an id already present is replaced."""

    def remove(self, ids: IdArray, *, seq: int) -> None:
        """Drop these ids; unknown ids are ignored."""

    def search(self, queries: FloatArray, k: int) -> tuple[IdArray, FloatArray]:
        """Ids (q, k) padded with -1 and their similarities (``-inf`` for padding), best first."""
        ...

    def vectors(self, ids: IdArray) -> FloatArray:
        """The stored vectors of ``ids`` (n, dim); a zero row for an id not held."""
        ...

    def __len__(self) -> int: ...

    @property
    def seq(self) -> int:
        """The changes-feed position reflected (never goes back)."""
        ...


class FakeVectorSearch:
    """Exact search in a dict of numpy rows: the test double of :class:`VectorSearch`."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._held: dict[int, FloatArray] = {}
        self._seq = 0

    def _advance(self, seq: int) -> None:
        if seq < self._seq:
            raise InvalidInput(f"sequence {seq} is behind the index's {self._seq}")
        self._seq = seq

    def add(self, ids: IdArray, vectors: FloatArray, *, seq: int) -> None:
        if len(ids) != len(vectors):
            raise InvalidInput(f"{len(ids)} ids for {len(vectors)} vectors")
        self._advance(seq)
        for i, vector in zip(np.asarray(ids).tolist(), np.asarray(vectors, dtype=np.float32), strict=True):
            self._held[int(i)] = vector.copy()

    def remove(self, ids: IdArray, *, seq: int) -> None:
        self._advance(seq)
        for i in np.asarray(ids).tolist():
            self._held.pop(int(i), None)

    def search(self, queries: FloatArray, k: int) -> tuple[IdArray, FloatArray]:
        if k < 1:
            raise InvalidInput("k must be at least 1")
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, self.dim)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        if self._held:
            keys = np.fromiter(self._held, np.int64, len(self._held))
            sims = queries @ np.stack(list(self._held.values())).T
            order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
            ids[:, : order.shape[1]] = keys[order]
            scores[:, : order.shape[1]] = np.take_along_axis(sims, order, axis=1)
        return ids, scores

    def vectors(self, ids: IdArray) -> FloatArray:
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        for row, i in enumerate(np.asarray(ids).tolist()):
            if int(i) in self._held:
                out[row] = self._held[int(i)]
        return out

    def __len__(self) -> int:
        return len(self._held)

    @property
    def seq(self) -> int:
        return self._seq
