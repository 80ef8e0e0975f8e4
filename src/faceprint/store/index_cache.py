"""The vector index as a cache of the templates table, kept in step by the ``changes`` feed.

The database is the source of truth. The index is loaded from its sealed files at first use
(rebuilt when they are missing, stale-keyed or corrupt), then caught up from the feed: every
change with a sequence number above the index's is applied, removals first. The gallery does
that before every search, so another process's enrolments and erasures are always seen; on
PostgreSQL a LISTEN/NOTIFY listener does it as soon as another replica commits, so an erasure
leaves this process's memory (and its index files) without waiting for a search. Catching up
reads the feed from the index's own position, never the whole table: a replica that restarts
or reconnects applies only what it missed.

Where the files live: beside a SQLite store (``<store>.index/``); for PostgreSQL under the
cache directory, by the database's random store id
(``$XDG_CACHE_HOME/faceprint/postgres/<store_id>.index/``), shared by the replicas of one host
under a file lock. Either way they are sealed with the store's keys and bound to its id.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ..errors import StoreError
from .database import Database
from .generations import TemplateSpace, require_model, template_space_in
from .own_writes import OwnAdds
from .protection import Protector, stored_key_ids
from .vector_search import IdArray, VectorSearch

__all__ = ["TEMPLATES", "DataKeys", "HeldVectors", "IndexCache", "VectorCache", "postgres_index_dir"]

if TYPE_CHECKING:  # faiss loads at the first search, not with the store
    from .vector_index import VectorIndex

#: What the feed holds past an index's position: last seq, ids removed, ids and vectors added.
_News = tuple[int, set[int], NDArray[np.int64], NDArray[np.float32]]


def postgres_index_dir(store_id: str) -> Path:
    """``$XDG_CACHE_HOME/faceprint/postgres/<store_id>.index`` (``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "faceprint" / "postgres" / f"{store_id}.index"


#: Each template with what opens it: its subject's wrapped data key (``NULL``: the storage key).
TEMPLATES = (
    "SELECT t.id, t.vector, t.subject_id, k.wrapped FROM templates t "
    "LEFT JOIN subject_keys k ON k.subject_id = t.subject_id"
)


class DataKeys:
    """Unwraps each subject's data key once per pass (kept only for that pass, never longer)."""

    def __init__(self, protector: Protector) -> None:
        self._protector = protector
        self._keys: dict[int, bytes] = {}

    def __call__(self, subject_id: Any, wrapped: Any) -> bytes | None:
        if wrapped is None:
            return None
        sid = int(subject_id)
        if sid not in self._keys:
            self._keys[sid] = self._protector.subjects.unwrap(sid, wrapped)
        return self._keys[sid]


class HeldVectors(VectorSearch, Protocol):
    """A vector search that can also list what it holds (``Store.check``)."""

    def ids(self) -> IdArray: ...


class VectorCache(Protocol):
    """What the store needs of the cache in front of its vector engine: :class:`IndexCache` (faiss,
    in memory) or :class:`~faceprint.store.milvus_cache.MilvusCache` (a Milvus server)."""

    lock: threading.RLock
    protector: Protector

    @property
    def loaded(self) -> bool: ...

    @property
    def dim(self) -> int: ...

    def synced(self, dim: int) -> HeldVectors: ...

    def searcher(self, dim: int, purpose: str, model: str | None = None) -> VectorSearch: ...

    def sync(self, dim: int, *, force_save: bool = False) -> None: ...

    def sync_if_loaded(self, dim: int) -> None: ...

    def add_own(self, own: OwnAdds) -> bool:
        """Take a write's own feed rows when they are all the cache lacks; ``False``: not taken
        (catch up from the feed instead)."""
        ...

    def rebuild(self, dim: int) -> int: ...

    def save_if_changed(self) -> None: ...

    def drop(self) -> None: ...


class IndexCache:
    """One process's vector index over one store's templates. Thread-safe."""

    def __init__(self, db: Database, directory: Path, protector: Protector) -> None:
        self.db = db
        self.directory = directory
        self.protector = protector
        self.lock = threading.RLock()
        self._index: VectorIndex | None = None
        self._space: TemplateSpace | None = None  # what the index was caught up to
        self._dirty = False

    @property
    def loaded(self) -> bool:
        return self._index is not None

    @property
    def dim(self) -> int:
        """The dimension of the templates the index holds (0 before it is loaded)."""
        return 0 if self._index is None else self._index.dim

    def synced(self, dim: int) -> VectorIndex:
        """The index, caught up with the feed."""
        with self.lock:
            self.sync(dim)
            assert self._index is not None
            return self._index

    def searcher(self, dim: int, purpose: str, model: str | None = None) -> VectorIndex:
        """What a search of ``model``'s templates uses: the whole index (the purpose is checked
        against the database); refused if the store has switched to another model meanwhile."""
        del purpose
        with self.lock:
            index = self.synced(dim)
            require_model(None if self._space is None else self._space.model, model)
            return index

    def sync(self, dim: int, *, force_save: bool = False) -> None:
        """Load the index (rebuild if missing or corrupt) and apply the changes it has not seen.

        Removals are saved at once, so erased vectors leave the index files too. After another
        process changed the store's model (:mod:`.generations`) the index is rebuilt, at the
        new generation's dimension.
        """
        with self.lock:
            if self._index is not None:  # the common case: one read for the key check and the feed
                with self.db.read(pipelined=True) as conn:
                    space = template_space_in(conn)
                    fresh = (
                        space.key_ids == self.protector.key_ids()
                        and self._space is not None
                        and space.generation == self._space.generation
                        and space.dim in (0, self._index.dim)  # (an empty store's index has no dim yet)
                    )
                    news = self._news(conn, self._index, self._index.dim) if fresh else None
                if fresh:
                    self._space = space
                    self._apply(self._index, news, force_save)
                    return
                if space.key_ids == self.protector.key_ids():  # a model migration, or a first enrolment
                    self._index = None
            if stored_key_ids(self.db) != self.protector.key_ids():  # another process rotated the keys
                self.protector = Protector.open(
                    self.db, self.protector.key_file, subject_keys=self.protector.subject_keys
                )
                self._index = None
            if self._index is None:
                from . import vector_index

                with self.db.read() as conn:
                    space = template_space_in(conn)
                dim = space.dim or dim
                self._space = space
                self._index = (
                    vector_index.VectorIndex.load(
                        self.directory, dim=dim, cipher=self.protector.keyring, aad=self.protector.index_aad
                    )
                    if dim
                    else None
                )
                if self._index is None:
                    self.rebuild(dim)
                    return
            index = self._index
            with self.db.read() as conn:
                news = self._news(conn, index, index.dim)
            self._apply(index, news, force_save)

    def _news(self, conn: Any, index: VectorIndex, dim: int) -> _News | None:
        """The feed past the index's position: (last seq, ids removed, ids and vectors added), or None."""
        rows = conn.execute(
            "SELECT seq, template_id, op FROM changes WHERE seq > ? ORDER BY seq", (int(index.seq),)
        ).fetchall()
        if not rows:
            return None
        removed = {int(r[1]) for r in rows if r[2] == "remove"}
        added = [int(r[1]) for r in rows if r[2] == "add" and int(r[1]) not in removed]
        ids, vectors = self._vectors(conn, added, dim)
        return int(rows[-1][0]), removed, ids, vectors

    def _apply(self, index: VectorIndex, news: _News | None, force_save: bool) -> None:
        if news is None:
            if force_save:
                self.save()
            return
        last, removed, ids, vectors = news
        if removed:
            index.remove(np.fromiter(sorted(removed), dtype=np.int64), seq=last)
        index.add(ids, vectors, seq=last)
        self._dirty = True
        if removed or force_save:
            self.save()

    def add_own(self, own: OwnAdds) -> bool:
        """Take a write's own additions (:mod:`.own_writes`) when the index stood where the feed was
        when that write began, in the same template space: they are then exactly the feed's news."""
        with self.lock:
            index = self._index
            if not own.complete or index is None or own.space != self._space or int(index.seq) != own.before:
                return False
            index.add(np.asarray(own.ids, dtype=np.int64), np.stack(own.vectors), seq=own.last)
            self._dirty = True
            return True

    def sync_if_loaded(self, dim: int) -> None:
        """Catch up, but only an index this process already holds (the listener's callback)."""
        with self.lock:
            if self._index is not None:
                self.sync(dim)

    def _vectors(self, conn: Any, ids: list[int], dim: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        found: list[int] = []
        vectors: list[NDArray[np.float32]] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(f"{TEMPLATES} WHERE t.id IN ({marks})", chunk)
            data_keys = DataKeys(self.protector)
            for tid, blob, subject_id, wrapped in rows:
                found.append(int(tid))
                vectors.append(self.protector.open_vector(blob, dim, data_keys(subject_id, wrapped)))
        matrix = np.stack(vectors) if vectors else np.zeros((0, max(dim, 1)), dtype=np.float32)
        return np.asarray(found, dtype=np.int64), matrix

    def rebuild(self, dim: int) -> int:
        """Build the index from every stored template, 100,000 at a time; returns its size."""
        from . import vector_index

        with self.lock:
            with self.db.read() as conn:
                space = template_space_in(conn)  # the active generation's dimension, whoever asks
                dim = space.dim or dim
                index = vector_index.VectorIndex(max(dim, 1))
                seq = int(conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0])
                index.reserve(int(conn.execute("SELECT count(*) FROM templates").fetchone()[0]))
                rows = conn.execute(f"{TEMPLATES} ORDER BY t.id")
                data_keys = DataKeys(self.protector)
                while chunk := rows.fetchmany(100_000):
                    ids = np.fromiter((r[0] for r in chunk), dtype=np.int64, count=len(chunk))
                    vectors = np.empty((len(chunk), dim), dtype=np.float32)
                    for i, (_, blob, subject_id, wrapped) in enumerate(chunk):
                        vectors[i] = self.protector.open_vector(blob, dim, data_keys(subject_id, wrapped))
                    index.add(ids, vectors, seq=seq)
                index.advance(seq)
            self._index, self._space = index, space
            self.save()
            return len(index)

    def save(self) -> None:
        """Write the index atomically, under a file lock shared with other processes."""
        with self.lock:
            assert self._index is not None
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                with (self.directory / "lock").open("w") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    self._index.save(
                        self.directory, cipher=self.protector.keyring, aad=self.protector.index_aad
                    )
            except OSError as exc:
                raise StoreError(
                    f"cannot write the vector index in {self.directory}: {exc.strerror}"
                ) from None
            self._dirty = False

    def save_if_changed(self) -> None:
        with self.lock:
            if self._index is not None and self._dirty:
                self.save()

    def drop(self) -> None:
        """Forget the in-memory index (the next use loads or rebuilds it)."""
        with self.lock:
            self._index = None
