"""The photo library: index a folder's faces into the store, group them into people, incrementally.

Library faces live in the store's database beside the gallery (tables of schema step 3) and are
sealed with the store's keys like gallery templates, but they are not gallery subjects: no
consent rows, never searched 1:N. The declared purpose (default: the owner's personal photo
library) is written to the audit trail with every operation; no biometric data ever is.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..cluster import UNASSIGNED, ClusterParams, cluster_faces
from ..config import Settings
from ..engine import Engine
from ..errors import FaceprintError, InvalidImage, InvalidInput, NotFound
from ..faces import Box
from ..gallery import Gallery as Store
from ..gallery import open_store
from ..store.records import isoformat
from .records import ClusterReport, IndexFailure, IndexReport, LibraryFace, Person
from .workers import Analysis, AnalysisPool

__all__ = ["DEFAULT_PURPOSE", "EXTENSIONS", "Library", "open_library"]

DEFAULT_PURPOSE = "personal photo library"
#: File name endings indexed (case-insensitive).
EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".tif", ".tiff"})
_MAX_NAME = 200

Progress = Callable[[int], None]


def open_library(
    path: str | os.PathLike[str] | None = None,
    *,
    settings: Settings | None = None,
    engine: Engine | None = None,
    purpose: str = DEFAULT_PURPOSE,
    actor: str | None = None,
) -> Library:
    """Open the photo library in the store at ``path`` (``settings.store``, else the default store)."""
    return Library(open_store(path, settings=settings, engine=engine, actor=actor), purpose=purpose)


@dataclass(frozen=True)
class _Seen:
    photo_id: int
    size: int
    mtime_ns: int


class Library:
    """Photos, faces and people in one store. Open with :func:`open_library` (or ``Library.open``)."""

    def __init__(self, store: Store, *, purpose: str = DEFAULT_PURPOSE) -> None:
        text = (purpose or "").strip()
        if not text or len(text) > 2000 or any(ord(c) < 32 for c in text):
            raise InvalidInput("the purpose must be 1 to 2000 printable characters")
        self.store = store
        self.purpose = text

    open = staticmethod(open_library)

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    @property
    def _db(self) -> Any:
        return self.store.db

    def _audit(self, conn: Any, operation: str, results: int | None, detail: str | None = None) -> None:
        self.store.write_audit(conn, self.store.actor, operation, self.purpose, [], results, detail)

    @staticmethod
    def _now() -> str:
        return isoformat(datetime.now(UTC)) or ""

    # -- indexing ------------------------------------------------------------------------------

    def index(
        self,
        folder: str | os.PathLike[str],
        *,
        workers: int | None = None,
        progress: Progress = lambda n: None,
        set_total: Progress = lambda n: None,
    ) -> IndexReport:
        """Index every photo under ``folder`` (recursively): each face's box, landmarks, quality and
        sealed template.

        Resumable: a path already indexed with the same size and mtime is not read; a file whose
        content hash is already indexed (moved, renamed, copied) only gets its new path recorded;
        each photo is committed with its faces in one transaction, so an interrupted run loses at
        most the photos in flight. Paths under ``folder`` that are gone are dropped, and a photo
        with no path left is dropped with its faces. Unreadable files are reported, never fatal.
        ``workers``: analysis processes (default: one per core; 0 = in this process).
        """
        start = time.perf_counter()
        root = Path(folder)
        if not root.is_dir():
            raise InvalidInput(f"{root}: not a folder")
        root = root.resolve()
        files = sorted(_walk(root))
        set_total(len(files))
        prefix = str(root) + os.sep
        with self._db.read() as conn:
            seen = {
                str(p): _Seen(int(i), int(s), int(m))
                for p, i, s, m in conn.execute("SELECT path, photo_id, size, mtime_ns FROM photo_paths")
                if str(p).startswith(prefix)
            }
            digests = {str(d): int(i) for d, i in conn.execute("SELECT digest, id FROM photos")}
        settings = self.store.settings
        failures: list[IndexFailure] = []
        unchanged = known = indexed = faces = 0
        pending: dict[str, list[tuple[str, int, int]]] = {}  # digest -> paths (size, mtime) in flight
        this_run: set[str] = set()  # digests analysed by this run (their later copies are not "known")
        here: set[str] = set()

        def to_analyse() -> Iterator[tuple[str, bytes, str]]:
            """Walk the files, settling unchanged, known and duplicate ones on the way, and yield
            each new photo (digest, bytes, path) when the pool asks for it: only the photos in
            flight are held in memory, and reading overlaps the analysis."""
            nonlocal unchanged, known
            for path in files:
                name = str(path)
                here.add(name)
                try:
                    st = path.stat()
                except OSError as exc:
                    failures.append(
                        IndexFailure(name, "invalid_image", f"{name}: cannot be read ({exc.strerror})")
                    )
                    progress(1)
                    continue
                old = seen.get(name)
                if old is not None and old.size == st.st_size and old.mtime_ns == st.st_mtime_ns:
                    unchanged += 1
                    progress(1)
                    continue
                try:
                    data = _read(path, settings.max_bytes)
                except FaceprintError as exc:
                    failures.append(IndexFailure(name, exc.code, str(exc)))
                    progress(1)
                    continue
                digest = hashlib.sha256(data).hexdigest()
                if digest in pending:
                    pending[digest].append((name, st.st_size, st.st_mtime_ns))
                elif digest in this_run:  # a copy of a photo this run analysed (or failed to)
                    if digest in digests:
                        self._add_path(name, digests[digest], st.st_size, st.st_mtime_ns)
                    progress(1)
                elif digest in digests:
                    self._add_path(name, digests[digest], st.st_size, st.st_mtime_ns)
                    known += 1
                    progress(1)
                else:
                    pending[digest] = [(name, st.st_size, st.st_mtime_ns)]
                    this_run.add(digest)
                    yield digest, data, name

        items = to_analyse()
        head = list(itertools.islice(items, 3))  # how many photos to analyse, as far as it matters
        jobs = len(head) if len(head) < 3 else len(head) + sum(1 for p in files if str(p) not in here)
        pool = AnalysisPool(settings, _workers(workers, jobs), engine=self.store.engine)
        try:
            in_flight: dict[Future[Analysis], tuple[str, str]] = {}
            queue = itertools.chain(head, items)
            limit = max(2, 2 * pool.workers)

            def fill() -> None:
                for digest, data, name in queue:
                    in_flight[pool.submit(data, name)] = (digest, name)
                    if len(in_flight) >= limit:
                        return

            fill()
            while in_flight:
                done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                for future in done:
                    digest, name = in_flight.pop(future)
                    paths = pending.pop(digest)
                    try:
                        analysis = pool.result(future)
                    except FaceprintError as exc:
                        failures.append(IndexFailure(name, exc.code, str(exc)))
                        progress(len(paths))
                        continue
                    digests[digest] = self._write_photo(digest, analysis, paths)
                    indexed += 1
                    faces += len(analysis.faces)
                    progress(len(paths))
                fill()
        finally:
            pool.close()

        removed = self._prune([p for p in seen if p not in here])
        with self._db.read() as conn:
            in_folder = [
                int(i)
                for p, i in conn.execute("SELECT path, photo_id FROM photo_paths")
                if str(p).startswith(prefix)
            ]
        duplicates = len(in_folder) - len(set(in_folder))
        seconds = time.perf_counter() - start
        with self._db.write() as conn:
            self._audit(
                conn,
                "library-index",
                faces,
                f"{indexed} photos indexed, {known} known, {unchanged} unchanged, {removed} paths removed, "
                f"{len(failures)} failed",
            )
        return IndexReport(
            files=len(files),
            indexed=indexed,
            faces=faces,
            unchanged=unchanged,
            known=known,
            duplicates=duplicates,
            removed=removed,
            failures=tuple(failures),
            seconds=seconds,
        )

    def _add_path(self, path: str, photo_id: int, size: int, mtime_ns: int) -> None:
        with self._db.write() as conn:
            conn.execute("DELETE FROM photo_paths WHERE path = ?", (path,))
            conn.execute(
                "INSERT INTO photo_paths (path, photo_id, size, mtime_ns, seen_at) VALUES (?, ?, ?, ?, ?)",
                (path, photo_id, size, mtime_ns, self._now()),
            )
            self._drop_orphans(conn)

    def _write_photo(self, digest: str, analysis: Analysis, paths: Sequence[tuple[str, int, int]]) -> int:
        """The photo, its faces and its paths, in one transaction."""
        protector = self.store.protector
        now = self._now()
        with self._db.write() as conn:
            cur = conn.execute(
                "INSERT INTO photos (digest, width, height, indexed_at) VALUES (?, ?, ?, ?) RETURNING id",
                (digest, analysis.width, analysis.height, now),
            )
            photo_id = int(cur.fetchone()[0])
            for face in analysis.faces:
                assert face.template is not None and face.quality is not None  # analyse() asks for both
                conn.execute(
                    "INSERT INTO faces (photo_id, box, landmarks, score, quality, reasons, model_id, vector, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        photo_id,
                        json.dumps([round(v, 2) for v in face.box.as_list()]),
                        json.dumps([[round(float(x), 2), round(float(y), 2)] for x, y in face.landmarks]),
                        float(face.score),
                        face.quality.score,
                        ",".join(face.quality.reasons),
                        face.template.model,
                        protector.seal_vector(face.template.vector),
                        now,
                    ),
                )
            for path, size, mtime_ns in paths:
                conn.execute("DELETE FROM photo_paths WHERE path = ?", (path,))
                conn.execute(
                    "INSERT INTO photo_paths (path, photo_id, size, mtime_ns, seen_at) VALUES (?, ?, ?, ?, ?)",
                    (path, photo_id, size, mtime_ns, now),
                )
            self._drop_orphans(conn)
        return photo_id

    def _prune(self, gone: Sequence[str]) -> int:
        """Forget paths that no longer exist; photos left without a path go with their faces."""
        if not gone:
            return 0
        with self._db.write() as conn:
            conn.executemany("DELETE FROM photo_paths WHERE path = ?", [(p,) for p in gone])
            self._drop_orphans(conn)
        self._db.purge()
        return len(gone)

    def _drop_orphans(self, conn: Any) -> None:
        conn.execute("DELETE FROM photos WHERE id NOT IN (SELECT photo_id FROM photo_paths)")
        self._drop_empty_people(conn)

    @staticmethod
    def _drop_empty_people(conn: Any) -> None:
        conn.execute(
            "DELETE FROM people WHERE pinned = 0 AND id NOT IN "
            "(SELECT person_id FROM faces WHERE person_id IS NOT NULL)"
        )

    # -- clustering ----------------------------------------------------------------------------

    def _model(self) -> str:
        return self.store.engine.model_id

    def _params(self) -> ClusterParams:
        return ClusterParams.from_calibration(self.store.engine.calibration)

    def cluster(self, *, params: ClusterParams | None = None) -> ClusterReport:
        """Group the faces into people, incrementally: faces no run has seen link to each other and
        to everyone; existing people only grow (or merge when a link and the gates allow it).
        Corrections stay: confirmed people are never merged with each other, a face declared not a
        person never joins them, two faces of one photo are never one person."""
        start = time.perf_counter()
        params = params or self._params()
        model = self._model()
        protector = self.store.protector
        with self._db.write() as conn:
            rows = conn.execute(
                "SELECT id, photo_id, reasons, person_id, clustered, vector FROM faces WHERE model_id = ? "
                "ORDER BY id",
                (model,),
            ).fetchall()
            if not rows:
                return ClusterReport(0, 0, 0, self._count_people(conn), 0, 0, 0, time.perf_counter() - start)
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            position = {int(f): i for i, f in enumerate(ids)}
            vectors = np.stack(
                [np.frombuffer(protector.keyring.open(bytes(r[5]), protector.aad), "<f4") for r in rows]
            )
            photos = np.array([r[1] for r in rows], dtype=np.int64)
            seeds = np.array([r[2] == "" for r in rows])
            labels = np.array([UNASSIGNED if r[3] is None else r[3] for r in rows], dtype=np.int64)
            new = np.array([r[4] == 0 for r in rows])
            forbid = [
                (position[int(f)], int(p))
                for f, p in conn.execute("SELECT face_id, person_id FROM face_not_person")
                if int(f) in position
            ]
            pinned = [int(r[0]) for r in conn.execute("SELECT id FROM people WHERE pinned = 1")]
            result = cluster_faces(
                vectors.astype(np.float32),
                photos,
                params=params,
                seeds=seeds,
                labels=labels,
                new=new,
                forbid=forbid,
                pinned=pinned,
            )
            out = result.labels
            # merged people: their faces and corrections move to the person they joined
            for old, keep in result.merged.items():
                self._move_person(conn, old, keep)
            # new people get rows; the labels >= first_new are placeholders
            fresh: dict[int, int] = {}
            now = self._now()
            for lab in sorted({int(v) for v in out if v >= result.first_new}):
                cur = conn.execute("INSERT INTO people (created_at) VALUES (?) RETURNING id", (now,))
                fresh[lab] = int(cur.fetchone()[0])
            assigned = 0
            updates: list[tuple[int | None, int]] = []
            for i, lab in enumerate(out):
                target = fresh.get(int(lab), int(lab)) if lab != UNASSIGNED else None
                before = (
                    None if labels[i] == UNASSIGNED else result.merged.get(int(labels[i]), int(labels[i]))
                )
                if target != before:
                    updates.append((target, int(ids[i])))
                    assigned += int(target is not None)
            conn.executemany("UPDATE faces SET person_id = ? WHERE id = ?", updates)
            conn.execute("UPDATE faces SET clustered = 1 WHERE clustered = 0 AND model_id = ?", (model,))
            self._drop_empty_people(conn)
            people = self._count_people(conn)
            report = ClusterReport(
                faces=len(ids),
                new_faces=int(new.sum()),
                assigned=assigned,
                people=people,
                new_people=len(fresh),
                merged=len(result.merged),
                unassigned=int(np.sum(out == UNASSIGNED)),
                seconds=time.perf_counter() - start,
            )
            self._audit(
                conn, "library-cluster", assigned, f"{len(fresh)} new people, {len(result.merged)} merged"
            )
        return report

    @staticmethod
    def _count_people(conn: Any) -> int:
        return int(conn.execute("SELECT COUNT(*) FROM people").fetchone()[0])

    def _move_person(self, conn: Any, old: int, keep: int) -> None:
        """Every face and correction of person ``old`` to ``keep``; ``old`` is deleted (its name kept)."""
        conn.execute("UPDATE faces SET person_id = ? WHERE person_id = ?", (keep, old))
        conn.execute(
            "DELETE FROM face_not_person WHERE person_id = ? AND face_id IN "
            "(SELECT face_id FROM face_not_person WHERE person_id = ?)",
            (old, keep),
        )
        conn.execute("UPDATE face_not_person SET person_id = ? WHERE person_id = ?", (keep, old))
        row = conn.execute("SELECT name, pinned FROM people WHERE id = ?", (old,)).fetchone()
        conn.execute("DELETE FROM people WHERE id = ?", (old,))
        if row is not None:
            name, pinned = row
            if name is not None:
                conn.execute("UPDATE people SET name = ? WHERE id = ? AND name IS NULL", (name, keep))
            if pinned:
                conn.execute("UPDATE people SET pinned = 1 WHERE id = ?", (keep,))

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
        with self._db.write() as conn:
            pid = self._person_id(conn, person)
            other = conn.execute(
                "SELECT id FROM people WHERE name = ? AND id <> ?", (checked, pid)
            ).fetchone()
            if other is not None:
                raise InvalidInput(f"another person is already named {checked!r} (merge them instead)")
            conn.execute("UPDATE people SET name = ?, pinned = 1 WHERE id = ?", (checked, pid))
            self._audit(conn, "library-name", 1)
        return self.person(pid)

    def merge(self, into: str | int, other: str | int) -> Person:
        """``other``'s faces become ``into``'s; ``other`` is deleted. Both were one person, says the user."""
        with self._db.write() as conn:
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
        return self.person(keep)

    def split(self, person: str | int, faces: Iterable[int]) -> Person:
        """Move ``faces`` out of ``person`` into a new person; neither will take the other's faces."""
        wanted = sorted({int(f) for f in faces})
        if not wanted:
            raise InvalidInput("name at least one face to split out")
        with self._db.write() as conn:
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
        return self.person(new_id)

    def not_(self, face: int, person: str | int) -> LibraryFace:
        """Face ``face`` is not ``person``: it leaves them (if in) and no later run puts it back."""
        with self._db.write() as conn:
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
        return next(f for f in self.faces() if f.id == int(face))

    def erase(self, person: str | int) -> int:
        """Erase ``person``: their faces (templates, boxes, landmarks) and the person record, with no
        bytes left behind (secure_delete, then the write-ahead log is checkpointed and truncated).
        Their photos stay indexed, so a later ``index`` does not detect them again. Returns faces erased."""
        with self._db.write() as conn:
            pid = self._person_id(conn, person)
            count = int(conn.execute("SELECT COUNT(*) FROM faces WHERE person_id = ?", (pid,)).fetchone()[0])
            conn.execute("DELETE FROM faces WHERE person_id = ?", (pid,))
            conn.execute("DELETE FROM people WHERE id = ?", (pid,))
            self._audit(conn, "library-erase", count)
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
        protector = self.store.protector
        with self._db.read() as conn:
            rows = conn.execute("SELECT id, vector FROM faces ORDER BY id").fetchall()
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        mat = np.stack(
            [np.frombuffer(protector.keyring.open(bytes(r[1]), protector.aad), "<f4") for r in rows]
        )
        return np.array([r[0] for r in rows], dtype=np.int64), mat.astype(np.float32)


def _name(name: str) -> str:
    text = (name or "").strip()
    if not text or len(text) > _MAX_NAME or any(ord(c) < 32 for c in text):
        raise InvalidInput(f"a name must be 1 to {_MAX_NAME} printable characters")
    if text.lstrip("#").isdigit():
        raise InvalidInput("a name must not be a number (numbers are person ids)")
    return text


def _workers(requested: int | None, jobs: int) -> int:
    if requested is not None:
        if requested < 0:
            raise InvalidInput("workers must not be negative")
        return requested
    if jobs <= 2:
        return 0  # not worth starting processes (each loads the models)
    return min(os.cpu_count() or 1, jobs)


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in EXTENSIONS:
                yield Path(dirpath) / name


def _read(path: Path, max_bytes: int) -> bytes:
    from ..imageio import read_encoded

    data, _ = read_encoded(path, max_bytes=max_bytes)
    if len(data) > max_bytes:
        raise InvalidImage(f"{path}: more than {max_bytes:,} bytes")
    return data
