"""Schema parts: the library's own schema steps, run by the store's migration machinery on both
databases.

Stores made before the library had steps of its own got its tables from the gallery's step 3 and
have no ``schema_version:library`` row: they must keep their photo-library data, and stores from
before the library existed must gain its tables.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from faceprint.errors import StoreError
from faceprint.library.tables import SCHEMA
from faceprint.store.database import Database, open_database
from faceprint.store.schema import _V1, _V2, SCHEMA_VERSION, postgres_ddl, schema_parts


def _raw(location: str | Path, *statements: str) -> None:
    """Run SQL on the database without faceprint (as older code left it, or as a test wants it)."""
    if isinstance(location, Path):
        with sqlite3.connect(location) as conn:
            for statement in statements:
                conn.execute(statement)
    else:
        with psycopg.connect(location, autocommit=False) as conn:
            for statement in statements:
                conn.execute(statement)


@contextmanager
def _opened(location: str | Path) -> Iterator[Database]:
    db = open_database(location)
    try:
        yield db
    finally:
        db.close()


def _library_version(db: Database) -> str | None:
    with db.read() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (SCHEMA.key,)).fetchone()
    return None if row is None else str(row[0])


def _add_library_rows(db: Database) -> None:
    with db.write() as conn:
        conn.execute("INSERT INTO photos (digest, width, height, indexed_at) VALUES ('d1', 640, 480, 't')")
        conn.execute("INSERT INTO people (name, created_at) VALUES ('Ann', 't')")
        photo = conn.execute("SELECT id FROM photos WHERE digest = 'd1'").fetchone()[0]
        person = conn.execute("SELECT id FROM people WHERE name = 'Ann'").fetchone()[0]
        conn.execute(
            "INSERT INTO photo_paths (path, photo_id, size, mtime_ns, seen_at) VALUES ('/a.jpg', ?, 1, 2, 't')",
            (photo,),
        )
        conn.execute(
            "INSERT INTO faces (photo_id, box, landmarks, score, quality, reasons, model_id, vector, "
            "person_id, created_at) VALUES (?, '[]', '[]', 0.9, 0.8, '[]', 'm', ?, ?, 't')",
            (photo, b"sealed", person),
        )


def _library_rows(db: Database) -> list[tuple[object, ...]]:
    with db.read() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                "SELECT p.digest, pp.path, f.vector, pe.name FROM faces f JOIN photos p ON p.id = f.photo_id "
                "JOIN photo_paths pp ON pp.photo_id = p.id JOIN people pe ON pe.id = f.person_id"
            ).fetchall()
        ]


def test_the_library_registers_its_schema_with_the_store() -> None:
    assert SCHEMA in schema_parts()
    assert SCHEMA.tables == (
        "photos",
        "photo_paths",
        "people",
        "faces",
        "face_not_person",
        "face_keys",
        "face_key_buckets",
    )


def test_a_new_store_records_the_library_schema(store_location: str | Path) -> None:
    with _opened(store_location) as db:
        assert db.schema_version() == SCHEMA_VERSION
        assert _library_version(db) == str(SCHEMA.version)


def test_a_store_made_before_the_library_had_its_own_steps_keeps_its_photo_library(
    store_location: str | Path,
) -> None:
    with _opened(store_location) as db:
        _add_library_rows(db)
        before = _library_rows(db)
    # what older faceprint left: the same tables (its step 3), no version row of the library's,
    # no face keys (library step 2)
    _raw(
        store_location,
        f"DELETE FROM meta WHERE key = '{SCHEMA.key}'",
        "DROP TABLE face_keys",
        "DROP TABLE face_key_buckets",
    )
    with _opened(store_location) as db:  # creating the tables again would fail: they are adopted
        assert _library_version(db) == str(SCHEMA.version)
        assert _library_rows(db) == before != []
        assert [r[1] for r in before] == ["/a.jpg"]


def test_a_store_from_before_the_photo_library_gains_its_tables(store_location: str | Path) -> None:
    if isinstance(store_location, Path):  # an old SQLite file, written with schema 2's own DDL
        with sqlite3.connect(store_location) as conn:
            conn.executescript(_V1 + _V2)
            conn.execute("PRAGMA user_version = 2")
    else:  # a PostgreSQL database taken back to schema 2
        with _opened(store_location) as db:
            pass
        tables = ", ".join([*SCHEMA.tables, "subject_keys", "key_buckets"])
        _raw(
            store_location,
            f"DROP TABLE {tables} CASCADE",
            "UPDATE faceprint_schema SET version = 2",
            f"DELETE FROM meta WHERE key = '{SCHEMA.key}'",
        )
    _raw(
        store_location,
        "INSERT INTO subjects (name, purpose, granted_at, created_at, last_seen_at) "
        "VALUES ('alice', 'door', 't', 't', 't')",
    )
    with _opened(store_location) as db:
        assert db.schema_version() == SCHEMA_VERSION
        assert _library_version(db) == str(SCHEMA.version)
        _add_library_rows(db)
        assert len(_library_rows(db)) == 1
        with db.read() as conn:
            assert [tuple(r) for r in conn.execute("SELECT name FROM subjects").fetchall()] == [("alice",)]


def test_a_library_schema_newer_than_the_code_is_refused(store_location: str | Path) -> None:
    with _opened(store_location):
        pass
    _raw(store_location, f"UPDATE meta SET value = '{SCHEMA.version + 1}' WHERE key = '{SCHEMA.key}'")
    with pytest.raises(StoreError, match=f"library schema version {SCHEMA.version + 1}, newer than this"):
        open_database(store_location)


def test_postgres_ddl_translates_sqlite_types_as_the_hand_written_steps_do() -> None:
    sqlite = (
        "CREATE TABLE t (\n"
        "    id    INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "    owner INTEGER NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,\n"
        "    face  INTEGER PRIMARY KEY REFERENCES faces (id),\n"
        "    maybe INTEGER REFERENCES people (id),\n"
        "    count INTEGER NOT NULL,\n"
        "    blob  BLOB NOT NULL,\n"
        "    score REAL NOT NULL,\n"
        "    realm TEXT\n"
        ");"
    )
    assert postgres_ddl(sqlite) == (
        "CREATE TABLE t (\n"
        "    id    BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n"
        "    owner BIGINT NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,\n"
        "    face  BIGINT PRIMARY KEY REFERENCES faces (id),\n"
        "    maybe BIGINT REFERENCES people (id),\n"
        "    count INTEGER NOT NULL,\n"
        "    blob  BYTEA NOT NULL,\n"
        "    score DOUBLE PRECISION NOT NULL,\n"
        "    realm TEXT\n"
        ");"
    )
