"""Top-k cosine search over stored templates: a rebuildable cache beside the database.

The database is the source of truth; this index holds (template id, unit float32 vector) pairs and
the database's change sequence number (``seq``) it reflects, so the store can tell when it is stale
and rebuild it. Nothing here is needed to keep stored data correct.

Search is exact below ``exact_below`` vectors: a chunked matrix product with a partial top-k.
Above it, a faiss IVF index with 8-bit scalar quantisation (``IVF{nlist},SQ8``, inner product)
proposes ``rerank`` candidates per query and they are re-scored exactly from the float32 matrix,
so every similarity returned is exact; only which neighbours are found is approximate.
IVF was chosen over HNSW (faiss, usearch) by measurement (``bench/bench_index.py``, 1M clustered
128-d templates with LFW ones mixed in, 2 busy cores): recall@1 0.997 (synthetic genuine) and 1.0
(real LFW probes) at nprobe 32, 0.7 ms per query, ~0.8 GB resident, 1.5 min to train from scratch
(HNSW: 7-8 min to build), and it really deletes (``remove_ids``), which erasure requires: faiss
HNSW cannot delete and usearch's removal leaves the vector's bytes in its saved file.

Policy:
- the IVF index is trained when the size first reaches ``exact_below``; later ``add`` calls add to
  it without retraining; it is retrained from the float32 matrix once the size has grown
  ``retrain_growth`` times (default 4) past the size it was trained at, and dropped (back to exact
  search) when removals take the size below half of ``exact_below``;
- ``remove`` compacts the float32 matrix (the last rows move into the holes, the freed tail is
  zeroed) and removes the codes from the IVF lists, so a later ``save`` writes none of their bytes;
- one writer at a time, many concurrent searches (faiss releases the GIL while it searches).

Persistence is one file, ``vector-index.fpvi``, in the given directory (:mod:`.index_file`: magic,
JSON header, raw arrays, SHA-256; atomic, optionally sealed): the header holds the format version,
dim, seq, count and IVF settings; the arrays are the ids, the vectors and the serialised faiss index.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import InvalidInput
from faceprint.privacy import Cipher

from . import index_file
from .exact import RWLock, exact_search
from .index_file import FILE_NAME

import faiss  # isort: skip  (faiss is used through this module only)

__all__ = ["FILE_NAME", "FORMAT_VERSION", "VectorIndex", "exact_search"]

FORMAT_VERSION = 1
_UNIT_TOLERANCE = 1e-3
_QUERY_BLOCK = 256

IdArray = NDArray[np.int64]
FloatArray = NDArray[np.float32]


class VectorIndex:
    """A rebuildable top-k inner-product index of (template id, unit float32 vector) pairs.

    ``exact_below``: exact search below this many vectors. ``nlist``: IVF cells (default from the
    size at training, about ``2 * sqrt(n)`` rounded to a power of two, 64 to 4096). ``nprobe``: cells
    visited per query. ``rerank``: candidates re-scored exactly per query (at least ``k``).
    ``retrain_growth``: retrain once the size exceeds this multiple of the size at training.
    ``encoding``: faiss's code for the IVF lists (``SQ8``: 1 byte per dimension; ``PQ32``: 32 bytes).
    ``threads``: faiss's OpenMP thread count (process-wide), unchanged when None.
    """

    def __init__(
        self,
        dim: int,
        *,
        exact_below: int = 20_000,
        nlist: int | None = None,
        nprobe: int = 32,
        rerank: int = 64,
        retrain_growth: float = 4.0,
        encoding: str = "SQ8",
        threads: int | None = None,
    ) -> None:
        if dim < 1 or exact_below < 1 or nprobe < 1 or rerank < 1 or retrain_growth <= 1:
            raise InvalidInput("dim, exact_below, nprobe and rerank must be positive, retrain_growth > 1")
        if nlist is not None and nlist < 1:
            raise InvalidInput("nlist must be positive")
        self.dim = dim
        self.exact_below = exact_below
        self.nlist = nlist
        self.nprobe = nprobe
        self.rerank = rerank
        self.retrain_growth = retrain_growth
        try:
            faiss.extract_index_ivf(faiss.index_factory(dim, f"IVF1,{encoding}", faiss.METRIC_INNER_PRODUCT))
        except RuntimeError as exc:
            raise InvalidInput(f"not a faiss IVF encoding for dim {dim}: {encoding!r}") from exc
        self.encoding = encoding
        if threads is not None:
            if threads < 1:
                raise InvalidInput("threads must be positive")
            faiss.omp_set_num_threads(threads)
        self._lock = RWLock()
        self._seq = 0
        self._count = 0
        self._vectors: FloatArray = np.zeros((0, dim), dtype=np.float32)
        self._ids: IdArray = np.zeros(0, dtype=np.int64)
        self._rows: dict[int, int] = {}
        self._ann: Any = None
        self._trained_at = 0

    # -- reading ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._count

    def __contains__(self, template_id: object) -> bool:
        return template_id in self._rows

    @property
    def seq(self) -> int:
        """The change sequence number of the database this index reflects."""
        return self._seq

    @property
    def approximate(self) -> bool:
        """True when searches go through the IVF index (then re-ranked exactly)."""
        return self._ann is not None

    def ids(self) -> IdArray:
        """A copy of the template ids held, in no particular order."""
        with self._lock.read():
            return self._ids[: self._count].copy()

    def search(self, queries: FloatArray, k: int) -> tuple[IdArray, FloatArray]:
        """Ids (q, k) padded with -1 and their exact cosine similarities (``-inf`` for padding), best first."""
        queries = self._check_vectors(queries, "queries", unit=False)
        if k < 1:
            raise InvalidInput("k must be at least 1")
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        with self._lock.read():
            if not self._count:
                return ids, scores
            for start in range(0, len(queries), _QUERY_BLOCK):  # bounded temporary memory
                block = queries[start : start + _QUERY_BLOCK]
                if self._ann is None:
                    rows, found = exact_search(self._vectors[: self._count], block, k)
                else:
                    rows, found = self._approximate(block, k)
                ids[start : start + len(block)] = np.where(rows >= 0, self._ids[np.maximum(rows, 0)], -1)
                scores[start : start + len(block)] = found
        return ids, scores

    def vectors(self, ids: IdArray) -> FloatArray:
        """The stored vectors of ``ids`` (n, dim); a zero row for an id not held."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        with self._lock.read():
            for n, i in enumerate(ids.tolist()):
                row = self._rows.get(i)
                if row is not None:
                    out[n] = self._vectors[row]
        return out

    def _approximate(self, queries: FloatArray, k: int) -> tuple[NDArray[np.int64], FloatArray]:
        wanted = max(k, self.rerank)
        params = faiss.SearchParametersIVF()
        params.nprobe = self.nprobe
        _, candidates = self._ann.search(queries, wanted, params=params)
        rows_of = self._rows.get
        rows = np.fromiter((rows_of(int(c), -1) for c in candidates.ravel()), np.int64, candidates.size)
        rows = rows.reshape(candidates.shape)
        gathered = self._vectors[np.maximum(rows, 0)]  # (q, wanted, d)
        scores = np.einsum("qcd,qd->qc", gathered, queries).astype(np.float32, copy=False)
        scores[rows < 0] = -np.inf
        if wanted > k:
            part = np.argpartition(scores, wanted - k, axis=1)[:, wanted - k :]
            rows = np.take_along_axis(rows, part, axis=1)
            scores = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")
        rows = np.take_along_axis(rows, order, axis=1)
        scores = np.take_along_axis(scores, order, axis=1)
        rows[~np.isfinite(scores)] = -1
        return rows, scores

    # -- writing ------------------------------------------------------------------------------

    def advance(self, seq: int) -> None:
        """Record that the database reached ``seq`` without changing any template."""
        with self._lock.write():
            self._set_seq(seq)

    def add(self, ids: IdArray, vectors: FloatArray, *, seq: int) -> None:
        """Add unit vectors under their template ids (an id already present is replaced)."""
        ids = self._check_ids(ids)
        vectors = self._check_vectors(vectors, "vectors", unit=True)
        if len(ids) != len(vectors):
            raise InvalidInput(f"{len(ids)} ids for {len(vectors)} vectors")
        with self._lock.write():
            self._check_seq(seq)
            present = [i for i in ids.tolist() if i in self._rows]
            if present:
                self._remove(np.asarray(present, dtype=np.int64))
            self._grow(self._count + len(ids))
            start = self._count
            self._vectors[start : start + len(ids)] = vectors
            self._ids[start : start + len(ids)] = ids
            self._rows.update(zip(ids.tolist(), range(start, start + len(ids)), strict=True))
            self._count += len(ids)
            if self._ann is not None and self._count <= self.retrain_growth * self._trained_at:
                self._ann.add_with_ids(vectors, ids)
            elif self._count >= self.exact_below:
                self._train()
            self._seq = seq

    def remove(self, ids: IdArray, *, seq: int) -> None:
        """Drop these ids (unknown ids are ignored): their vectors and codes are really deleted."""
        ids = self._check_ids(ids)
        with self._lock.write():
            self._check_seq(seq)
            self._remove(ids)
            if self._ann is not None and self._count < self.exact_below // 2:
                self._ann = None
                self._trained_at = 0
            self._seq = seq

    def reserve(self, capacity: int) -> None:
        """Allocate room for ``capacity`` vectors up front (a rebuild from the database knows its size)."""
        with self._lock.write():
            self._grow(capacity)

    def rebuild(self) -> None:
        """Retrain the approximate index from the stored vectors (or drop it below ``exact_below``)."""
        with self._lock.write():
            self._ann, self._trained_at = None, 0
            if self._count >= self.exact_below:
                self._train()

    def _remove(self, ids: IdArray) -> None:
        rows = sorted({self._rows[i] for i in ids.tolist() if i in self._rows}, reverse=True)
        if not rows:
            return
        if self._ann is not None:
            gone = np.asarray([int(self._ids[r]) for r in rows], dtype=np.int64)
            self._ann.remove_ids(faiss.IDSelectorBatch(gone))
        for row in rows:  # highest first, so the last row is never one still to be removed
            del self._rows[int(self._ids[row])]
            last = self._count - 1
            if row != last:
                self._vectors[row] = self._vectors[last]
                self._ids[row] = self._ids[last]
                self._rows[int(self._ids[row])] = row
            self._vectors[last] = 0.0
            self._ids[last] = 0
            self._count -= 1

    def _grow(self, needed: int) -> None:
        if needed <= len(self._vectors):
            return
        capacity = max(needed, int(len(self._vectors) * 1.5), 1024)
        vectors = np.zeros((capacity, self.dim), dtype=np.float32)
        vectors[: self._count] = self._vectors[: self._count]
        ids = np.zeros(capacity, dtype=np.int64)
        ids[: self._count] = self._ids[: self._count]
        old = self._vectors
        self._vectors, self._ids = vectors, ids
        old.fill(0.0)  # do not leave a second copy of the templates in freed memory

    def _nlist_for(self, n: int) -> int:
        if self.nlist is not None:
            return self.nlist
        return int(min(4096, max(64, 2 ** round(math.log2(2 * math.sqrt(n))))))

    def _train(self) -> None:
        n = self._count
        nlist = min(self._nlist_for(n), max(1, n // 39))
        ann = faiss.index_factory(self.dim, f"IVF{nlist},{self.encoding}", faiss.METRIC_INNER_PRODUCT)
        faiss.extract_index_ivf(
            ann
        ).cp.max_points_per_centroid = 64  # train on a sample: seconds, not minutes, at 1M
        sample = min(n, nlist * 64)
        rng = np.random.default_rng(n)
        picked = np.sort(rng.choice(n, size=sample, replace=False)) if sample < n else np.arange(n)
        ann.train(np.ascontiguousarray(self._vectors[picked]))
        for start in range(0, n, 262_144):  # bounded temporary memory while adding
            stop = min(n, start + 262_144)
            ann.add_with_ids(self._vectors[start:stop], self._ids[start:stop])
        self._ann, self._trained_at = ann, n

    # -- validation ---------------------------------------------------------------------------

    def _check_vectors(self, vectors: FloatArray, what: str, *, unit: bool) -> FloatArray:
        array = np.ascontiguousarray(vectors, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != self.dim:
            raise InvalidInput(f"{what} must have shape (n, {self.dim}), got {array.shape}")
        if not np.isfinite(array).all():
            raise InvalidInput(f"{what} contain NaN or infinity")
        if unit and len(array):
            norms = np.linalg.norm(array, axis=1)
            if np.abs(norms - 1.0).max() > _UNIT_TOLERANCE:
                raise InvalidInput(f"{what} must be unit vectors")
        return array

    def _check_ids(self, ids: IdArray) -> IdArray:
        array = np.ascontiguousarray(ids)
        if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
            raise InvalidInput("ids must be a 1-d integer array")
        array = array.astype(np.int64, copy=False)
        if len(np.unique(array)) != len(array):
            raise InvalidInput("ids contain duplicates")
        if (array < 0).any():
            raise InvalidInput("ids must not be negative")
        return array

    def _check_seq(self, seq: int) -> None:
        if seq < self._seq:
            raise InvalidInput(f"seq {seq} is older than the index's {self._seq}")

    def _set_seq(self, seq: int) -> None:
        self._check_seq(seq)
        self._seq = seq

    # -- persistence --------------------------------------------------------------------------

    def save(self, directory: Path, *, cipher: Cipher | None = None, aad: bytes = b"") -> None:
        """Write the index to ``directory/vector-index.fpvi`` atomically (:mod:`.index_file`).

        With a ``cipher`` the file is sealed in AES-GCM chunks (``aad`` binds it to its store).
        """
        with self._lock.read():
            ann: NDArray[np.uint8] = (
                np.zeros(0, np.uint8) if self._ann is None else np.asarray(faiss.serialize_index(self._ann))
            )
            header = {
                "version": FORMAT_VERSION,
                "dim": self.dim,
                "seq": self._seq,
                "count": self._count,
                "trained_at": self._trained_at,
                "ann_bytes": len(ann),
            }
            arrays: list[NDArray[Any]] = [self._ids[: self._count], self._vectors[: self._count], ann]
            index_file.write(Path(directory), header, arrays, cipher=cipher, aad=aad)

    @classmethod
    def load(
        cls, directory: Path, *, dim: int, cipher: Cipher | None = None, aad: bytes = b"", **tuning: Any
    ) -> VectorIndex | None:
        """The index saved in ``directory``, or None when it is missing, corrupt, or of another version or dim.

        ``tuning`` takes the constructor's keyword arguments. Never raises for a bad file.
        """

        def layout(header: dict[str, Any]) -> list[tuple[tuple[int, ...], Any]] | None:
            if header["version"] != FORMAT_VERSION or header["dim"] != dim:
                return None
            count, ann_bytes = int(header["count"]), int(header["ann_bytes"])
            return [((count,), np.int64), ((count, dim), np.float32), ((ann_bytes,), np.uint8)]

        found = index_file.read(Path(directory), layout, cipher=cipher, aad=aad)
        if found is None:
            return None
        header, (ids, vectors, ann) = found
        try:
            return cls._adopt(header, ids, vectors, ann, dim, tuning)
        except (ValueError, KeyError, TypeError, RuntimeError, MemoryError):
            return None

    @classmethod
    def _adopt(
        cls,
        header: dict[str, Any],
        ids: IdArray,
        vectors: FloatArray,
        ann: NDArray[np.uint8],
        dim: int,
        tuning: dict[str, Any],
    ) -> VectorIndex | None:
        """An index over arrays read from its file (taken as they are, not copied)."""
        index = cls(dim, **tuning)
        count = len(ids)
        index._ids, index._vectors, index._count = ids, vectors, count
        index._rows = dict(zip(ids.tolist(), range(count), strict=True))
        if len(index._rows) != count:
            return None
        index._seq = int(header["seq"])
        index._trained_at = int(header["trained_at"])
        if len(ann):
            index._ann = faiss.deserialize_index(ann)
            if index._ann.ntotal != count or index._ann.d != dim:
                return None
        elif count >= index.exact_below:
            index._train()
        return index
