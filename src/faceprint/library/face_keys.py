"""Per-face data keys of the photo library (crypto-shredding, as the gallery's subjects have).

A person is a set of faces that clustering groups and regroups, so the unit keyed is the face:
each face's template is sealed under a random data key of its own, kept in ``face_keys`` wrapped
by its bucket's wrapping key (``face_key_buckets``; the key file holds the wrapping keys), bound
to the store and the face id (:class:`~faceprint.store.subject_keys.SubjectKeys` with the
:data:`FACES` table). Erasing a person, or dropping a photo no path leads to any more, destroys
its faces' data keys in the transaction that deletes the rows and replaces their buckets'
wrapping keys, so copies of the database (WAL, dead tuples, backups, replicas) no longer open
those faces with any key the operator holds. Faces written with ``subject_keys`` off, or before
library schema step 2, are under the storage key until the store is next opened with it on.

Imports nothing but the store's modules (the store imports it, through
:mod:`~faceprint.library.tables`, without the engine).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from ..store.database import Connection, Database
from ..store.protection import Protector
from ..store.subject_keys import KeyTable, SubjectKeys

__all__ = [
    "FACES",
    "FACE_VECTORS",
    "adopt_face_keys",
    "face_keys",
    "new_face_key",
    "open_faces",
    "reseal_faces",
    "shred_faces",
    "store_face_keys",
]

#: Where the faces' data keys live (library schema step 2).
FACES: Final = KeyTable("face", "face_keys", "face_key_buckets")

#: The columns :func:`open_faces` takes (face id, sealed template, wrapped data key or NULL), from
#: ``faces f``; add a WHERE / ORDER BY.
FACE_VECTORS: Final = (
    "SELECT f.id, f.vector, k.wrapped FROM faces f LEFT JOIN face_keys k ON k.face_id = f.id"
)


def face_keys(protector: Protector) -> SubjectKeys:
    """The store's face data keys (sharing the gallery's wrapping keys from the key file)."""
    return protector.subjects.for_table(FACES)


def new_face_key(protector: Protector) -> bytes | None:
    """A data key for a new face; ``None`` (the storage key) when the store runs with keys off."""
    return secrets.token_bytes(32) if protector.subject_keys else None


def store_face_keys(conn: Connection, protector: Protector, keys: dict[int, bytes | None]) -> None:
    """Store the data keys of faces just inserted (face id -> key; ``None``: none), wrapped."""
    face_keys(protector).store_many(conn, {f: k for f, k in keys.items() if k is not None})


def open_faces(protector: Protector, rows: Sequence[Sequence[Any]]) -> NDArray[np.float32]:
    """Rows of :data:`FACE_VECTORS` -> their protected templates (``Q x``), one row each."""
    keys = face_keys(protector)
    vectors = [
        protector.open_protected(blob, None if wrapped is None else keys.unwrap(int(face_id), wrapped))
        for face_id, blob, wrapped in rows
    ]
    return np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, 0), dtype=np.float32)


def shred_faces(conn: Connection, protector: Protector, where: str, params: Sequence[Any] = ()) -> int:
    """Destroy the data keys of the faces ``where`` selects (a condition on ``faces f``), each of
    their buckets re-keyed once; the caller deletes the rows in the same transaction, and calls
    ``protector.subjects.prune`` once it has committed. Returns the keys destroyed."""
    ids = [
        int(r[0])
        for r in conn.execute(
            f"SELECT k.face_id FROM face_keys k JOIN faces f ON f.id = k.face_id WHERE {where}", tuple(params)
        ).fetchall()
    ]
    face_keys(protector).shred_many(conn, ids)
    return len(ids)


def reseal_faces(conn: Connection, old: Protector, new: Protector) -> int:
    """Key rotation: the library's face templates re-sealed (and re-transformed) like the
    gallery's, each under its own data key (re-wrapped by the rotation) or the new storage key."""
    keys = face_keys(old)
    count = 0
    for face_id, blob, wrapped in conn.execute(FACE_VECTORS).fetchall():
        data_key = None if wrapped is None else keys.unwrap(int(face_id), wrapped)
        conn.execute(
            "UPDATE faces SET vector = ? WHERE id = ?", (old.reseal(blob, new, None, data_key), face_id)
        )
        count += 1
    return count


def adopt_face_keys(db: Database, protector: Protector) -> int:
    """Give every face without a data key one, its template re-sealed under it (libraries made
    before library schema step 2, or with ``subject_keys`` off), in one transaction; no
    re-detection. Returns the faces migrated; one read when there is nothing to do."""
    if not protector.subject_keys:
        return 0
    sql = f"{FACE_VECTORS} WHERE k.face_id IS NULL"
    with db.read() as conn:
        if conn.execute(sql + " LIMIT 1").fetchone() is None:
            return 0

    def adopt(conn: Connection) -> int:
        rows = conn.execute(sql + " ORDER BY f.id").fetchall()
        keys = {int(face_id): secrets.token_bytes(32) for face_id, _, _ in rows}
        for face_id, blob, _ in rows:
            protected = protector.open_protected(blob)
            sealed = protector.seal_protected(protected, keys[int(face_id)])
            conn.execute("UPDATE faces SET vector = ? WHERE id = ?", (sealed, face_id))
        face_keys(protector).store_many(conn, dict(keys))
        if rows:  # when and how many, never which
            conn.execute(
                "INSERT INTO audit (at, actor, operation, purpose, subjects, results, detail) "
                "VALUES (?, 'faceprint', 'migrate-face-keys', NULL, '[]', ?, ?)",
                (datetime.now(UTC).isoformat(timespec="microseconds"), len(rows), "per-face data keys"),
            )
        return len(rows)

    return int(db.transact(adopt))  # retried after a transient failure
