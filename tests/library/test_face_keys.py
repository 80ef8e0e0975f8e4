"""Per-face data keys on both backends, on the package's sample photos: every face is sealed under
its own key; erasing a person replaces the wrapping keys of their faces' buckets (the gallery's
subjects and the library's faces keep working beside each other); a library sealed the old way
migrates when opened; storage-key rotation re-wraps every face key."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import faceprint
from faceprint.faces import Template
from faceprint.imageio import RGBImage
from faceprint.library import Library
from faceprint.library.face_keys import face_keys
from faceprint.privacy import keys_by_id, sealed_key_id
from faceprint.store import Sample
from faceprint.store.subject_keys import BUCKETS
from tests.conftest import encode
from tests.postgres import Cluster

MODEL = "sface-2021dec"  # the default engine's templates, which the library indexes


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    """A new store: a SQLite file, or a new database on the test PostgreSQL."""
    if request.param == "sqlite":
        yield tmp_path / "library.db"
        return
    cluster: Cluster = request.getfixturevalue("postgres")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the key file of a PostgreSQL store
        patch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        yield cluster.new_database()


@pytest.fixture
def photos(tmp_path: Path, samples: dict[str, RGBImage]) -> Path:
    """Two photos of one astronaut and one of Grace Hopper."""
    root = tmp_path / "photos"
    root.mkdir()
    for name in ("astronaut", "astronaut_copy", "hopper"):
        (root / f"{name}.jpg").write_bytes(encode(samples[name], "JPEG", quality=92))
    return root


def open_library(location: str | Path, engine: faceprint.Engine, subject_keys: bool = True) -> Library:
    settings = dataclasses.replace(engine.settings, subject_keys=subject_keys)
    return faceprint.open_library(location, engine=engine, settings=settings)


def face_rows(library: Library) -> list[tuple[int, bytes, bytes | None]]:
    with library.store.db.read() as conn:
        rows = conn.execute(
            "SELECT f.id, f.vector, k.wrapped FROM faces f LEFT JOIN face_keys k ON k.face_id = f.id ORDER BY f.id"
        ).fetchall()
    return [(int(i), bytes(v), None if w is None else bytes(w)) for i, v, w in rows]


def face_buckets(library: Library) -> dict[int, str]:
    with library.store.db.read() as conn:
        return {int(b): str(k) for b, k in conn.execute("SELECT bucket, key_id FROM face_key_buckets")}


def sealed_under_own_keys(library: Library) -> bool:
    """Every face is sealed under the data key its ``face_keys`` row unwraps to."""
    keys = face_keys(library.store.protector)
    rows = face_rows(library)
    return bool(rows) and all(
        w is not None and sealed_key_id(v) in keys_by_id([keys.unwrap(i, w)]) for i, v, w in rows
    )


def test_erasing_a_person_replaces_their_buckets_keys_and_the_gallery_keeps_working(
    location: str | Path, engine: faceprint.Engine, photos: Path
) -> None:
    rng = np.random.default_rng(3)
    vector = rng.standard_normal(128).astype(np.float32)
    with open_library(location, engine) as library:
        store = library.store
        store.enroll("ann", [Sample(Template(vector, MODEL), "a")], purpose="p")
        store.enroll("bob", [Sample(Template(-vector, MODEL), "b")], purpose="p")
        library.index(photos, workers=0)
        assert sealed_under_own_keys(library)
        wrapping = store.protector.key_file.read().wrapping_keys
        assert len(wrapping) == 2 * BUCKETS  # the subjects' buckets and the faces', made once each
        # a gallery erasure prunes only its own replaced key: the faces still open
        store.erase("bob")
        ids, before = library.vectors()
        assert len(ids) == 3 and len(store.protector.key_file.read().wrapping) == 2 * BUCKETS
        library.cluster()
        person = library.people()[0]
        theirs = [f.id for f in library.faces(person.id)]
        assert len(theirs) == 2
        buckets = face_buckets(library)
        assert library.erase(person.id) == 2
        after = face_buckets(library)
        changed = {b for b in buckets if after[b] != buckets[b]}
        assert changed == {f % BUCKETS for f in theirs}  # one new wrapping key per bucket erased from
        wrapping = store.protector.key_file.read().wrapping_keys
        assert len(wrapping) == 2 * BUCKETS and not {buckets[b] for b in changed} & set(wrapping)
        with store.db.read() as conn:
            assert conn.execute("SELECT count(*) FROM face_keys").fetchone()[0] == 1
        # the face left and the gallery's subject still open, here and in a new process
        kept, left = library.vectors()
        assert np.allclose(left, before[list(ids).index(int(kept[0]))][None, :])
        match = store.search(Template(vector, MODEL), purpose="p", fmr=1e-3)
        assert [m.subject for f in match.faces for m in f.matches] == ["ann"]
    with open_library(location, engine) as reopened:
        assert np.allclose(reopened.vectors()[1], left)
        assert reopened.cluster().faces == 1


def test_a_library_sealed_the_old_way_migrates_when_opened(
    location: str | Path, engine: faceprint.Engine, photos: Path
) -> None:
    with open_library(location, engine, subject_keys=False) as old:
        old.index(photos, workers=0)
        storage = old.store.protector.keyring.storage_key_id
        assert {sealed_key_id(v) for _, v, w in face_rows(old) if w is None} == {storage}
        assert len(face_rows(old)) == 3 and not face_buckets(old)
        _, before = old.vectors()
    with open_library(location, engine) as library:  # keys on (the default): migrated at open
        assert sealed_under_own_keys(library)
        assert np.allclose(library.vectors()[1], before)
        migrated = [e for e in library.store.audit() if e.operation == "migrate-face-keys"]
        assert len(migrated) == 1 and migrated[0].results == 3 and migrated[0].subjects == ()
        assert library.cluster().faces == 3
    with open_library(location, engine) as again:  # nothing left to migrate
        assert len([e for e in again.store.audit() if e.operation == "migrate-face-keys"]) == 1


def test_storage_rotation_rewraps_every_face_key(
    location: str | Path, engine: faceprint.Engine, photos: Path
) -> None:
    with open_library(location, engine) as library:
        library.index(photos, workers=0)
        _, before = library.vectors()
        old = face_buckets(library)
        assert library.store.rotate_keys(storage=True, template=True) == 3
        new = face_buckets(library)
        wrapping = set(library.store.protector.key_file.read().wrapping_keys)
        assert len(new) == BUCKETS and not set(old.values()) & set(new.values())
        assert set(new.values()) <= wrapping and not set(old.values()) & wrapping
        assert sealed_under_own_keys(library)
        _, after = library.vectors()
        assert np.allclose(before @ before.T, after @ after.T, atol=1e-5)
    with open_library(location, engine) as reopened:
        assert reopened.cluster().faces == 3
