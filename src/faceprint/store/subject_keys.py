"""Per-subject data keys (crypto-shredding): erasure destroys the only key that opens a subject's
templates, so copies the database cannot delete (dead tuples, WAL, backups, replicas) go unreadable.

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

Every change of the key file happens inside the store's write lock (SQLite's writer, PostgreSQL's
feed lock), before the transaction that names the new key commits, so a process that reads a key
id from ``key_buckets`` always finds it in the key file (re-read on a miss).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable
from typing import Final

from ..errors import StoreError
from ..privacy import KeyFile, keys_by_id, open_sealed, seal, sealed_key_id
from .database import Connection, Database

__all__ = ["BUCKETS", "SubjectKeys"]

#: Subjects per wrapping key = subjects / BUCKETS. An erasure re-wraps its bucket's data keys
#: (about N / 1024 rows) and replaces one key in the key file; all 1024 keys (about 45 KB) are made
#: at the first enrolment, in one write of the key file.
BUCKETS: Final = 1024


class SubjectKeys:
    """The data keys of one store's subjects. Thread-safe."""

    def __init__(self, store_id: str, key_file: KeyFile, wrapping: Iterable[bytes] = ()) -> None:
        self.store_id = store_id
        self.key_file = key_file
        self._pool = keys_by_id(list(wrapping))
        self._lock = threading.Lock()

    def _aad(self, subject_id: int) -> bytes:
        return f"{self.store_id}:subject-key:{subject_id}".encode()

    def _wrapping_key(self, key_id: str) -> bytes:
        with self._lock:
            key = self._pool.get(key_id)
        if key is None:  # another process added it: re-read the key file
            pool = self.key_file.read().wrapping_keys
            with self._lock:
                self._pool = pool
            key = pool.get(key_id)
        if key is None:
            raise StoreError(
                f"the key file {self.key_file.path} lacks a subject-key wrapping key this store uses "
                "(wrong or outdated key file?)"
            )
        return key

    def _add_keys(self, count: int) -> list[tuple[str, bytes]]:
        """``count`` new wrapping keys, written to the key file in one atomic replacement (the
        caller holds the write lock)."""
        keys = [secrets.token_bytes(32) for _ in range(count)]
        keyring = self.key_file.update(lambda k: k.with_wrapping((*k.wrapping, *keys)))
        with self._lock:
            self._pool = keyring.wrapping_keys
        return list(keys_by_id(keys).items())

    def _bucket_key(self, conn: Connection, bucket: int) -> tuple[str, bytes]:
        row = conn.execute("SELECT key_id FROM key_buckets WHERE bucket = ?", (bucket,)).fetchone()
        if row is not None:
            return str(row[0]), self._wrapping_key(str(row[0]))
        # the first subject of a store: every bucket's key at once (one key-file write, not 1,024)
        named = {int(r[0]) for r in conn.execute("SELECT bucket FROM key_buckets")}
        missing = [b for b in range(BUCKETS) if b not in named]
        made = self._add_keys(len(missing))
        conn.executemany(
            "INSERT INTO key_buckets (bucket, key_id) VALUES (?, ?)",
            [(b, key_id) for b, (key_id, _) in zip(missing, made, strict=True)],
        )
        return made[missing.index(bucket)]

    # -- one subject -----------------------------------------------------------------------------

    def create(self, conn: Connection, subject_id: int) -> bytes:
        """A new data key for ``subject_id``, stored wrapped (inside the caller's write transaction)."""
        data_key = secrets.token_bytes(32)
        bucket = subject_id % BUCKETS
        _, wrapping = self._bucket_key(conn, bucket)
        conn.execute(
            "INSERT INTO subject_keys (subject_id, bucket, wrapped) VALUES (?, ?, ?)",
            (subject_id, bucket, seal(wrapping, data_key, self._aad(subject_id))),
        )
        return data_key

    def create_many(self, conn: Connection, subject_ids: list[int]) -> dict[int, bytes]:
        """:meth:`create` for many subjects in one statement; their data keys by subject id."""
        named = {int(r[0]): str(r[1]) for r in conn.execute("SELECT bucket, key_id FROM key_buckets")}
        missing = [sid % BUCKETS for sid in subject_ids if sid % BUCKETS not in named]
        if missing:
            self._bucket_key(conn, missing[0])  # makes every missing bucket's key
            named = {int(r[0]): str(r[1]) for r in conn.execute("SELECT bucket, key_id FROM key_buckets")}
        data_keys = {sid: secrets.token_bytes(32) for sid in subject_ids}
        conn.executemany(
            "INSERT INTO subject_keys (subject_id, bucket, wrapped) VALUES (?, ?, ?)",
            [
                (sid, sid % BUCKETS, seal(self._wrapping_key(named[sid % BUCKETS]), key, self._aad(sid)))
                for sid, key in data_keys.items()
            ],
        )
        return data_keys

    def unwrap(self, subject_id: int, wrapped: bytes) -> bytes:
        """A stored wrapped key -> the subject's data key."""
        blob = bytes(wrapped)
        key_id = sealed_key_id(blob)
        return open_sealed({key_id: self._wrapping_key(key_id)}, blob, self._aad(subject_id))

    def get(self, conn: Connection, subject_id: int) -> bytes | None:
        """The subject's data key, or ``None`` for a subject sealed the old way (storage key)."""
        row = conn.execute("SELECT wrapped FROM subject_keys WHERE subject_id = ?", (subject_id,)).fetchone()
        return None if row is None else self.unwrap(subject_id, row[0])

    # -- erasure and rotation --------------------------------------------------------------------

    def shred(self, conn: Connection, subject_id: int) -> None:
        """Destroy ``subject_id``'s data key: delete the row and replace its bucket's wrapping key
        (the bucket-mates re-wrapped under the new one). The old key leaves the key file at
        :meth:`prune`, after the caller's transaction has committed."""
        conn.execute("DELETE FROM subject_keys WHERE subject_id = ?", (subject_id,))
        self._rekey(conn, [subject_id % BUCKETS])

    def rekey_all(self, conn: Connection) -> int:
        """A new wrapping key for every bucket (storage-key rotation); returns the keys re-wrapped."""
        return self._rekey(conn, [int(r[0]) for r in conn.execute("SELECT bucket FROM key_buckets")])

    def _rekey(self, conn: Connection, buckets: list[int]) -> int:
        named = {int(r[0]) for r in conn.execute("SELECT bucket FROM key_buckets")}
        buckets = [b for b in buckets if b in named]
        if not buckets:
            return 0
        made = dict(zip(buckets, self._add_keys(len(buckets)), strict=True))
        count = 0
        for bucket, (key_id, key) in made.items():
            rows = conn.execute(
                "SELECT subject_id, wrapped FROM subject_keys WHERE bucket = ?", (bucket,)
            ).fetchall()
            conn.executemany(
                "UPDATE subject_keys SET wrapped = ? WHERE subject_id = ?",
                [(seal(key, self.unwrap(int(sid), w), self._aad(int(sid))), int(sid)) for sid, w in rows],
            )
            conn.execute("UPDATE key_buckets SET key_id = ? WHERE bucket = ?", (key_id, bucket))
            count += len(rows)
        return count

    def prune(self, db: Database) -> int:
        """Remove from the key file every wrapping key no bucket names (the replaced ones); returns
        how many. Under the write lock: no other writer is between adding a key and naming it."""

        def prune(conn: Connection) -> tuple[set[str], int]:
            named = {str(r[0]) for r in conn.execute("SELECT key_id FROM key_buckets")}
            keyring = self.key_file.read()
            keep = tuple(k for i, k in keyring.wrapping_keys.items() if i in named)
            if len(keep) < len(keyring.wrapping):
                self.key_file.write(keyring.with_wrapping(keep))
            return named, len(keyring.wrapping) - len(keep)

        named, removed = db.transact(prune)  # retried after a transient failure
        with self._lock:
            self._pool = {i: k for i, k in self._pool.items() if i in named}
        return removed
