"""The gallery's SQLite schema and its migrations (``PRAGMA user_version`` is the schema version)."""

from __future__ import annotations

import sqlite3
from typing import Final

from ..errors import StoreError

__all__ = ["SCHEMA_VERSION", "migrate"]

#: Templates are never stored without a subject; a subject never without a purpose. The
#: ``changes`` feed (ids only, never vectors) lets every vector index catch up incrementally.
_V1: Final = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE subjects (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    purpose      TEXT NOT NULL CHECK (length(purpose) > 0),
    evidence     TEXT,
    granted_at   TEXT NOT NULL,
    expires_at   TEXT,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
CREATE INDEX subjects_purpose ON subjects (purpose);
CREATE TABLE templates (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_id INTEGER NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    model_id   TEXT NOT NULL,
    vector     BLOB NOT NULL,
    source     TEXT NOT NULL,
    box        TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (subject_id, source)
);
CREATE TABLE changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    template_id INTEGER NOT NULL,
    op          TEXT NOT NULL CHECK (op IN ('add', 'remove'))
);
CREATE TABLE audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    operation TEXT NOT NULL,
    purpose   TEXT,
    subjects  TEXT NOT NULL DEFAULT '[]',
    results   INTEGER,
    detail    TEXT
);
CREATE INDEX audit_at ON audit (at);
"""

#: API keys of the HTTP service: only a scrypt hash of each key (and its salt) is stored; the
#: public ``key_id`` inside the key finds the row without trying every hash. A name is unique
#: among the keys not revoked; revoked keys stay for the audit trail.
_V2: Final = """
CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id     TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL CHECK (length(name) > 0),
    scopes     TEXT NOT NULL,
    salt       BLOB NOT NULL,
    hash       BLOB NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;
"""

#: Photo libraries (faceprint.library): photos by content hash, the paths they were seen at, the
#: faces found in them (box, landmarks, quality, sealed template) and the people the faces are
#: grouped into. Library faces are not gallery subjects: no consent rows, never searched 1:N.
#: ``face_not_person`` keeps the user's "this face is not that person" corrections. Portable SQL
#: (no SQLite-only types) so the PostgreSQL backend can run the same statements.
_V3: Final = """
CREATE TABLE photos (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    digest     TEXT NOT NULL UNIQUE,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    indexed_at TEXT NOT NULL
);
CREATE TABLE photo_paths (
    path     TEXT PRIMARY KEY,
    photo_id INTEGER NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    seen_at  TEXT NOT NULL
);
CREATE INDEX photo_paths_photo ON photo_paths (photo_id);
CREATE TABLE people (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT UNIQUE,
    pinned     INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE faces (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    photo_id   INTEGER NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
    box        TEXT NOT NULL,
    landmarks  TEXT NOT NULL,
    score      REAL NOT NULL,
    quality    REAL NOT NULL,
    reasons    TEXT NOT NULL,
    model_id   TEXT NOT NULL,
    vector     BLOB NOT NULL,
    person_id  INTEGER REFERENCES people (id) ON DELETE SET NULL,
    clustered  INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX faces_photo ON faces (photo_id);
CREATE INDEX faces_person ON faces (person_id);
CREATE TABLE face_not_person (
    face_id   INTEGER NOT NULL REFERENCES faces (id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    PRIMARY KEY (face_id, person_id)
);
"""

_MIGRATIONS: Final = {1: _V1, 2: _V2, 3: _V3}
SCHEMA_VERSION: Final = max(_MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION` inside the caller's write transaction."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"this store has schema version {version}, newer than this faceprint ({SCHEMA_VERSION}); "
            "upgrade faceprint"
        )
    for step in range(version + 1, SCHEMA_VERSION + 1):
        for statement in _MIGRATIONS[step].split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {step}")
    return SCHEMA_VERSION
