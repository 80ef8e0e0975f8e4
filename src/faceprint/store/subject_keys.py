"""Per-owner data keys (crypto-shredding): erasure destroys the only key that opens a subject's
(or a library face's) templates, so copies the database cannot delete (dead tuples, WAL, backups,
replicas) go unreadable.

Each gallery subject gets a random 32-byte *data key*; its templates are sealed with it
(AES-256-GCM, as before, after the keyed transform). The data key is stored in ``subject_keys``
wrapped (AES-256-GCM, bound to the store and the subject id) by the *wrapping key* of the
subject's bucket (``subject id mod`` :data:`BUCKETS`). Wrapping keys live in the key file, never
in the database; ``key_buckets`` names the one each bucket uses.

A backup of the database holds the subject's wrapped data key too, so deleting it from the live
database is not enough: erasure also replaces the bucket's wrapping key, re-wraps the data keys
of the other subjects of the bucket under the new one, and removes the old wrapping key from the
key file once that has committed. From then on no key the operator holds opens the erased
subject's data key in any copy. The cost of keeping only :data:`BUCKETS` keys: a backup older than
an erasure can no longer open the data keys of the erased subject's bucket-mates either (their
live rows are re-wrapped; a restored backup must be re-enrolled for them).

The same machinery keys other owners of templates: a :class:`KeyTable` names where a kind of
owner's data keys and bucket keys live (the photo library's faces: ``face_keys`` and
``face_key_buckets``, registered by :mod:`faceprint.library.tables`), and
:meth:`SubjectKeys.for_table` gives its keys. Every kind has buckets of its own; all share the key file's wrapping keys.

Every change of the key file happens inside the store's write lock (SQLite's writer, PostgreSQL's
feed lock), before the transaction that names the new key commits, so a process that reads a key
id from ``key_buckets`` always finds it in the key file (re-read on a miss).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from ..errors import StoreError
from ..privacy import KeyFile, keys_by_id, open_sealed, seal, sealed_key_id
from .database import Connection, Database
from .schema import import_table_owners

__all__ = ["BUCKETS", "SUBJECTS", "KeyTable", "SubjectKeys", "key_tables", "register_key_table"]

#: Owners per wrapping key = owners / BUCKETS. An erasure re-wraps its bucket's data keys
#: (about N / 1024 rows) and replaces one key in the key file; all 1024 keys of a kind of owner
#: (about 45 KB) are made at its first data key, in one write of the key file.
BUCKETS: Final = 1024
#: Up to this many buckets are read one by one (an indexed row each); more, the whole table.
_FEW_BUCKETS: Final = 8


@dataclass(frozen=True)
class KeyTable:
    """Where one kind of owner's data keys live: ``keys`` (``<owner>_id``, ``bucket``, ``wrapped``)
    and ``buckets`` (``bucket``, ``key_id``: the wrapping key of each bucket). A data key is
    wrapped bound to ``<store id>:<owner>-key:<owner id>``."""

    owner: str
    keys: str
    buckets: str

    @property
    def column(self) -> str:
        return f"{self.owner}_id"


#: The gallery's subjects (schema step 4).
SUBJECTS: Final = KeyTable("subject", "subject_keys", "key_buckets")
_tables: dict[str, KeyTable] = {SUBJECTS.owner: SUBJECTS}


def register_key_table(table: KeyTable) -> None:
    """Another kind of owner with data keys (e.g. the photo library's faces; idempotent): pruning
    keeps its buckets' wrapping keys, storage-key rotation re-wraps its data keys."""
    _tables[table.owner] = table


def key_tables() -> list[KeyTable]:
    """Every kind of owner with data keys, after importing the modules that own tables."""
    import_table_owners()
    return list(_tables.values())


class _Pool:
    """The wrapping keys read from the key file, shared by every :class:`KeyTable` of a store."""

    def __init__(self, key_file: KeyFile, wrapping: Iterable[bytes]) -> None:
        self.key_file = key_file
        self.keys = keys_by_id(list(wrapping))
        self.lock = threading.Lock()


class SubjectKeys:
    """The data keys of one store's owners of one kind (the gallery's subjects unless ``table``
    says otherwise; :meth:`for_table` gives another kind's, sharing the wrapping keys). Thread-safe."""

    def __init__(
        self,
        store_id: str,
        key_file: KeyFile,
        wrapping: Iterable[bytes] = (),
        *,
        table: KeyTable = SUBJECTS,
        pool: _Pool | None = None,
    ) -> None:
        self.store_id = store_id
        self.key_file = key_file
        self.table = table
        self._shared = pool or _Pool(key_file, wrapping)
        self._views: dict[str, SubjectKeys] = {table.owner: self}

    def for_table(self, table: KeyTable) -> SubjectKeys:
        """The data keys of ``table``'s owners in the same store, with the same wrapping keys."""
        view = self._views.get(table.owner)
        if view is None:
            view = SubjectKeys(self.store_id, self.key_file, table=table, pool=self._shared)
            view._views = self._views
            self._views[table.owner] = view
        return view

    def _aad(self, owner_id: int) -> bytes:
        return f"{self.store_id}:{self.table.owner}-key:{owner_id}".encode()

    def _wrapping_key(self, key_id: str) -> bytes:
        shared = self._shared
        with shared.lock:
            key = shared.keys.get(key_id)
        if key is None:  # another process added it: re-read the key file
            pool = self.key_file.read().wrapping_keys
            with shared.lock:
                shared.keys = pool
            key = pool.get(key_id)
        if key is None:
            raise StoreError(
                f"the key file {self.key_file.path} lacks a {self.table.owner}-key wrapping key this "
                "store uses (wrong or outdated key file?)"
            )
        return key

    def _add_keys(self, count: int) -> list[tuple[str, bytes]]:
        """``count`` new wrapping keys, written to the key file in one atomic replacement (the
        caller holds the write lock)."""
        keys = [secrets.token_bytes(32) for _ in range(count)]
        keyring = self.key_file.update(lambda k: k.with_wrapping((*k.wrapping, *keys)))
        with self._shared.lock:
            self._shared.keys = keyring.wrapping_keys
        return list(keys_by_id(keys).items())

    def _named(self, conn: Connection, buckets: Iterable[int] | None = None) -> dict[int, str]:
        """Wrapping key ids by bucket: of ``buckets`` (a few; one indexed read each), else all."""
        sql = f"SELECT bucket, key_id FROM {self.table.buckets}"
        if buckets is None:
            return {int(r[0]): str(r[1]) for r in conn.execute(sql)}
        named: dict[int, str] = {}
        for b in buckets:
            row = conn.execute(f"{sql} WHERE bucket = ?", (b,)).fetchone()
            if row is not None:
                named[int(row[0])] = str(row[1])
        return named

    def _bucket_keys(self, conn: Connection, buckets: Iterable[int]) -> dict[int, str]:
        """The wrapping key ids of ``buckets`` (of every bucket when they are many), made for every
        bucket at once when one of them has none yet (the first owner of a kind: one key-file
        write, not 1,024)."""
        wanted = set(buckets)
        named = self._named(conn, wanted if len(wanted) <= _FEW_BUCKETS else None)
        if any(b not in named for b in wanted):
            named = self._named(conn)
            missing = [b for b in range(BUCKETS) if b not in named]
            made = self._add_keys(len(missing))
            conn.executemany(
                f"INSERT INTO {self.table.buckets} (bucket, key_id) VALUES (?, ?)",
                [(b, key_id) for b, (key_id, _) in zip(missing, made, strict=True)],
            )
            named |= {b: key_id for b, (key_id, _) in zip(missing, made, strict=True)}
        return named

    # -- creating and opening --------------------------------------------------------------------

    def create(self, conn: Connection, owner_id: int) -> bytes:
        """A new data key for ``owner_id``, stored wrapped (inside the caller's write transaction)."""
        return self.create_many(conn, [owner_id])[owner_id]

    def create_many(self, conn: Connection, owner_ids: list[int]) -> dict[int, bytes]:
        """:meth:`create` for many owners in one statement; their data keys by owner id."""
        data_keys = {oid: secrets.token_bytes(32) for oid in owner_ids}
        self.store_many(conn, data_keys)
        return data_keys

    def store_many(self, conn: Connection, data_keys: dict[int, bytes]) -> None:
        """Store the given data keys of new owners, wrapped, in one statement (for a row sealed
        under its key before its id was known)."""
        if not data_keys:
            return
        named = self._bucket_keys(conn, {oid % BUCKETS for oid in data_keys})
        conn.executemany(
            f"INSERT INTO {self.table.keys} ({self.table.column}, bucket, wrapped) VALUES (?, ?, ?)",
            [
                (oid, oid % BUCKETS, seal(self._wrapping_key(named[oid % BUCKETS]), key, self._aad(oid)))
                for oid, key in data_keys.items()
            ],
        )

    def unwrap(self, owner_id: int, wrapped: bytes) -> bytes:
        """A stored wrapped key -> the owner's data key."""
        blob = bytes(wrapped)
        key_id = sealed_key_id(blob)
        return open_sealed({key_id: self._wrapping_key(key_id)}, blob, self._aad(owner_id))

    def get(self, conn: Connection, owner_id: int) -> bytes | None:
        """The owner's data key, or ``None`` for one sealed the old way (storage key)."""
        row = conn.execute(
            f"SELECT wrapped FROM {self.table.keys} WHERE {self.table.column} = ?", (owner_id,)
        ).fetchone()
        return None if row is None else self.unwrap(owner_id, row[0])

    # -- erasure and rotation --------------------------------------------------------------------

    def shred(self, conn: Connection, owner_id: int) -> None:
        """Destroy ``owner_id``'s data key: delete the row and replace its bucket's wrapping key
        (the bucket-mates re-wrapped under the new one). The old key leaves the key file at
        :meth:`prune`, after the caller's transaction has committed."""
        self.shred_many(conn, [owner_id])

    def shred_many(self, conn: Connection, owner_ids: Iterable[int]) -> int:
        """:meth:`shred` for many owners: each bucket they fall in is re-keyed once (one key-file
        write for all). Returns the bucket-mates' keys re-wrapped."""
        ids = sorted({int(o) for o in owner_ids})
        if not ids:
            return 0
        conn.executemany(f"DELETE FROM {self.table.keys} WHERE {self.table.column} = ?", [(o,) for o in ids])
        return self._rekey(conn, sorted({o % BUCKETS for o in ids}))

    def rekey_all(self, conn: Connection) -> int:
        """A new wrapping key for every bucket (storage-key rotation); returns the keys re-wrapped."""
        return self._rekey(conn, sorted(self._named(conn)))

    def _rekey(self, conn: Connection, buckets: list[int]) -> int:
        named = self._named(conn)
        buckets = [b for b in buckets if b in named]
        if not buckets:
            return 0
        made = dict(zip(buckets, self._add_keys(len(buckets)), strict=True))
        keys, column = self.table.keys, self.table.column
        count = 0
        for bucket, (key_id, key) in made.items():
            rows = conn.execute(
                f"SELECT {column}, wrapped FROM {keys} WHERE bucket = ?", (bucket,)
            ).fetchall()
            conn.executemany(
                f"UPDATE {keys} SET wrapped = ? WHERE {column} = ?",
                [(seal(key, self.unwrap(int(oid), w), self._aad(int(oid))), int(oid)) for oid, w in rows],
            )
            conn.execute(f"UPDATE {self.table.buckets} SET key_id = ? WHERE bucket = ?", (key_id, bucket))
            count += len(rows)
        return count

    def prune(self, db: Database) -> int:
        """Remove from the key file every wrapping key no bucket of any kind of owner names (the
        replaced ones); returns how many. Under the write lock: no other writer is between adding a
        key and naming it."""
        tables = key_tables()

        def prune(conn: Connection) -> tuple[set[str], int]:
            named = {str(r[0]) for t in tables for r in conn.execute(f"SELECT key_id FROM {t.buckets}")}
            keyring = self.key_file.read()
            keep = tuple(k for i, k in keyring.wrapping_keys.items() if i in named)
            if len(keep) < len(keyring.wrapping):
                self.key_file.write(keyring.with_wrapping(keep))
            return named, len(keyring.wrapping) - len(keep)

        named, removed = db.transact(prune)  # retried after a transient failure
        shared = self._shared
        with shared.lock:
            shared.keys = {i: k for i, k in shared.keys.items() if i in named}
        return removed
