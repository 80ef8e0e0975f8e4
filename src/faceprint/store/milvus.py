"""A Milvus collection as the gallery's vector search: the store's protected vectors on a server.

One collection per store (and per rebuild: ``faceprint_<store id>_<generation>``) holds a row per
template: its id (primary key), its subject's id, its subject's purpose as a 52-bit hash (the
*partition key*: a search filtered on one purpose only touches that purpose's partition) and the
protected vector (the keyed transform of the template, as the in-memory index holds it; never
the plain template, never a photo). One more row, id ``-1`` under purpose ``-1``, is the
*marker*: rewritten after every batch of changes, its server timestamp orders every later
search after those changes (see :meth:`MilvusVectors.mark`).

Consistency, chosen per operation (measured in docs/privacy.md): writes are followed by the
marker, and :meth:`MilvusVectors.mark` waits until the server shows it; every search and read
then runs at *Customized* consistency with that timestamp as its guarantee: it sees every change
applied before it, without the ~200 ms wait of *Strong*. (Milvus 2.3 returns no timestamp for a
delete, so *Session* consistency does not order a search after a delete; *Bounded* reads a
snapshot up to 5 s old and returned erased ids.)

Every Milvus failure becomes :class:`~faceprint.errors.StoreUnavailable`. pymilvus is imported
only when a store uses Milvus (the ``milvus`` extra).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import numpy as np

from ..errors import InvalidInput, StoreUnavailable
from ..extras import import_extra
from .milvus_config import INDEXES, MilvusConfig, purpose_key
from .vector_search import FloatArray, IdArray

__all__ = ["MilvusConfig", "MilvusVectors", "PurposeView", "purpose_key"]

#: Milvus's largest ``limit`` (top k) of one search.
MAX_K: Final = 16_384
MARKER_ID: Final = -1
MARKER_PURPOSE: Final = -1
_aliases = itertools.count(1)


def _unavailable(config: MilvusConfig, exc: BaseException) -> StoreUnavailable:
    # pymilvus messages name collections and expressions, never vectors: safe to pass on
    detail = str(getattr(exc, "message", None) or exc).splitlines()[0][:200]
    return StoreUnavailable(f"the vector engine at {config.url} did not answer ({detail})")


class MilvusVectors:
    """One collection of (template id, subject id, purpose key, protected vector) rows. Thread-safe.

    Implements :class:`~faceprint.store.vector_search.VectorSearch` over every purpose;
    :meth:`scoped` gives the view a search for one purpose uses. ``seq`` is the changes-feed
    position this process last saw applied (its durable copy lives in the database:
    :mod:`.milvus_cache`); ``guarantee`` the server timestamp every read waits for.
    """

    def __init__(self, config: MilvusConfig, collection: str, dim: int, *, create: bool = False) -> None:
        self.config = config
        self.name = collection
        self.dim = dim
        self.guarantee = 0
        self._seq = 0
        self._counts: dict[int | None, tuple[int, int]] = {}  # purpose key -> (guarantee, count)
        self._lock = threading.Lock()
        self._alias = f"faceprint-{next(_aliases)}"
        # whole seconds: pymilvus bounds its retries by an int timeout only (else 75 retries, ~3.5 min)
        self._timeout = max(1, round(config.timeout))
        import_extra("pymilvus", "milvus", "FACEPRINT_VECTORS=milvus://...")
        with self._calls():
            from pymilvus import Collection, connections, utility

            connections.connect(
                alias=self._alias, host=config.host, port=str(config.port), timeout=self._timeout
            )
            if not utility.has_collection(collection, using=self._alias, timeout=self._timeout):
                if not create:
                    raise LookupError(collection)
                self._collection = Collection(
                    collection, self._schema(dim), using=self._alias, num_partitions=16
                )
                build, _ = INDEXES[config.index]
                self._collection.create_index(
                    "vector", {"index_type": config.index, "metric_type": "IP", "params": build}
                )
            else:
                self._collection = Collection(collection, using=self._alias)
            self._collection.load(timeout=self._timeout * 6)

    @staticmethod
    def _schema(dim: int) -> Any:
        from pymilvus import CollectionSchema, DataType, FieldSchema

        return CollectionSchema(
            [
                FieldSchema("id", DataType.INT64, is_primary=True),
                FieldSchema("subject", DataType.INT64),
                FieldSchema("purpose", DataType.INT64, is_partition_key=True),
                FieldSchema("vector", DataType.FLOAT_VECTOR, dim=dim),
            ],
            description="faceprint: protected template vectors (keyed transform), by template id",
        )

    @contextmanager
    def _calls(self) -> Iterator[None]:
        """Milvus and network failures as :class:`StoreUnavailable`."""
        from pymilvus.exceptions import MilvusException

        try:
            yield
        except (MilvusException, ConnectionError, TimeoutError, OSError) as exc:
            raise _unavailable(self.config, exc) from None
        except Exception as exc:  # grpc.RpcError and friends: the channel broke
            if type(exc).__module__.startswith(("grpc", "pymilvus")):
                raise _unavailable(self.config, exc) from None
            raise

    @staticmethod
    def exists(config: MilvusConfig, collection: str) -> bool:
        try:
            MilvusVectors(config, collection, 1).close()
        except LookupError:
            return False
        return True

    def close(self) -> None:
        from pymilvus import connections

        connections.disconnect(self._alias)

    def drop(self) -> None:
        """Delete the collection (and, at the server's next garbage collection, its files)."""
        with self._calls():
            self._collection.drop(timeout=self._timeout)
        self.close()

    # -- writing -------------------------------------------------------------------------------

    def upsert(self, ids: IdArray, vectors: FloatArray, subjects: IdArray, purposes: IdArray) -> None:
        """Write these rows (an id already present is replaced), 5,000 a call.

        A delete then an insert, not Milvus's ``upsert``: 2.3's upsert files rows under the
        wrong partition of the partition key (a filter on their purpose then misses them).
        """
        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        if not len(ids) == len(subjects) == len(purposes):
            raise InvalidInput(f"{len(ids)} ids for {len(subjects)} subjects and {len(purposes)} purposes")
        with self._calls():
            for start in range(0, len(ids), 5000):
                part = slice(start, start + 5000)
                chunk = ",".join(map(str, ids[part].tolist()))
                self._collection.delete(f"id in [{chunk}]", timeout=self._timeout)
                self._collection.insert(
                    [
                        ids[part].tolist(),
                        np.asarray(subjects[part], dtype=np.int64).tolist(),
                        np.asarray(purposes[part], dtype=np.int64).tolist(),
                        vectors[part],
                    ],
                    timeout=self._timeout,
                )

    def delete(self, ids: IdArray) -> None:
        """Delete these ids (unknown ones are ignored)."""
        values = [int(i) for i in np.asarray(ids).tolist()]
        with self._calls():
            for start in range(0, len(values), 5000):
                chunk = ",".join(map(str, values[start : start + 5000]))
                self._collection.delete(f"id in [{chunk}]", timeout=self._timeout)

    def mark(self, seq: int) -> int:
        """Write the marker row anew (``subject`` = ``seq``) and wait until the server shows it.

        Its timestamp comes after every write sent before it; once a read at that guarantee
        answers, every later read at it sees those writes (deletes included). Returns it.
        """
        with self._calls():
            zero = np.zeros((1, self.dim), dtype=np.float32)
            self._collection.delete(f"id == {MARKER_ID}", timeout=self._timeout)
            result = self._collection.insert(
                [[MARKER_ID], [int(seq)], [MARKER_PURPOSE], zero], timeout=self._timeout
            )
            ts = int(result.timestamp)
            self._collection.query(
                f"id == {MARKER_ID}",
                output_fields=["subject"],
                consistency_level="Customized",
                guarantee_timestamp=ts,
                timeout=self._timeout,
            )
        self.follow(seq, ts)
        return ts

    def follow(self, seq: int, guarantee: int) -> None:
        """Reads from now on wait for ``guarantee``; the feed is applied up to ``seq``."""
        with self._lock:
            if guarantee > self.guarantee:
                self.guarantee = guarantee
            self._seq = max(self._seq, int(seq))

    def marked_seq(self) -> int | None:
        """The ``seq`` of the marker the server holds (``None`` before the first)."""
        rows = self._query(f"id == {MARKER_ID}", ["subject"])
        return int(rows[0]["subject"]) if rows else None

    # -- the VectorSearch protocol -------------------------------------------------------------

    def add(self, ids: IdArray, vectors: FloatArray, *, seq: int) -> None:
        """:meth:`upsert` with subject and purpose unknown (``-1``): only for benchmarks of the engine."""
        unknown = np.full(len(ids), -1, dtype=np.int64)
        self.upsert(ids, vectors, unknown, np.zeros(len(ids), dtype=np.int64))
        self.mark(seq)

    def remove(self, ids: IdArray, *, seq: int) -> None:
        self.delete(ids)
        self.mark(seq)

    def search(
        self, queries: FloatArray, k: int, *, purpose: int | None = None
    ) -> tuple[IdArray, FloatArray]:
        """Top ``k`` (at most :data:`MAX_K`) by inner product; ``purpose`` (a :func:`purpose_key`)
        restricts the search to that purpose's partition. Padded with -1 and ``-inf``."""
        if k < 1:
            raise InvalidInput("k must be at least 1")
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, self.dim)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        limit = min(k, MAX_K)
        _, params = INDEXES[self.config.index]
        expr = f"purpose == {int(purpose)}" if purpose is not None else "purpose >= 0"
        with self._calls():
            found = self._collection.search(
                queries,
                "vector",
                {"metric_type": "IP", "params": params(limit)},
                limit=limit,
                expr=expr,
                consistency_level="Customized",
                guarantee_timestamp=self.guarantee or 1,
                timeout=self._timeout,
            )
        for row, hits in enumerate(found):
            n = len(hits)
            ids[row, :n] = hits.ids
            scores[row, :n] = hits.distances
        return ids, scores

    def vectors(self, ids: IdArray) -> FloatArray:
        """The stored vectors of these template ids, a zero row for an id not held."""
        wanted = [int(i) for i in np.asarray(ids).tolist()]
        found: dict[int, Any] = {}
        for start in range(0, len(wanted), 1000):
            chunk = ",".join(map(str, wanted[start : start + 1000]))
            for row in self._query(f"id in [{chunk}] and purpose >= 0", ["id", "vector"]):
                found[int(row["id"])] = row["vector"]
        out = np.zeros((len(wanted), self.dim), dtype=np.float32)
        for i, template_id in enumerate(wanted):
            if template_id in found:
                out[i] = np.asarray(found[template_id], dtype=np.float32)
        return out

    def count(self, purpose: int | None = None) -> int:
        """Rows held (for one purpose key), cached until the guarantee moves."""
        with self._lock:
            cached = self._counts.get(purpose)
            if cached is not None and cached[0] == self.guarantee:
                return cached[1]
            guarantee = self.guarantee
        expr = f"purpose == {int(purpose)}" if purpose is not None else "purpose >= 0"
        count = int(self._query(expr, ["count(*)"])[0]["count(*)"])
        with self._lock:
            self._counts[purpose] = (guarantee, count)
        return count

    def __len__(self) -> int:
        return self.count()

    @property
    def seq(self) -> int:
        return self._seq

    def ids(self) -> IdArray:
        """Every template id held, sorted (pages through the collection)."""
        out: list[int] = []
        with self._calls():
            iterator = self._collection.query_iterator(
                batch_size=5000,
                expr="purpose >= 0",
                output_fields=["id"],
                consistency_level="Customized",
                guarantee_timestamp=self.guarantee or 1,
                timeout=self._timeout,
            )
            try:
                while batch := iterator.next():
                    out.extend(int(r["id"]) for r in batch)
            finally:
                iterator.close()
        return np.asarray(sorted(out), dtype=np.int64)

    def scoped(self, purpose: str) -> PurposeView:
        return PurposeView(self, purpose)

    def compact(self, *, wait: bool = True) -> None:
        """Ask the server to rewrite its sealed segments without deleted rows (``wait``: until done).

        The files of the old segments stay until the server's garbage collection removes them
        (docs/privacy.md says for how long).
        """
        with self._calls():
            self._collection.compact(timeout=self._timeout)
            if wait:
                self._collection.wait_for_compaction_completed(timeout=self._timeout * 30)

    def _query(self, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        with self._calls():
            return list(
                self._collection.query(
                    expr,
                    output_fields=fields,
                    consistency_level="Customized",
                    guarantee_timestamp=self.guarantee or 1,
                    timeout=self._timeout,
                )
            )


class PurposeView:
    """The collection as one purpose's search sees it: only that purpose's partition."""

    def __init__(self, vectors: MilvusVectors, purpose: str) -> None:
        self._vectors = vectors
        self.purpose = purpose
        self._key = purpose_key(purpose)

    def add(self, ids: IdArray, vectors: FloatArray, *, seq: int) -> None:
        unknown = np.full(len(ids), -1, dtype=np.int64)
        self._vectors.upsert(ids, vectors, unknown, np.full(len(ids), self._key, dtype=np.int64))
        self._vectors.mark(seq)

    def remove(self, ids: IdArray, *, seq: int) -> None:
        self._vectors.remove(ids, seq=seq)

    def search(self, queries: FloatArray, k: int) -> tuple[IdArray, FloatArray]:
        return self._vectors.search(queries, k, purpose=self._key)

    def vectors(self, ids: IdArray) -> FloatArray:
        return self._vectors.vectors(ids)

    def __len__(self) -> int:
        return self._vectors.count(self._key)

    @property
    def seq(self) -> int:
        return self._vectors.seq
