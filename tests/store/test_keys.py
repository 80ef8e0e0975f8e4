"""API keys: shown once, stored as a scrypt hash, scoped, revocable; schema migration 1 -> 2."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import faceprint
from faceprint import Store
from faceprint.errors import InvalidInput, NotFound
from faceprint.store.schema import _V1, SCHEMA_VERSION


def test_a_key_works_until_revoked_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    with faceprint.open_store(path) as store:
        record, secret = store.keys.create("camera-1", "search,detect")
        assert record.scopes == {"search", "detect"} and secret.startswith(f"fpk_{record.key_id}_")
        found = store.keys.authenticate(secret)
        assert found is not None and found.name == "camera-1"
        assert found.allows("search") and not found.allows("erase")
        assert store.keys.authenticate(secret) == found  # second time from the verified cache
        assert store.keys.authenticate(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
        assert store.keys.authenticate("fpk_nope_nope") is None and store.keys.authenticate("garbage") is None
        assert [k.name for k in store.keys.list()] == ["camera-1"]
        store.keys.revoke("camera-1")
        assert store.keys.authenticate(secret) is None
        assert store.keys.list() == [] and len(store.keys.list(include_revoked=True)) == 1
        assert [e.operation for e in store.audit()][:2] == ["key-revoke", "key-create"]
        store.db.checkpoint()
    secret_part = secret.split("_", 2)[2].encode()
    for file in tmp_path.iterdir():
        if file.is_file():
            assert secret_part not in file.read_bytes()


def test_admin_implies_every_scope_and_names_are_unique_among_active_keys(store: Store) -> None:
    admin, _ = store.keys.create("ops", ["admin"])
    assert all(admin.allows(s) for s in ("detect", "erase", "audit"))
    with pytest.raises(InvalidInput, match="exists"):
        store.keys.create("ops", "audit")
    store.keys.revoke("ops")
    assert store.keys.create("ops", "audit")[0].scopes == {"audit"}
    with pytest.raises(InvalidInput, match="unknown scopes"):
        store.keys.create("x", "search,root")
    with pytest.raises(InvalidInput, match="at least one scope"):
        store.keys.create("x", " , ")
    with pytest.raises(InvalidInput, match="key name"):
        store.keys.create("  ", "audit")
    with pytest.raises(NotFound):
        store.keys.revoke("nobody")


def test_a_version_1_store_is_migrated_to_version_2(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(_V1)
        conn.execute("PRAGMA user_version = 1")
    with faceprint.open_store(path) as store:
        store.keys.create("k", "audit")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 2
