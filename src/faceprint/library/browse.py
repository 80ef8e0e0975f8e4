"""Reading a photo library page by page, for a browser: people with a cover face, a person's faces
and photos, one photo with its faces, the review queue, and where a face's pixels are on disk.

Read-only and quick (a few indexed queries a page); the corrections stay :class:`Library` verbs.
No template is read here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InvalidInput, NotFound
from ..faces import Box
from .library import Library
from .records import Person

__all__ = [
    "FaceCard",
    "FaceSource",
    "PersonCard",
    "PhotoCard",
    "Unnamed",
    "face_source",
    "people_page",
    "person_faces",
    "person_photos",
    "photo",
    "photo_source",
    "review_page",
]

Unnamed = Literal["first", "last"]
MAX_PAGE = 500


@dataclass(frozen=True)
class PersonCard:
    """A person with the face that stands for them (their best-quality face)."""

    person: Person
    cover: int | None

    def to_json(self) -> dict[str, Any]:
        return {**self.person.to_json(), "cover": self.cover}


@dataclass(frozen=True)
class FaceCard:
    """One face as the page shows it: where (photo, box), how good, whose (id and name)."""

    id: int
    photo_id: int
    box: Box
    quality: float
    reasons: tuple[str, ...]
    person_id: int | None
    person_name: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "photo_id": self.photo_id,
            "box": [round(v, 1) for v in self.box.as_list()],
            "quality": round(self.quality, 4),
            "reasons": list(self.reasons),
            "person": self.person_id,
            "person_name": self.person_name,
        }


@dataclass(frozen=True)
class PhotoCard:
    """One photo: its size (after EXIF orientation, the boxes' frame) and its faces."""

    id: int
    width: int
    height: int
    faces: tuple[FaceCard, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "width": self.width,
            "height": self.height,
            "faces": [f.to_json() for f in self.faces],
        }


@dataclass(frozen=True)
class FaceSource:
    """Where to cut a face (or a whole photo) from: the photo's recorded paths with the size and
    mtime each had when indexed, the box (``None`` for a whole photo) and the photo's size."""

    id: int
    photo_id: int
    box: Box | None
    width: int
    height: int
    paths: tuple[tuple[str, int, int], ...]


def _page(offset: int, limit: int) -> tuple[int, int]:
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"offset must be >= 0 and limit 1 to {MAX_PAGE}")
    return int(offset), int(limit)


_FACE_COLUMNS = "f.id, f.photo_id, f.box, f.quality, f.reasons, f.person_id, p.name"


def _face(row: Sequence[Any]) -> FaceCard:
    return FaceCard(
        id=int(row[0]),
        photo_id=int(row[1]),
        box=Box(*json.loads(row[2])),
        quality=float(row[3]),
        reasons=tuple(x for x in str(row[4]).split(",") if x),
        person_id=None if row[5] is None else int(row[5]),
        person_name=row[6],
    )


def _person_row(conn: Any, person_id: int) -> None:
    if conn.execute("SELECT 1 FROM people WHERE id = ?", (int(person_id),)).fetchone() is None:
        raise NotFound(f"no person #{person_id} in this library")


def people_page(
    library: Library, *, offset: int = 0, limit: int = 60, unnamed: Unnamed = "last"
) -> tuple[list[PersonCard], int]:
    """People most faces first, the unnamed ones first or last, with a cover face; and the total."""
    offset, limit = _page(offset, limit)
    if unnamed not in ("first", "last"):
        raise InvalidInput("unnamed must be 'first' or 'last'")
    named_order = "DESC" if unnamed == "first" else "ASC"
    with library.store.db.read() as conn:
        total = int(conn.execute("SELECT COUNT(*) FROM people").fetchone()[0])
        rows = conn.execute(
            "SELECT p.id, p.name, p.pinned, COUNT(f.id), COUNT(DISTINCT f.photo_id) FROM people p "
            "LEFT JOIN faces f ON f.person_id = p.id GROUP BY p.id, p.name, p.pinned "
            f"ORDER BY CASE WHEN p.name IS NULL THEN 1 ELSE 0 END {named_order}, COUNT(f.id) DESC, p.id "
            "LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
        ids = [int(r[0]) for r in rows]
        covers: dict[int, int] = {}
        if ids:
            for person_id, face_id in conn.execute(
                f"SELECT person_id, id FROM faces WHERE person_id IN ({','.join('?' * len(ids))}) "
                "ORDER BY person_id, quality DESC, id",
                ids,
            ):
                covers.setdefault(int(person_id), int(face_id))
    cards = [
        PersonCard(Person(int(r[0]), r[1], int(r[3]), int(r[4]), bool(r[2])), covers.get(int(r[0])))
        for r in rows
    ]
    return cards, total


def person_faces(
    library: Library, person_id: int, *, offset: int = 0, limit: int = 100
) -> tuple[list[FaceCard], int]:
    """The person's faces, best quality first, and how many they have."""
    offset, limit = _page(offset, limit)
    with library.store.db.read() as conn:
        _person_row(conn, person_id)
        total = int(
            conn.execute("SELECT COUNT(*) FROM faces WHERE person_id = ?", (int(person_id),)).fetchone()[0]
        )
        rows = conn.execute(
            f"SELECT {_FACE_COLUMNS} FROM faces f LEFT JOIN people p ON p.id = f.person_id "
            "WHERE f.person_id = ? ORDER BY f.quality DESC, f.id LIMIT ? OFFSET ?",
            (int(person_id), limit, offset),
        ).fetchall()
    return [_face(r) for r in rows], total


def person_photos(
    library: Library, person_id: int, *, offset: int = 0, limit: int = 50
) -> tuple[list[PhotoCard], int]:
    """The photos showing the person (newest indexed first), each with all its faces."""
    offset, limit = _page(offset, limit)
    with library.store.db.read() as conn:
        _person_row(conn, person_id)
        total = int(
            conn.execute(
                "SELECT COUNT(DISTINCT photo_id) FROM faces WHERE person_id = ?", (int(person_id),)
            ).fetchone()[0]
        )
        ids = [
            int(r[0])
            for r in conn.execute(
                "SELECT DISTINCT photo_id FROM faces WHERE person_id = ? ORDER BY photo_id DESC LIMIT ? OFFSET ?",
                (int(person_id), limit, offset),
            )
        ]
        photos = [_photo(conn, i) for i in ids]
    return photos, total


def photo(library: Library, photo_id: int) -> PhotoCard:
    """One photo and every face in it, each with its person's id and name."""
    with library.store.db.read() as conn:
        return _photo(conn, photo_id)


def _photo(conn: Any, photo_id: int) -> PhotoCard:
    row = conn.execute("SELECT id, width, height FROM photos WHERE id = ?", (int(photo_id),)).fetchone()
    if row is None:
        raise NotFound(f"no photo {photo_id} in this library")
    faces = conn.execute(
        f"SELECT {_FACE_COLUMNS} FROM faces f LEFT JOIN people p ON p.id = f.person_id "
        "WHERE f.photo_id = ? ORDER BY f.id",
        (int(photo_id),),
    ).fetchall()
    return PhotoCard(int(row[0]), int(row[1]), int(row[2]), tuple(_face(f) for f in faces))


def review_page(library: Library, *, offset: int = 0, limit: int = 100) -> tuple[list[FaceCard], int]:
    """Faces to look at: those in no person, then low-quality ones (a quality reason) in someone."""
    offset, limit = _page(offset, limit)
    where = "f.person_id IS NULL OR f.reasons <> ''"
    with library.store.db.read() as conn:
        total = int(conn.execute(f"SELECT COUNT(*) FROM faces f WHERE {where}").fetchone()[0])
        rows = conn.execute(
            f"SELECT {_FACE_COLUMNS} FROM faces f LEFT JOIN people p ON p.id = f.person_id WHERE {where} "
            "ORDER BY CASE WHEN f.person_id IS NULL THEN 0 ELSE 1 END, f.quality DESC, f.id LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
    return [_face(r) for r in rows], total


def _paths(conn: Any, photo_id: int) -> tuple[tuple[str, int, int], ...]:
    return tuple(
        (str(p), int(s), int(m))
        for p, s, m in conn.execute(
            "SELECT path, size, mtime_ns FROM photo_paths WHERE photo_id = ? ORDER BY path", (photo_id,)
        )
    )


def face_source(library: Library, face_id: int) -> FaceSource:
    """Where face ``face_id`` is: its box and its photo's paths (:class:`NotFound` once erased)."""
    with library.store.db.read() as conn:
        row = conn.execute(
            "SELECT f.id, f.photo_id, f.box, ph.width, ph.height FROM faces f JOIN photos ph "
            "ON ph.id = f.photo_id WHERE f.id = ?",
            (int(face_id),),
        ).fetchone()
        if row is None:
            raise NotFound(f"no face {face_id} in this library")
        paths = _paths(conn, int(row[1]))
    return FaceSource(int(row[0]), int(row[1]), Box(*json.loads(row[2])), int(row[3]), int(row[4]), paths)


def photo_source(library: Library, photo_id: int) -> FaceSource:
    """Where photo ``photo_id`` is (a :class:`FaceSource` without a box)."""
    with library.store.db.read() as conn:
        row = conn.execute("SELECT id, width, height FROM photos WHERE id = ?", (int(photo_id),)).fetchone()
        if row is None:
            raise NotFound(f"no photo {photo_id} in this library")
        paths = _paths(conn, int(row[0]))
    return FaceSource(int(row[0]), int(row[0]), None, int(row[1]), int(row[2]), paths)
