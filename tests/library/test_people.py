"""People in a library of real LFW photos: clustering, cannot-link, incremental runs, corrections,
contact sheets, erasure. Skips when ../shared/data/lfw is absent."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

import faceprint
from faceprint.errors import InvalidInput, NotFound
from faceprint.library import Library
from tests.library.conftest import LFW_PEOPLE, lfw_folder, powell_pair


def identity(path: str) -> str:
    return Path(path).parent.name


def people_by_identity(library: Library) -> dict[int, Counter[str]]:
    out: dict[int, Counter[str]] = {}
    for face in library.faces():
        if face.person_id is not None:
            out.setdefault(face.person_id, Counter())[identity(face.paths[0])] += 1
    return out


@pytest.fixture(scope="module")
def indexed_store(tmp_path_factory: pytest.TempPathFactory, engine: faceprint.Engine) -> Path:
    """13 LFW photos (4 of each of 3 people, and two Powells in one photo), indexed once."""
    base = tmp_path_factory.mktemp("lfw-library")
    root = lfw_folder(base / "photos", per_person=4)
    Image.fromarray(powell_pair()).save(root / "colin_powell" / "two_powells.jpg")
    with faceprint.open_library(base / "library.db", engine=engine) as library:
        report = library.index(root, workers=0)
        assert report.indexed == 13 and not report.failures
        library.store.db.checkpoint()
    return base


@pytest.fixture
def indexed(indexed_store: Path, tmp_path: Path, engine: faceprint.Engine) -> Iterator[tuple[Library, Path]]:
    """A copy of the indexed library, and a folder for more photos (indexed by the test)."""
    for name in ("library.db", "library.db.key"):
        shutil.copyfile(indexed_store / name, tmp_path / name)
    with faceprint.open_library(tmp_path / "library.db", engine=engine) as library:
        yield library, tmp_path / "more"


def test_people_are_pure_and_one_photo_is_never_one_person_twice(indexed: tuple[Library, Path]) -> None:
    library, _ = indexed
    report = library.cluster()
    assert report.new_faces == report.faces >= 14 and report.people >= 2  # LFW photos have bystanders too
    groups = people_by_identity(library)
    assert all(len(names) == 1 for names in groups.values()), groups  # precision 1: no mixed person
    pair = [f for f in library.faces() if f.paths[0].endswith("two_powells.jpg")]
    assert len(pair) == 2
    assert pair[0].person_id is None or pair[0].person_id != pair[1].person_id
    again = library.cluster()  # nothing new: nothing changes
    assert (again.new_faces, again.assigned, again.new_people) == (0, 0, 0)


def test_new_photos_join_existing_people_and_corrections_stay(indexed: tuple[Library, Path]) -> None:
    library, root = indexed
    library.cluster()
    before = {p.id: p for p in library.people()}
    blair = next(pid for pid, names in people_by_identity(library).items() if "tony_blair" in names)
    library.name(blair, "Tony")
    # the user says one of Tony's faces is not him; it must never come back
    evicted = library.faces("Tony")[-1]
    library.not_(evicted.id, "Tony")
    # more photos of the same people arrive
    lfw_folder(root, per_person=4, offset=4)
    report = library.index(root, workers=0)
    assert report.indexed == 12
    clustered = library.cluster()
    assert clustered.new_faces == 12
    after = {p.id: p for p in library.people()}
    assert set(before) <= set(after)  # no existing person was dissolved or renumbered
    tony = library.person("Tony")
    assert tony.id == blair and tony.faces > before[blair].faces - 1  # new photos of Tony joined him
    assert evicted.id not in {f.id for f in library.faces("Tony")}
    groups = people_by_identity(library)
    assert all(len(names) == 1 for names in groups.values()), groups


def test_merge_split_and_their_memory(indexed: tuple[Library, Path]) -> None:
    library, root = indexed
    library.cluster()
    schroeder = next(
        pid for pid, names in people_by_identity(library).items() if "gerhard_schroeder" in names
    )
    faces = [f.id for f in library.faces(schroeder)]
    assert len(faces) >= 2
    moved = library.split(schroeder, faces[:1])
    assert moved.faces == 1 and moved.pinned
    with pytest.raises(InvalidInput):
        library.split(schroeder, [f for f in faces if f != faces[0]])  # would empty the person
    merged = library.merge(schroeder, moved.id)
    assert merged.faces == len(faces)
    with pytest.raises(NotFound):
        library.person(moved.id)
    # a merge of two people holding two faces of one photo is refused
    pair = [f for f in library.faces() if f.paths[0].endswith("two_powells.jpg")]
    a = library.split(pair[0].person_id, [pair[0].id]) if pair[0].person_id else None
    if a is not None and pair[1].person_id is not None:
        with pytest.raises(InvalidInput):
            library.merge(a.id, pair[1].person_id)
    with pytest.raises(InvalidInput):
        library.name(schroeder, "42")
    lfw_folder(root, per_person=2, offset=4)
    library.index(root, workers=0)
    library.cluster()
    groups = people_by_identity(library)
    assert all(len(names) == 1 for names in groups.values()), groups


def test_contact_sheet_reads_the_photos(indexed: tuple[Library, Path], tmp_path: Path) -> None:
    library, _ = indexed
    library.cluster()
    person = library.people()[0]
    out = tmp_path / "sheet.jpg"
    tiles = library.contact_sheet(person.id, out, tile=64, columns=3)
    assert tiles == person.faces
    with Image.open(out) as sheet:
        assert sheet.format == "JPEG"
        assert sheet.size == (64 * min(3, tiles), 64 * ((tiles + 2) // 3))
        # real crops, not the gray placeholder of a missing photo
        assert sheet.convert("L").getextrema() != (96, 96)


def test_erase_leaves_no_faces_and_is_not_undone_by_index(
    indexed: tuple[Library, Path], indexed_store: Path
) -> None:
    library, _ = indexed
    root = indexed_store / "photos"
    library.cluster()
    person = library.people()[0]
    count = library.erase(person.id)
    assert count == person.faces
    with pytest.raises(NotFound):
        library.person(person.id)
    with library.store.db.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM faces WHERE person_id = ?", (person.id,)).fetchone()[0] == 0
    assert library.store.db.path.with_name(library.store.db.path.name + "-wal").stat().st_size == 0
    again = library.index(root, workers=0)
    assert again.indexed == 0  # the photos stay indexed: the erased faces are not detected again
    assert all(p.id != person.id for p in library.people())
    assert len(LFW_PEOPLE) == 3
