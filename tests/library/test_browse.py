"""The page queries (faceprint.library.browse) on both store backends, on the package's samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceprint.errors import InvalidInput, NotFound
from faceprint.imageio import RGBImage
from faceprint.library import Library, browse
from tests.conftest import encode


def test_pages_of_people_faces_photos_and_review(
    library: Library, tmp_path: Path, samples: dict[str, RGBImage]
) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    for name in ("astronaut", "astronaut_copy", "hopper"):
        (root / f"{name}.jpg").write_bytes(encode(samples[name], "JPEG", quality=92))
    library.index(root, workers=0)
    library.cluster()
    cards, total = browse.people_page(library)
    assert total == len(cards) == 1  # the two astronauts; Hopper alone is no one yet
    person = cards[0].person
    assert person.faces == person.photos == 2 and person.name is None
    faces, count = browse.person_faces(library, person.id)
    assert count == 2 and cards[0].cover == faces[0].id and faces[0].quality >= faces[1].quality
    photos, count = browse.person_photos(library, person.id, limit=1)
    assert count == 2 and len(photos) == 1 and photos[0].faces[0].person_id == person.id
    review, count = browse.review_page(library)
    assert count >= 1 and review[0].person_id is None  # Hopper's face, in no one
    shot = browse.photo(library, review[0].photo_id)
    assert (shot.width, shot.height) == (samples["hopper"].shape[1], samples["hopper"].shape[0])
    source = browse.face_source(library, review[0].id)
    assert source.paths[0][0].endswith("hopper.jpg") and source.box == review[0].box

    library.name(person.id, "Astronaut")
    other = library.split(person.id, [faces[1].id])
    named_first, _ = browse.people_page(library, unnamed="last")
    assert [c.person.name for c in named_first] == ["Astronaut", None]
    unnamed_first, _ = browse.people_page(library, unnamed="first")
    assert [c.person.id for c in unnamed_first] == [other.id, person.id]
    library.erase(other.id)
    with pytest.raises(NotFound):
        browse.face_source(library, faces[1].id)
    with pytest.raises(NotFound):
        browse.person_faces(library, other.id)
    with pytest.raises(InvalidInput):
        browse.people_page(library, limit=0)
