"""The people verbs of a photo :class:`~faceprint.library.library.Library`: list people and their
faces, and the corrections (name, merge, split, not this person, erase), each audited."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidInput, NotFound
from ..faces import Box
from .face_keys import FACE_VECTORS, open_faces, shred_faces
from .mixin import LibraryPart
from .records import LibraryFace, Person

__all__ = ["People"]

_MAX_NAME = 200


class People(LibraryPart):
    """People and corrections over the library's tables (mixed into :class:`Library`)."""

    if TYPE_CHECKING:  # provided by Library

        def _move_person(self, conn: Any, old: int, keep: int) -> None: ...

    # -- people and corrections ----------------------------------------------------------------

    def _person_id(self, conn: Any, ref: str | int) -> int:
        """A person by id (``7`` or ``#7``) or by name."""
        text = str(ref).strip()
        if text.lstrip("#").isdigit():
            row = conn.execute("SELECT id FROM people WHERE id = ?", (int(text.lstrip("#")),)).fetchone()
        else:
            row = conn.execute("SELECT id FROM people WHERE name = ?", (text,)).fetchone()
        if row is None:
            raise NotFound(f"no person {text!r} in this library")
        return int(row[0])

    def people(self) -> list[Person]:
        """Every person, most faces first."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT p.id, p.name, p.pinned, COUNT(f.id), COUNT(DISTINCT f.photo_id) FROM people p "
                "LEFT JOIN faces f ON f.person_id = p.id GROUP BY p.id, p.name, p.pinned "
                "ORDER BY COUNT(f.id) DESC, p.id"
            ).fetchall()
        return [Person(int(r[0]), r[1], int(r[3]), int(r[4]), bool(r[2])) for r in rows]

    def person(self, ref: str | int) -> Person:
        with self._db.read() as conn:
            pid = self._person_id(conn, ref)
        return next(p for p in self.people() if p.id == pid)

    def faces(self, person: str | int | None = None) -> list[LibraryFace]:
        """The faces of ``person`` (every face when ``None``), best quality first."""
        with self._db.read() as conn:
            if person is None:
                rows = conn.execute(
                    "SELECT id, photo_id, box, quality, reasons, person_id FROM faces ORDER BY quality DESC, id"
                ).fetchall()
            else:
                pid = self._person_id(conn, person)
                rows = conn.execute(
                    "SELECT id, photo_id, box, quality, reasons, person_id FROM faces WHERE person_id = ? "
                    "ORDER BY quality DESC, id",
                    (pid,),
                ).fetchall()
            paths: dict[int, list[str]] = {}
            for path, photo_id in conn.execute("SELECT path, photo_id FROM photo_paths ORDER BY path"):
                paths.setdefault(int(photo_id), []).append(str(path))
        return [
            LibraryFace(
                id=int(r[0]),
                photo_id=int(r[1]),
                paths=tuple(paths.get(int(r[1]), ())),
                box=Box(*json.loads(r[2])),
                quality=float(r[3]),
                reasons=tuple(x for x in str(r[4]).split(",") if x),
                person_id=None if r[5] is None else int(r[5]),
            )
            for r in rows
        ]

    def name(self, person: str | int, name: str) -> Person:
        """Name ``person`` (this pins it: later runs never merge it with another pinned person)."""
        checked = _name(name)

        def work(conn: Any) -> int:
            pid = self._person_id(conn, person)
            other = conn.execute(
                "SELECT id FROM people WHERE name = ? AND id <> ?", (checked, pid)
            ).fetchone()
            if other is not None:
                raise InvalidInput(f"another person is already named {checked!r} (merge them instead)")
            conn.execute("UPDATE people SET name = ?, pinned = 1 WHERE id = ?", (checked, pid))
            self._audit(conn, "library-name", 1)
            return pid

        pid = int(self._db.transact(work))  # run again after a transient failure (PostgreSQL)
        return self.person(pid)

    def merge(self, into: str | int, other: str | int) -> Person:
        """``other``'s faces become ``into``'s; ``other`` is deleted. Both were one person, says the user."""

        def work(conn: Any) -> int:
            keep, old = self._person_id(conn, into), self._person_id(conn, other)
            if keep == old:
                raise InvalidInput("cannot merge a person with itself")
            shared = conn.execute(
                "SELECT COUNT(*) FROM faces a JOIN faces b ON a.photo_id = b.photo_id "
                "WHERE a.person_id = ? AND b.person_id = ?",
                (keep, old),
            ).fetchone()[0]
            if shared:
                raise InvalidInput(
                    f"{shared} photo(s) hold a face of both people; one photo never shows one person twice "
                    "(split the wrong face out first)"
                )
            conn.execute(
                "DELETE FROM face_not_person WHERE (person_id = ? AND face_id IN "
                "(SELECT id FROM faces WHERE person_id = ?)) OR (person_id = ? AND face_id IN "
                "(SELECT id FROM faces WHERE person_id = ?))",
                (keep, old, old, keep),
            )
            self._move_person(conn, old, keep)
            conn.execute("UPDATE people SET pinned = 1 WHERE id = ?", (keep,))
            self._audit(conn, "library-merge", 2)
            return keep

        keep = int(self._db.transact(work))  # run again after a transient failure (PostgreSQL)
        return self.person(keep)

    def split(self, person: str | int, faces: Iterable[int]) -> Person:
        """Move ``faces`` out of ``person`` into a new person; neither will take the other's faces."""
        wanted = sorted({int(f) for f in faces})
        if not wanted:
            raise InvalidInput("name at least one face to split out")

        def work(conn: Any) -> int:
            pid = self._person_id(conn, person)
            members = {int(r[0]) for r in conn.execute("SELECT id FROM faces WHERE person_id = ?", (pid,))}
            missing = [f for f in wanted if f not in members]
            if missing:
                raise NotFound(f"face(s) {missing} are not in person #{pid}")
            if len(wanted) == len(members):
                raise InvalidInput("that is every face of the person; nothing would be left")
            cur = conn.execute(
                "INSERT INTO people (pinned, created_at) VALUES (1, ?) RETURNING id", (self._now(),)
            )
            new_id = int(cur.fetchone()[0])
            conn.executemany("UPDATE faces SET person_id = ? WHERE id = ?", [(new_id, f) for f in wanted])
            conn.executemany(
                "INSERT INTO face_not_person (face_id, person_id) VALUES (?, ?)", [(f, pid) for f in wanted]
            )
            conn.executemany(
                "INSERT INTO face_not_person (face_id, person_id) VALUES (?, ?)",
                [(f, new_id) for f in sorted(members - set(wanted))],
            )
            conn.execute("UPDATE people SET pinned = 1 WHERE id = ?", (pid,))
            self._audit(conn, "library-split", len(wanted))
            return new_id

        new_id = int(self._db.transact(work))  # run again after a transient failure (PostgreSQL)
        return self.person(new_id)

    def not_(self, face: int, person: str | int) -> LibraryFace:
        """Face ``face`` is not ``person``: it leaves them (if in) and no later run puts it back."""

        def work(conn: Any) -> None:
            pid = self._person_id(conn, person)
            row = conn.execute("SELECT person_id FROM faces WHERE id = ?", (int(face),)).fetchone()
            if row is None:
                raise NotFound(f"no face {face} in this library")
            conn.execute("DELETE FROM face_not_person WHERE face_id = ? AND person_id = ?", (int(face), pid))
            conn.execute("INSERT INTO face_not_person (face_id, person_id) VALUES (?, ?)", (int(face), pid))
            if row[0] is not None and int(row[0]) == pid:
                conn.execute("UPDATE faces SET person_id = NULL, clustered = 1 WHERE id = ?", (int(face),))
            self._drop_empty_people(conn)
            self._audit(conn, "library-not", 1)

        self._db.transact(work)  # run again after a transient failure (PostgreSQL)
        return next(f for f in self.faces() if f.id == int(face))

    def erase(self, person: str | int) -> int:
        """Erase ``person``: their faces (templates, boxes, landmarks) and the person record, with no
        bytes left behind (secure_delete, then the write-ahead log is checkpointed and truncated),
        and their faces' data keys destroyed in the same transaction, each bucket's wrapping key
        replaced (crypto-shredding: no copy of the database, a backup included, opens them with
        the keys left). Their photos stay indexed, so a later ``index`` does not detect them
        again. Returns faces erased."""

        def work(conn: Any) -> int:
            pid = self._person_id(conn, person)
            count = int(conn.execute("SELECT COUNT(*) FROM faces WHERE person_id = ?", (pid,)).fetchone()[0])
            shred_faces(conn, self.store.protector, "f.person_id = ?", (pid,))
            conn.execute("DELETE FROM faces WHERE person_id = ?", (pid,))
            conn.execute("DELETE FROM people WHERE id = ?", (pid,))
            self._audit(conn, "library-erase", count)
            return count

        count = int(self._db.transact(work))  # run again after a transient failure (PostgreSQL)
        self._prune_keys()
        self._db.purge()
        return count

    def contact_sheet(
        self,
        person: str | int,
        out: str | os.PathLike[str],
        *,
        tile: int = 128,
        columns: int = 8,
        limit: int = 64,
    ) -> int:
        """Write a JPEG grid of ``person``'s face crops, read from the photos (never stored crops).
        Faces whose photo is gone or changed are drawn gray. Returns the number of tiles."""
        from .contact import contact_sheet

        faces = self.faces(person)[:limit]
        if not faces:
            raise NotFound(f"person {person!r} has no faces")
        with self._db.read() as conn:
            digests = {
                int(i): str(d)
                for i, d in conn.execute(
                    f"SELECT id, digest FROM photos WHERE id IN ({','.join('?' * len(faces))})",
                    [f.photo_id for f in faces],
                )
            }
        return contact_sheet(
            faces, digests, Path(out), settings=self.store.settings, tile=tile, columns=columns
        )

    def stats(self) -> dict[str, int]:
        with self._db.read() as conn:

            def count(sql: str) -> int:
                return int(conn.execute(sql).fetchone()[0])

            return {
                "photos": count("SELECT COUNT(*) FROM photos"),
                "paths": count("SELECT COUNT(*) FROM photo_paths"),
                "faces": count("SELECT COUNT(*) FROM faces"),
                "people": count("SELECT COUNT(*) FROM people"),
                "unassigned": count("SELECT COUNT(*) FROM faces WHERE person_id IS NULL"),
            }

    def vectors(self) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Face ids and their templates in the store's protected space (``Q x``; same similarities)."""
        with self._db.read() as conn:
            rows = conn.execute(f"{FACE_VECTORS} ORDER BY f.id").fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64), open_faces(self.store.protector, rows)


def _name(name: str) -> str:
    text = (name or "").strip()
    if not text or len(text) > _MAX_NAME or any(ord(c) < 32 for c in text):
        raise InvalidInput(f"a name must be 1 to {_MAX_NAME} printable characters")
    if text.lstrip("#").isdigit():
        raise InvalidInput("a name must not be a number (numbers are person ids)")
    return text
