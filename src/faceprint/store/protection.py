"""How a store protects its templates: which keys, checked at open, used for every row and index file.

Every template is stored as ``AES-256-GCM(Q x)``: ``Q`` the store's keyed orthogonal transform,
``x`` the engine's template, sealed with its owner's data key (:mod:`.subject_keys`: a gallery
subject's, a photo-library face's; those written with ``subject_keys`` off, with the current
storage key) and bound to the store's id. The database's ``meta`` table names the key ids in use
(never the keys) and holds a sealed check value, so a wrong key file is refused at open before
anything is written.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import StoreError
from ..privacy import KeyFile, Keyring, TemplateTransform, keys_by_id, open_sealed, seal, sealed_key_id
from .database import Connection, Database
from .schema import import_table_owners
from .subject_keys import SubjectKeys

__all__ = [
    "Adopter",
    "Protector",
    "Resealer",
    "adopters",
    "key_file_path",
    "register_adopter",
    "register_resealer",
    "resealers",
]

_CHECK = b"faceprint key check"

#: Re-seals one table's templates from the old protector to the new one inside the rotation's
#: transaction; returns the rows rewritten.
Resealer = Callable[[Connection, "Protector", "Protector"], int]
_resealers: dict[str, Resealer] = {}
#: Gives the rows of one table that have no data key yet one (re-sealing them under it) when a
#: store opens with ``subject_keys`` on; returns the rows migrated (one read when none).
Adopter = Callable[[Database, "Protector"], int]
_adopters: dict[str, Adopter] = {}


def register_resealer(table: str, resealer: Resealer) -> None:
    """Have every key rotation re-seal ``table`` with ``resealer`` (idempotent per table)."""
    _resealers[table] = resealer


def resealers() -> dict[str, Resealer]:
    """The registered re-sealers by table, after importing every module that owns tables
    (``schema.TABLE_OWNERS``), so that no table is left sealed under a destroyed key whoever
    opened the store."""
    import_table_owners()
    return dict(_resealers)


def register_adopter(table: str, adopter: Adopter) -> None:
    """Have every store opened with ``subject_keys`` on run ``adopter`` (idempotent per table)."""
    _adopters[table] = adopter


def adopters() -> dict[str, Adopter]:
    """The registered adopters by table, after importing every module that owns tables."""
    import_table_owners()
    return dict(_adopters)


def key_file_path(store: Path | str, configured: str) -> Path:
    """The key file: ``configured`` (``FACEPRINT_KEY_FILE``), else ``<store>.key`` beside a SQLite
    database, else (PostgreSQL, ``store`` its URL without password) a file per server and
    database under ``$XDG_DATA_HOME/faceprint/postgres/``. Replicas on several hosts need the
    same key file: set ``FACEPRINT_KEY_FILE`` to a copy of it (a secrets mount) on each host."""
    if configured:
        return Path(configured)
    if isinstance(store, Path):
        return store.with_name(store.name + ".key")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    digest = hashlib.sha256(store.encode()).hexdigest()[:16]
    return Path(base) / "faceprint" / "postgres" / f"{digest}.key"


class Protector:
    """The keys of one open store and the operations that use them."""

    def __init__(
        self,
        store_id: str,
        keyring: Keyring,
        key_file: KeyFile,
        *,
        subject_keys: bool = True,
        subjects: SubjectKeys | None = None,
    ) -> None:
        self.store_id = store_id
        self.keyring = keyring
        self.key_file = key_file
        #: Seal new subjects' templates under data keys of their own (the default; off = the old
        #: sealing under the storage key, kept for comparison and for stores that must not change).
        self.subject_keys = subject_keys
        self.subjects = subjects or SubjectKeys(store_id, key_file, keyring.wrapping)
        self._transforms: dict[int, TemplateTransform] = {}

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, db: Database, key_file: KeyFile, *, subject_keys: bool = True) -> Protector:
        """The protector of ``db``: keys from ``key_file`` (created for a new store), checked."""
        meta = _meta(db)
        if "store_id" not in meta:
            protector = cls._initialise(db, key_file)
            protector.subject_keys = subject_keys
            return protector
        if not key_file.exists():
            raise StoreError(
                f"the key file {key_file.path} is missing; this store's templates cannot be read without it "
                "(set FACEPRINT_KEY_FILE to where it is)"
            )
        # never rewrite the key file here: a rotation in another process may be adding a key to it
        keyring = cls._select(key_file.read(), meta, key_file)
        return cls(meta["store_id"], keyring, key_file, subject_keys=subject_keys)

    @staticmethod
    def _select(keyring: Keyring, meta: dict[str, str], key_file: KeyFile) -> Keyring:
        storage = keyring.storage_keys.get(meta["storage_key_id"])
        template = next(
            (
                t
                for t in keyring.template
                if TemplateTransform.from_secret(t, 1).key_id == meta["template_key_id"]
            ),
            None,
        )
        if storage is None or template is None:
            raise StoreError(
                f"the key file {key_file.path} does not hold this store's keys (wrong key file?); nothing was changed"
            )
        chosen = Keyring(storage=(storage,), template=(template,), wrapping=keyring.wrapping)
        try:
            chosen.open(base64.b64decode(meta["key_check"]), meta["store_id"].encode())
        except StoreError:
            raise StoreError(
                f"the key file {key_file.path} does not open this store; nothing was changed"
            ) from None
        return chosen

    @classmethod
    def _initialise(cls, db: Database, key_file: KeyFile) -> Protector:
        keyring = key_file.read() if key_file.exists() else key_file.create(Keyring.generate())
        keyring = Keyring(
            storage=keyring.storage[:1], template=keyring.template[:1], wrapping=keyring.wrapping
        )
        with db.write() as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if "store_id" in meta:  # another process initialised it first
                return cls(meta["store_id"], cls._select(key_file.read(), meta, key_file), key_file)
            store_id = uuid.uuid4().hex
            protector = cls(store_id, keyring, key_file)
            check = keyring.seal(_CHECK, store_id.encode())
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("store_id", store_id),
                    ("storage_key_id", keyring.storage_key_id),
                    ("template_key_id", protector.template_key_id),
                    ("key_check", base64.b64encode(check).decode()),
                ],
            )
            if "model_id" in meta:  # templates written before encryption existed
                raise StoreError(
                    "this store was written by a faceprint without template encryption; enrol its subjects "
                    "into a new store"
                )
        return protector

    # -- per template --------------------------------------------------------------------------

    @property
    def aad(self) -> bytes:
        return self.store_id.encode()

    @property
    def index_aad(self) -> bytes:
        """Binds the index file to this store and this template key: a stale one fails to open."""
        return f"{self.store_id}:index:{self.template_key_id}".encode()

    @functools.cached_property
    def template_key_id(self) -> str:
        return TemplateTransform.from_secret(self.keyring.template[0], 1).key_id

    def transform(self, dim: int) -> TemplateTransform:
        if dim not in self._transforms:
            self._transforms[dim] = self.keyring.transform(dim)
        return self._transforms[dim]

    def protect(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        """Engine templates (rows) -> the store's template space."""
        return self.transform(vectors.shape[-1]).protect(vectors)

    def seal_vector(self, vector: NDArray[np.float32], data_key: bytes | None = None) -> bytes:
        """An engine template -> the bytes stored for it (under ``data_key``, else the storage key)."""
        return self.seal_protected(self.protect(np.asarray(vector, dtype=np.float32)[None, :])[0], data_key)

    def seal_protected(self, protected: NDArray[np.float32], data_key: bytes | None = None) -> bytes:
        """A template already in the store's space (``Q x``) -> the bytes stored for it."""
        return self._seal(np.ascontiguousarray(protected, dtype="<f4").tobytes(), data_key)

    def _seal(self, plaintext: bytes, data_key: bytes | None) -> bytes:
        if data_key is None:
            return self.keyring.seal(plaintext, self.aad)
        return seal(data_key, plaintext, self.aad)

    def _open(self, blob: bytes, data_key: bytes | None) -> bytes:
        """Either key may have sealed a row: a subject's older rows can predate its data key."""
        keys = self.keyring.storage_keys
        if data_key is not None:
            keys |= keys_by_id([data_key])
        return open_sealed(keys, bytes(blob), self.aad)

    def open_vector(self, blob: bytes, dim: int, data_key: bytes | None = None) -> NDArray[np.float32]:
        """Stored bytes -> the protected template (``Q x``), as the index holds it."""
        vector = np.frombuffer(self._open(blob, data_key), dtype="<f4")
        if vector.shape != (dim,):
            raise StoreError(f"a stored template has {vector.size} values, expected {dim}")
        return vector.astype(np.float32)

    # -- rotation ------------------------------------------------------------------------------

    def rotated(self, *, storage: bool, template: bool) -> Protector:
        """A protector with a new storage and/or template key (the key file is not touched)."""
        fresh = Keyring.generate()
        keyring = Keyring(
            storage=fresh.storage if storage else self.keyring.storage,
            template=fresh.template if template else self.keyring.template,
            wrapping=self.keyring.wrapping,
        )
        return Protector(
            self.store_id, keyring, self.key_file, subject_keys=self.subject_keys, subjects=self.subjects
        )

    def reprotect(self, conn: Connection, new: Protector, dim: int) -> int:
        """Re-seal (and re-transform) every template from this protector's keys to ``new``'s, in
        the caller's transaction — the gallery's and every registered table's (:func:`resealers`) —
        and name the new keys in ``meta``. Returns the rows rewritten."""
        count = 0
        data_keys: dict[int, bytes] = {}
        rows = conn.execute(
            "SELECT t.id, t.vector, t.subject_id, k.wrapped FROM templates t "
            "LEFT JOIN subject_keys k ON k.subject_id = t.subject_id"
        ).fetchall()
        for template_id, blob, subject_id, wrapped in rows:
            data_key = None
            if wrapped is not None:
                if subject_id not in data_keys:
                    data_keys[subject_id] = self.subjects.unwrap(int(subject_id), wrapped)
                data_key = data_keys[subject_id]
            sealed = self.reseal(blob, new, dim, data_key)
            conn.execute("UPDATE templates SET vector = ? WHERE id = ?", (sealed, template_id))
            count += 1
        for resealer in resealers().values():
            count += resealer(conn, self, new)
        check = new.keyring.seal(_CHECK, new.aad)
        for key, value in (
            ("storage_key_id", new.keyring.storage_key_id),
            ("template_key_id", new.template_key_id),
            ("key_check", base64.b64encode(check).decode()),
        ):
            conn.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
        return count

    def open_protected(self, blob: bytes, data_key: bytes | None = None) -> NDArray[np.float32]:
        """Stored bytes -> the protected template (``Q x``), whatever its length."""
        return np.frombuffer(self._open(blob, data_key), dtype="<f4").astype(np.float32)

    def reseal(
        self, blob: bytes, new: Protector, dim: int | None = None, data_key: bytes | None = None
    ) -> bytes:
        """Bytes sealed by this protector -> the same template sealed (and transformed) by ``new``:
        under the same data key when one sealed it, else under ``new``'s storage key."""
        protected = (
            self.open_protected(blob, data_key) if dim is None else self.open_vector(blob, dim, data_key)
        )
        if new.template_key_id != self.template_key_id:
            size = protected.shape[0]
            engine_space = self.transform(size).unprotect(protected[None, :])
            protected = new.transform(size).protect(engine_space)[0]
        plaintext = np.ascontiguousarray(protected, dtype="<f4").tobytes()
        own = data_key is not None and sealed_key_id(bytes(blob)) in keys_by_id([data_key])
        return new._seal(plaintext, data_key if own else None)

    def adopt_subject_keys(self, db: Database) -> int:
        """Give every subject without a data key one, its templates re-sealed under it, in one
        transaction (stores made before schema 4, or with ``subject_keys`` off); returns the
        subjects migrated. Nothing to do (one read) when every subject has its key."""
        if not self.subject_keys:
            return 0
        sql = (
            "SELECT s.id FROM subjects s LEFT JOIN subject_keys k ON k.subject_id = s.id "
            "WHERE k.subject_id IS NULL ORDER BY s.id"
        )
        with db.read() as conn:
            if conn.execute(sql + " LIMIT 1").fetchone() is None:
                return 0

        def adopt(conn: Connection) -> int:
            ids = [int(r[0]) for r in conn.execute(sql).fetchall()]
            for subject_id in ids:
                data_key = self.subjects.create(conn, subject_id)
                rows = conn.execute("SELECT id, vector FROM templates WHERE subject_id = ?", (subject_id,))
                for template_id, blob in rows.fetchall():
                    plaintext = self._open(blob, None)
                    conn.execute(
                        "UPDATE templates SET vector = ? WHERE id = ?",
                        (self._seal(plaintext, data_key), template_id),
                    )
            if ids:  # the audit trail says when and how many (never who: names stay out of it)
                conn.execute(
                    "INSERT INTO audit (at, actor, operation, purpose, subjects, results, detail) "
                    "VALUES (?, 'faceprint', 'migrate-subject-keys', NULL, '[]', ?, ?)",
                    (datetime.now(UTC).isoformat(timespec="microseconds"), len(ids), "per-subject data keys"),
                )
            return len(ids)

        return db.transact(adopt)  # retried after a transient failure

    def adopt_owner_keys(self, db: Database) -> int:
        """:meth:`adopt_subject_keys`, then every registered table's :data:`Adopter` (the photo
        library's faces); returns the rows migrated."""
        if not self.subject_keys:
            return 0
        return self.adopt_subject_keys(db) + sum(a(db, self) for a in adopters().values())

    def key_ids(self) -> tuple[str, str]:
        return self.keyring.storage_key_id, self.template_key_id


def _meta(db: Database) -> dict[str, str]:
    with db.read() as conn:
        return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}


def stored_key_ids(db: Database) -> tuple[str | None, str | None]:
    """The key ids the database names now (another process may have rotated them)."""
    with db.read() as conn:
        return key_ids_in(conn)


def key_ids_in(conn: Any) -> tuple[str | None, str | None]:
    """:func:`stored_key_ids`, read inside a transaction the caller holds."""
    rows = conn.execute(
        "SELECT key, value FROM meta WHERE key IN ('storage_key_id', 'template_key_id')"
    ).fetchall()
    meta = {str(k): str(v) for k, v in rows}
    return meta.get("storage_key_id"), meta.get("template_key_id")
