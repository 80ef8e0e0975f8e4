"""Erasure of photo-library faces reaches backups (per-face keys, crypto-shredding), on SQLite and
PostgreSQL, with real LFW photos (skips without ../shared/data/lfw).

Index and cluster a few photos, take a backup (SQLite: a copy of the open database file and its
WAL; PostgreSQL: a copy of the stopped server's data directory), erase one person and delete one
photo of someone else from the folder (the next ``index`` drops it), then attack the backup with
the current key file (:func:`tests.backup.attack`): no template of the erased person's faces, nor
of the deleted photo's, may come out, while every other face's must (so the attack can succeed).

The same test runs against the old sealing (``subject_keys`` off: faces under the storage key)
and must fail there: ``xfail(strict=True)``, so CI breaks if it ever passes.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

import faceprint
from faceprint.library import Library
from tests.backup import attack, recovered_count
from tests.library.conftest import lfw_folder
from tests.postgres import Cluster

SEALINGS = [
    pytest.param(True, id="face-keys"),
    pytest.param(
        False,
        id="old-sealing",
        marks=pytest.mark.xfail(strict=True, reason="storage-key sealing: the backup keeps the erased faces"),
    ),
]


@dataclasses.dataclass(frozen=True)
class Erased:
    """The library's faces (protected templates) as the backup holds them, by what became of them."""

    person: NDArray[np.float32]  # the erased person's faces
    photo: NDArray[np.float32]  # the faces of the deleted photo
    kept: NDArray[np.float32]  # every other face


def open_library(location: str | Path, engine: faceprint.Engine, subject_keys: bool) -> Library:
    settings = dataclasses.replace(engine.settings, subject_keys=subject_keys)
    return faceprint.open_library(location, engine=engine, settings=settings)


def erase_after_backup(library: Library, root: Path, backup: Callable[[], None]) -> Erased:
    """Index and cluster ``root``, call ``backup``, then erase the person with the most faces and
    delete (and re-index without) a photo of which no face is theirs."""
    report = library.index(root, workers=0)
    assert report.indexed >= 6 and not report.failures
    library.cluster()
    ids, vectors = library.vectors()
    by_id = dict(zip(ids.tolist(), vectors, strict=True))
    person = library.people()[0]
    theirs = {f.id for f in library.faces(person.id)}
    assert len(theirs) >= 2
    faces = library.faces()
    photo = next(f.photo_id for f in faces if not {g.id for g in faces if g.photo_id == f.photo_id} & theirs)
    in_photo = {f.id for f in faces if f.photo_id == photo}
    path = Path(next(f for f in faces if f.photo_id == photo).paths[0])

    backup()
    assert library.erase(person.id) == len(theirs)
    path.unlink()
    assert library.index(root, workers=0).removed == 1
    assert {f.id for f in library.faces()} == set(by_id) - theirs - in_photo

    def stack(wanted: set[int]) -> NDArray[np.float32]:
        return np.stack([by_id[i] for i in sorted(wanted)])

    return Erased(stack(theirs), stack(in_photo), stack(set(by_id) - theirs - in_photo))


def check(recovered: list[NDArray[np.float32]], erased: Erased) -> None:
    assert recovered_count(recovered, erased.kept) == len(erased.kept)  # the attack works on the rest
    assert recovered_count(recovered, erased.person) == 0
    assert recovered_count(recovered, erased.photo) == 0


@pytest.mark.parametrize("subject_keys", SEALINGS)
def test_sqlite_backup_holds_no_readable_face_of_an_erased_person_or_deleted_photo(
    tmp_path: Path, engine: faceprint.Engine, subject_keys: bool
) -> None:
    root = lfw_folder(tmp_path / "photos", per_person=3)
    path = tmp_path / "library.db"
    copy = tmp_path / "backup"
    copy.mkdir()

    def backup() -> None:  # a copy of the open database: file and WAL
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{path}{suffix}").exists():
                shutil.copy(f"{path}{suffix}", copy / f"library.db{suffix}")

    with open_library(path, engine, subject_keys) as library:
        erased = erase_after_backup(library, root, backup)
        protector = library.store.protector
        check(attack(copy, protector.key_file.path, protector.store_id), erased)


@pytest.mark.parametrize("subject_keys", SEALINGS)
def test_postgres_backup_holds_no_readable_face_of_an_erased_person_or_deleted_photo(
    tmp_path: Path,
    engine: faceprint.Engine,
    own_cluster: Cluster,
    subject_keys: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the key file of a PostgreSQL store
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = lfw_folder(tmp_path / "photos", per_person=3)
    copy = tmp_path / "backup"

    def backup() -> None:  # a cold copy of the data directory: tables, WAL, everything
        own_cluster.stop()
        shutil.copytree(own_cluster.directory / "data", copy)
        own_cluster.start()

    with open_library(own_cluster.new_database(), engine, subject_keys) as library:
        erased = erase_after_backup(library, root, backup)
        protector = library.store.protector
        check(attack(copy, protector.key_file.path, protector.store_id), erased)
        # the live server's files after the erasure (dead tuples, WAL) do not open them either
        check(attack(own_cluster.directory / "data", protector.key_file.path, protector.store_id), erased)
