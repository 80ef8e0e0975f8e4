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

_MIGRATIONS: Final = {1: _V1, 2: _V2}
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
