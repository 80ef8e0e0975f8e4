from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import faceprint
from faceprint.errors import StoreError
from faceprint.store.schema import SCHEMA_VERSION
from faceprint.store.sqlite import Database


def test_pragmas_are_asserted_on_every_connection(tmp_path: Path) -> None:
    db = Database(tmp_path / "g.db")
    with db.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_a_store_from_a_newer_faceprint_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    Database(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer"):
        faceprint.open_store(path)
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "photo.db"
    path.write_bytes(b"\xff\xd8\xff\xe0 this is a jpeg, not a database" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"photo\.db"):
        faceprint.open_store(path)
    assert path.read_bytes() == before


def test_failed_write_rolls_back(tmp_path: Path) -> None:
    db = Database(tmp_path / "g.db")
    with pytest.raises(RuntimeError), db.write() as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
        raise RuntimeError("boom")
    with db.read() as conn:
        assert conn.execute("SELECT count(*) FROM meta WHERE key = 'x'").fetchone()[0] == 0
    with pytest.raises(StoreError, match="nothing was changed"), db.write() as conn:
        conn.execute(
            "INSERT INTO subjects (name, purpose, granted_at, created_at, last_seen_at) "
            "VALUES ('a', '', 'now', 'now', 'now')"
        )
    db.close()
    with pytest.raises(StoreError, match="closed"), db.read():
        pass
