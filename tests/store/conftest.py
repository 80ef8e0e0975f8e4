"""Store fixtures: real templates of real photos, computed once per session, and the two backends.

``store_location`` (and ``store`` on it) is parametrised over ``sqlite`` (a file in the test's
folder), ``postgres`` (a fresh database on the session's throwaway server) and ``milvus`` (the
same, with ``FACEPRINT_VECTORS`` naming the session's Milvus server: the vectors are searched
there): every test that takes it runs against all three. Tests of one backend's mechanics (SQLite
pragmas, WAL byte scans) take ``tmp_path`` instead and say so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import faceprint
from faceprint import Store
from faceprint.store import Sample
from tests.conftest import sample_of
from tests.milvus import Server
from tests.postgres import Cluster


@pytest.fixture(scope="session")
def face_samples(engine: faceprint.Engine, faces_dir: Path) -> dict[str, Sample]:
    """Templates of ../shared/data/faces, by file name (skips when absent)."""
    return {p.name: sample_of(engine, p) for p in sorted(faces_dir.iterdir()) if p.suffix in (".jpg", ".png")}


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path: Path) -> Iterator[None]:
    """Key files and index caches of PostgreSQL stores go under the test's folder, not ~.

    Its own MonkeyPatch: a test's ``monkeypatch.undo()`` does not undo it.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
        patch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        yield


@pytest.fixture(params=["sqlite", "postgres", "milvus"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    """Where a new, empty store is: a SQLite file, or the URL of a new PostgreSQL database (with
    ``FACEPRINT_VECTORS`` set to the session's Milvus server for ``milvus``)."""
    if request.param == "sqlite":
        yield tmp_path / "g.db"
        return
    cluster: Cluster = request.getfixturevalue("postgres")
    if request.param == "postgres":
        yield cluster.new_database()
        return
    server: Server = request.getfixturevalue("milvus")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEPRINT_VECTORS", server.url)
        yield cluster.new_database()


@pytest.fixture
def store(store_location: str | Path, engine: faceprint.Engine) -> Iterator[Store]:
    with faceprint.open_store(store_location, engine=engine) as opened:
        yield opened
