"""A Milvus collection kept in step with a PostgreSQL store's ``changes`` feed (``FACEPRINT_VECTORS``).

PostgreSQL stays the source of truth (subjects, consent, audit, sealed templates); Milvus holds
only the protected vectors (:mod:`.milvus`). Unlike the in-memory index, one collection serves
every replica, so the feed is applied **once**, by whichever replica gets there first: under a
PostgreSQL advisory lock, in a transaction that reads the feed after the applied position,
deletes and upserts in Milvus, rewrites the marker (:meth:`.MilvusVectors.mark`) and records the
new position in the ``meta`` row ``vectors:milvus`` (``{"collection", "generation", "seq", "ts",
"template_key"}``). Every step is idempotent: a crash or a lost server anywhere in between leaves
the position behind, and the next sync (any replica, after either side restarts) applies the
same changes again. Before every search a replica reads the feed head and the position (one
query); it applies what is missing, and otherwise searches at the position's timestamp.

The position is rebuilt from the templates table (a new collection, switched to in one
transaction, the old one dropped) when it is missing, names a collection the server does not
have (a new or wiped server), was written under another template key (a key rotation) or for
another template generation (a model migration: ``model_generation``, at the new dimension).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from ..errors import InvalidInput, StoreError
from .database import Connection, Database
from .generations import TemplateSpace, require_model, template_space_in
from .index_cache import TEMPLATES, DataKeys
from .milvus import MilvusVectors, PurposeView
from .milvus_config import MilvusConfig, purpose_key
from .own_writes import OwnAdds
from .protection import Protector, stored_key_ids

__all__ = ["MilvusCache", "Position"]

#: Serialises the appliers of the feed to Milvus across replicas ("fp" + issue 17).
_APPLY_LOCK: Final = 0x6670_0017
_META_KEY: Final = "vectors:milvus"
#: Each template with what opens it and its subject's purpose.
_ROWS: Final = (
    "SELECT t.id, t.vector, t.subject_id, k.wrapped, s.purpose FROM templates t "
    "JOIN subjects s ON s.id = t.subject_id LEFT JOIN subject_keys k ON k.subject_id = t.subject_id"
)
assert _ROWS.startswith(TEMPLATES.split(" FROM ")[0])


@dataclass(frozen=True)
class Position:
    """Which collection holds the store's vectors and how far into the feed it is."""

    collection: str
    generation: int
    seq: int
    ts: int
    template_key: str
    #: The store's template generation the collection holds (:mod:`.generations`).
    model_generation: int = 1

    def dumps(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def loads(cls, text: str | None) -> Position | None:
        if text is None:
            return None
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError):
            return None  # unreadable: rebuilt


def _read_position(conn: Connection) -> Position | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_META_KEY,)).fetchone()
    return Position.loads(None if row is None else str(row[0]))


def _write_position(conn: Connection, position: Position) -> None:
    conn.execute("DELETE FROM meta WHERE key = ?", (_META_KEY,))
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (_META_KEY, position.dumps()))


def _lock(conn: Connection) -> None:
    """Take the appliers' lock; the transaction may then wait on Milvus without being cut off."""
    conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
    conn.execute("SET LOCAL statement_timeout = 0")
    conn.execute("SELECT pg_advisory_xact_lock(?)", (_APPLY_LOCK,))


class MilvusCache:
    """One process's handle on the store's Milvus collection. Thread-safe.

    The same verbs as :class:`~faceprint.store.index_cache.IndexCache`; ``save`` has nothing to
    do (Milvus persists itself).
    """

    def __init__(self, db: Database, config: MilvusConfig, protector: Protector) -> None:
        if db.dialect != "postgres":
            raise InvalidInput(
                "FACEPRINT_VECTORS (a Milvus server) needs a PostgreSQL store (--store postgresql://...)"
            )
        self.db = db
        self.config = config
        self.protector = protector
        self.lock = threading.RLock()
        self._vectors: MilvusVectors | None = None
        self._model: str | None = None  # the store's model as of the last sync

    @property
    def loaded(self) -> bool:
        return self._vectors is not None

    @property
    def dim(self) -> int:
        """The dimension of the collection in use (0 before one is opened)."""
        return 0 if self._vectors is None else self._vectors.dim

    def synced(self, dim: int) -> MilvusVectors:
        with self.lock:
            self.sync(dim)
            assert self._vectors is not None
            return self._vectors

    def searcher(self, dim: int, purpose: str, model: str | None = None) -> PurposeView:
        """What a search for ``purpose`` uses: that purpose's partition, caught up with the feed;
        refused if the store has switched away from ``model`` meanwhile."""
        with self.lock:
            view = self.synced(dim).scoped(purpose)
            require_model(self._model, model)
            return view

    def sync(self, dim: int, *, force_save: bool = False) -> None:
        """Open the collection (rebuild when it is missing or stale) and apply the changes it lacks."""
        del force_save  # nothing is saved here: Milvus persists itself
        if not dim:
            return
        with self.lock:
            if stored_key_ids(self.db) != self.protector.key_ids():  # another process rotated the keys
                self.protector = Protector.open(
                    self.db, self.protector.key_file, subject_keys=self.protector.subject_keys
                )
            with self.db.read() as conn:
                head = int(conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0])
                position = _read_position(conn)
                space = template_space_in(conn)
            dim, self._model = space.dim or dim, space.model
            vectors = self._open(position, space, dim)
            if vectors is None or position is None:
                self.rebuild(dim, force=False)
                return
            if position.seq >= head:
                vectors.follow(position.seq, position.ts)
                return
            self.db.transact(lambda conn: self._apply(conn, dim), feed=False)

    def add_own(self, own: OwnAdds) -> bool:
        """Not taken: the collection is written from the feed, whoever wrote (:meth:`sync`)."""
        del own
        return False

    def sync_if_loaded(self, dim: int) -> None:
        """Catch up, but only once this process uses the collection (the listener's callback)."""
        with self.lock:
            if self._vectors is not None:
                self.sync(dim)

    def _open(self, position: Position | None, space: TemplateSpace, dim: int) -> MilvusVectors | None:
        """The collection ``position`` names, or ``None`` when it must be rebuilt."""
        if (
            position is None
            or position.template_key != self.protector.template_key_id
            or position.model_generation != space.generation
        ):
            return None
        if self._vectors is not None and self._vectors.name == position.collection:
            return self._vectors
        try:
            vectors = MilvusVectors(self.config, position.collection, dim)
        except LookupError:  # a new or wiped server
            return None
        if vectors.marked_seq() is None:  # created, never filled (a rebuild that died)
            vectors.close()
            return None
        if self._vectors is not None:
            self._vectors.close()
        self._vectors = vectors
        return vectors

    def _apply(self, conn: Connection, dim: int) -> None:
        """Apply the feed after the recorded position, once for every replica (under the lock)."""
        _lock(conn)
        position = _read_position(conn)
        vectors = self._open(position, template_space_in(conn), dim)
        if vectors is None or position is None:
            raise StoreError("the Milvus position changed while applying the feed; retry")
        rows = conn.execute(
            "SELECT seq, template_id, op FROM changes WHERE seq > ? ORDER BY seq", (position.seq,)
        ).fetchall()
        if not rows:  # another replica applied it while this one waited for the lock
            vectors.follow(position.seq, position.ts)
            return
        last = int(rows[-1][0])
        removed = {int(r[1]) for r in rows if r[2] == "remove"}
        added = [int(r[1]) for r in rows if r[2] == "add" and int(r[1]) not in removed]
        if removed:
            vectors.delete(np.fromiter(sorted(removed), dtype=np.int64))
        for start in range(0, len(added), 5000):
            chunk = added[start : start + 5000]
            marks = ",".join("?" * len(chunk))
            self._upsert(vectors, conn.execute(f"{_ROWS} WHERE t.id IN ({marks})", chunk).fetchall(), dim)
        ts = vectors.mark(last)
        _write_position(
            conn,
            Position(
                position.collection,
                position.generation,
                last,
                ts,
                position.template_key,
                position.model_generation,
            ),
        )
        if removed:  # the deleted rows leave the segment files at the compaction (not waited for)
            vectors.compact(wait=False)

    def _upsert(self, vectors: MilvusVectors, rows: list[Any], dim: int) -> int:
        if not rows:
            return 0
        data_keys = DataKeys(self.protector)
        matrix = np.empty((len(rows), dim), dtype=np.float32)
        for i, (_, blob, subject_id, wrapped, _purpose) in enumerate(rows):
            matrix[i] = self.protector.open_vector(blob, dim, data_keys(subject_id, wrapped))
        vectors.upsert(
            np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            matrix,
            np.fromiter((r[2] for r in rows), dtype=np.int64, count=len(rows)),
            np.fromiter((purpose_key(str(r[4])) for r in rows), dtype=np.int64, count=len(rows)),
        )
        return len(rows)

    def rebuild(self, dim: int, *, force: bool = True) -> int:
        """Fill a new collection from every stored template, switch the position to it, drop the old.

        ``force=False``: unless another replica has just done so (the position is usable again).
        """
        if not dim:
            return 0
        given = dim
        with self.lock:
            collection_prefix = "faceprint_" + re.sub(r"[^0-9A-Za-z_]", "_", self.protector.store_id)

            def build(conn: Connection) -> tuple[MilvusVectors, int, Position | None]:
                _lock(conn)
                old = _read_position(conn)
                space = template_space_in(conn)  # the active generation's dimension, whoever asks
                dim = space.dim or given
                if not force and old is not None and (current := self._open(old, space, dim)) is not None:
                    current.follow(old.seq, old.ts)  # another replica rebuilt it meanwhile
                    return current, current.count(), None
                generation = (old.generation if old else 0) + 1
                name = f"{collection_prefix}_{generation}"
                with contextlib.suppress(LookupError):  # a leftover of a rebuild that died
                    MilvusVectors(self.config, name, dim).drop()
                new = MilvusVectors(self.config, name, dim, create=True)
                # read committed: the feed head first, then the rows (any row newer than it is
                # applied again by the next sync, which is harmless)
                seq = int(conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0])
                cursor = conn.execute(f"{_ROWS} ORDER BY t.id")
                count = 0
                while chunk := cursor.fetchmany(20_000):
                    count += self._upsert(new, chunk, dim)
                ts = new.mark(seq)
                _write_position(
                    conn,
                    Position(name, generation, seq, ts, self.protector.template_key_id, space.generation),
                )
                return new, count, old

            new, count, old = self.db.transact(build, feed=False)
            if self._vectors is not None and self._vectors is not new:
                self._vectors.close()
            self._vectors = new
            if old is not None and old.collection != new.name:
                with contextlib.suppress(LookupError):
                    MilvusVectors(self.config, old.collection, new.dim).drop()
            return count

    def compact(self, dim: int) -> None:
        """Have the server rewrite its segments without deleted rows (docs/privacy.md)."""
        self.synced(dim).compact()

    def save(self) -> None:
        """Nothing to save: Milvus persists every write itself."""

    def save_if_changed(self) -> None:
        """Nothing to save: Milvus persists every write itself."""

    def drop(self) -> None:
        """Forget the connection (the next use opens it again)."""
        with self.lock:
            if self._vectors is not None:
                self._vectors.close()
            self._vectors = None
