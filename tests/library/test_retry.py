"""A photo-library write whose PostgreSQL connection dies mid-transaction is run again, not lost."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest
from PIL import Image

import faceprint
from faceprint.imageio import RGBImage
from faceprint.library import Library
from tests.postgres import Cluster


def test_naming_a_person_survives_its_connection_being_killed(
    postgres: Cluster,
    tmp_path: Path,
    engine: faceprint.Engine,
    samples: dict[str, RGBImage],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = postgres.new_database()
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut", "astronaut_copy"):  # one person, two photos
        Image.fromarray(samples[name]).save(photos / f"{name}.jpg")
    with faceprint.open_library(url, engine=engine) as library:
        library.index(photos)
        library.cluster()
        (person,) = library.people()
        errors: list[BaseException] = []
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("BEGIN")
            admin.execute("LOCK TABLE people IN ACCESS EXCLUSIVE MODE")  # the write will wait here
            writer = threading.Thread(target=_name, args=(library, person.id, errors))
            writer.start()
            victim = _waiting_backend(admin)
            admin.execute("SELECT pg_terminate_backend(%s)", (victim,))  # its connection dies mid-write
            admin.execute("COMMIT")
            writer.join(timeout=60)
        assert not writer.is_alive() and errors == []
        assert library.person(person.id).name == "Eileen Collins"  # the second attempt wrote it


def _name(library: Library, person: int, errors: list[BaseException]) -> None:
    try:
        library.name(person, "Eileen Collins")
    except BaseException as exc:  # reported to the test thread
        errors.append(exc)


def _waiting_backend(admin: psycopg.Connection[tuple[object, ...]]) -> int:
    """The pid of the backend waiting for the admin's lock (the library's write)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND pid <> pg_backend_pid()"
        ).fetchone()
        if row is not None:
            return int(row[0])
        time.sleep(0.05)
    raise AssertionError("the library's write never waited for the lock")
