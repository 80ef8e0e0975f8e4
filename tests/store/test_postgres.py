"""PostgreSQL as the shared store: schema versions, the change feed across processes, outages.

Everything here runs against real PostgreSQL servers started by scripts/postgres.sh.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

import faceprint
from faceprint.errors import StoreError, StoreUnavailable
from faceprint.store import Sample
from faceprint.store.index_cache import IndexCache
from faceprint.store.schema import SCHEMA_VERSION
from tests.postgres import Cluster


def test_a_schema_newer_than_the_code_is_refused(store_location: str | Path) -> None:
    with faceprint.open_store(store_location) as store:
        assert store.db.schema_version() == SCHEMA_VERSION
    if isinstance(store_location, Path):
        with sqlite3.connect(store_location) as conn:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    else:
        with psycopg.connect(store_location, autocommit=True) as conn:
            conn.execute("UPDATE faceprint_schema SET version = version + 1")
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this faceprint"):
        faceprint.open_store(store_location)


def test_store_migrate_reports_the_version(
    store_location: str | Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEPRINT_STORE", str(store_location))
    done = subprocess.run(
        [sys.executable, "-m", "faceprint", "store", "migrate"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert f"schema version {SCHEMA_VERSION}" in done.stdout


def wait_for(condition: object, timeout: float = 5.0) -> float:
    """Seconds until ``condition()`` holds (fails after ``timeout``)."""
    start = time.perf_counter()
    while not condition():  # type: ignore[operator]
        if time.perf_counter() - start > timeout:
            pytest.fail(f"not within {timeout} s")
        time.sleep(0.005)
    return time.perf_counter() - start


def test_an_erasure_reaches_another_process_memory_without_a_search(
    postgres: Cluster, engine: faceprint.Engine, package_samples: dict[str, Sample]
) -> None:
    url = postgres.new_database()
    probe = package_samples["astronaut_copy"].template
    with faceprint.open_store(url, engine=engine) as a, faceprint.open_store(url, engine=engine) as b:
        a.enroll("eileen", [package_samples["astronaut"]], purpose="p")
        assert b.search(probe, purpose="p").matched  # b holds the index in memory now
        ids = set(b.indexed_ids())
        a.enroll("grace", [package_samples["hopper"]], purpose="p")
        cache: IndexCache = b._cache
        grown = wait_for(lambda: _held(cache) == 2)
        a.erase("eileen")
        erased = wait_for(lambda: not (ids & set(_memory_ids(cache))))
        print(
            f"\nNOTIFY -> memory of another store: enrolment {grown * 1000:.1f} ms, erasure {erased * 1000:.1f} ms"
        )
        assert grown < 1.0 and erased < 1.0  # pushed by NOTIFY; nobody searched on b
        assert not b.search(probe, purpose="p").matched


def _memory_ids(cache: IndexCache) -> list[int]:
    """What the index holds in memory right now, without catching up."""
    with cache.lock:
        index = cache._index
        return [] if index is None else [int(i) for i in index.ids()]


def _held(cache: IndexCache) -> int:
    return len(_memory_ids(cache))


def test_a_restarted_process_catches_up_from_the_feed_not_by_a_rebuild(
    postgres: Cluster,
    engine: faceprint.Engine,
    package_samples: dict[str, Sample],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = postgres.new_database()
    with faceprint.open_store(url, engine=engine) as store:
        store.enroll("eileen", [package_samples["astronaut"]], purpose="p")
        assert len(store.indexed_ids()) == 1  # builds and saves the index file
    with faceprint.open_store(url, engine=engine) as other:  # while "we" are down
        other.enroll("grace", [package_samples["hopper"]], purpose="p")

    def no_rebuild(self: IndexCache, dim: int) -> int:
        raise AssertionError("rebuilt the whole index instead of catching up from the feed")

    monkeypatch.setattr(IndexCache, "rebuild", no_rebuild)
    with faceprint.open_store(url, engine=engine) as store:
        assert store.search(package_samples["hopper"].template, purpose="p").matched
        assert store.check().ok


def test_a_database_outage_fails_cleanly_and_the_store_recovers_without_reopening(
    own_cluster: Cluster, tmp_path: Path, engine: faceprint.Engine, package_samples: dict[str, Sample]
) -> None:
    url = own_cluster.url
    probe = package_samples["hopper"].template
    with faceprint.open_store(url, engine=engine) as store, faceprint.open_store(url, engine=engine) as other:
        store.enroll("grace", [package_samples["hopper"]], purpose="p")
        assert store.search(probe, purpose="p").matched
        assert other.search(probe, purpose="p").matched  # other listens now
        own_cluster.stop()
        started = time.perf_counter()
        with pytest.raises(StoreUnavailable, match="unavailable"):
            store.enroll("eileen", [package_samples["astronaut"]], purpose="p")
        with pytest.raises(StoreUnavailable):
            store.search(probe, purpose="p")
        assert time.perf_counter() - started < 15  # bounded waits, no hang
        own_cluster.start()
        deadline = time.monotonic() + 30
        while True:  # the pool reconnects by itself
            try:
                result = store.search(probe, purpose="p")
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline, "the store did not recover"
                time.sleep(0.2)
        assert result.matched
        assert [s.name for s in store.subjects()] == ["grace"]  # the failed enrolment left nothing
        assert store.enroll("eileen", [package_samples["astronaut"]], purpose="p").added == 1
        assert store.check().ok
        # other's listener lost its connection with the server; it reconnects and catches up
        wait_for(lambda: _held(other._cache) == 2, timeout=15)


def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreUnavailable) as caught:
        faceprint.open_store("postgresql://nobody:s3cret@127.0.0.1:1/none")
    assert "s3cret" not in str(caught.value) and "127.0.0.1:1/none" in str(caught.value)


def test_the_location_never_shows_the_password(postgres: Cluster) -> None:
    url = postgres.new_database().replace("faceprint@", "faceprint:s3cret@")  # trust auth ignores it
    with faceprint.open_store(url) as store:
        assert "s3cret" not in store.location and store.location.startswith("postgresql://faceprint@")
        assert "s3cret" not in str(store.record())
