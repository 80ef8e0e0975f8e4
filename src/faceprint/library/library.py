"""The photo library: index a folder's faces into the store, group them into people, incrementally.

Library faces live in the store's database beside the gallery (the library's own schema steps)
and are sealed with the store's keys like gallery templates, each under a data key of its own
(:mod:`.face_keys`: destroyed when the face is erased or its photo dropped), but they are not
gallery subjects: no consent rows, never searched 1:N. The declared purpose (default: the
owner's personal photo library) is written to the audit trail with every operation; no biometric
data ever is.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import Settings
from ..engine import Engine
from ..errors import FaceprintError, InvalidImage, InvalidInput
from ..gallery import Gallery as Store
from ..gallery import open_store
from ..store.records import isoformat
from .clustering import Clustering
from .face_keys import new_face_key, shred_faces, store_face_keys
from .people import People
from .records import IndexFailure, IndexReport
from .workers import Analysis, AnalysisPool

__all__ = ["DEFAULT_PURPOSE", "EXTENSIONS", "Library", "open_library"]

DEFAULT_PURPOSE = "personal photo library"
#: File name endings indexed (case-insensitive).
EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".tif", ".tiff"})

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


class Library(Clustering, People):
    """Photos, faces and people in one store. Open with :func:`open_library` (or ``Library.open``)."""

    def __init__(self, store: Store, *, purpose: str = DEFAULT_PURPOSE, actor: str | None = None) -> None:
        """``actor``: who acts, for the audit trail (default: the store's actor)."""
        text = (purpose or "").strip()
        if not text or len(text) > 2000 or any(ord(c) < 32 for c in text):
            raise InvalidInput("the purpose must be 1 to 2000 printable characters")
        self.store = store
        self.purpose = text
        self.actor = actor

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
        self.store.write_audit(
            conn, self.actor or self.store.actor, operation, self.purpose, [], results, detail
        )

    @staticmethod
    def _now() -> str:
        return isoformat(datetime.now(UTC)) or ""

    # -- indexing ------------------------------------------------------------------------------

    def index(
        self,
        folder: str | os.PathLike[str],
        *,
        workers: int | None = None,
        ray: str | None = None,
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
        ``ray``: the address (``HOST:PORT``) of a Ray cluster whose workers analyse the photos
        instead (``workers`` actors, default one per CPU there); this process still reads, hashes,
        seals and writes, so resuming works as without it. An address where no cluster answers is
        :class:`~faceprint.errors.ClusterUnavailable`, before anything is read.
        """
        start = time.perf_counter()
        root = Path(folder)
        if not root.is_dir():
            raise InvalidInput(f"{root}: not a folder")
        root = root.resolve()
        if ray is not None:
            from ..ray_pool import connect

            if workers is not None and workers < 0:
                raise InvalidInput("workers must not be negative")
            connect(ray)  # fail before the walk when the cluster does not answer
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
        if ray is not None and jobs:
            pool = AnalysisPool(settings, workers, ray=ray, at_most=jobs)
        else:
            local = 0 if ray is not None else _workers(workers, jobs)
            pool = AnalysisPool(settings, local, engine=self.store.engine)
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
            nodes = pool.nodes()
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

        def work(conn: Any) -> None:
            self._audit(
                conn,
                "library-index",
                faces,
                f"{indexed} photos indexed, {known} known, {unchanged} unchanged, {removed} paths removed, "
                f"{len(failures)} failed",
            )

        self._db.transact(work)  # run again after a transient failure (PostgreSQL)
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
            nodes=nodes,
        )

    def _add_path(self, path: str, photo_id: int, size: int, mtime_ns: int) -> None:
        def work(conn: Any) -> int:
            conn.execute("DELETE FROM photo_paths WHERE path = ?", (path,))
            conn.execute(
                "INSERT INTO photo_paths (path, photo_id, size, mtime_ns, seen_at) VALUES (?, ?, ?, ?, ?)",
                (path, photo_id, size, mtime_ns, self._now()),
            )
            return self._drop_orphans(conn)

        if self._db.transact(work):  # run again after a transient failure (PostgreSQL)
            self._prune_keys()

    def _write_photo(self, digest: str, analysis: Analysis, paths: Sequence[tuple[str, int, int]]) -> int:
        """The photo, its faces and its paths, in one transaction."""
        protector = self.store.protector
        now = self._now()

        def work(conn: Any) -> tuple[int, int]:
            cur = conn.execute(
                "INSERT INTO photos (digest, width, height, indexed_at) VALUES (?, ?, ?, ?) RETURNING id",
                (digest, analysis.width, analysis.height, now),
            )
            photo_id = int(cur.fetchone()[0])
            keys: dict[int, bytes | None] = {}
            for face in analysis.faces:
                assert face.template is not None and face.quality is not None  # analyse() asks for both
                key = new_face_key(protector)
                cur = conn.execute(
                    "INSERT INTO faces (photo_id, box, landmarks, score, quality, reasons, model_id, vector, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        photo_id,
                        json.dumps([round(v, 2) for v in face.box.as_list()]),
                        json.dumps([[round(float(x), 2), round(float(y), 2)] for x, y in face.landmarks]),
                        float(face.score),
                        face.quality.score,
                        ",".join(face.quality.reasons),
                        face.template.model,
                        protector.seal_vector(face.template.vector, key),
                        now,
                    ),
                )
                keys[int(cur.fetchone()[0])] = key
            store_face_keys(conn, protector, keys)
            for path, size, mtime_ns in paths:
                conn.execute("DELETE FROM photo_paths WHERE path = ?", (path,))
                conn.execute(
                    "INSERT INTO photo_paths (path, photo_id, size, mtime_ns, seen_at) VALUES (?, ?, ?, ?, ?)",
                    (path, photo_id, size, mtime_ns, now),
                )
            return photo_id, self._drop_orphans(conn)

        photo_id, shredded = self._db.transact(work)  # run again after a transient failure (PostgreSQL)
        if shredded:
            self._prune_keys()
        return int(photo_id)

    def _prune(self, gone: Sequence[str]) -> int:
        """Forget paths that no longer exist; photos left without a path go with their faces."""
        if not gone:
            return 0

        def work(conn: Any) -> int:
            conn.executemany("DELETE FROM photo_paths WHERE path = ?", [(p,) for p in gone])
            return self._drop_orphans(conn)

        if self._db.transact(work):  # run again after a transient failure (PostgreSQL)
            self._prune_keys()
        self._db.purge()
        return len(gone)

    def _drop_orphans(self, conn: Any) -> int:
        """Drop the photos no path leads to, their faces' data keys destroyed (crypto-shredding)
        with the rows; returns the keys destroyed (then :meth:`_prune_keys` after the commit)."""
        orphans = "SELECT id FROM photos WHERE id NOT IN (SELECT photo_id FROM photo_paths)"
        if conn.execute(orphans + " LIMIT 1").fetchone() is None:
            return 0
        shredded = shred_faces(conn, self.store.protector, f"f.photo_id IN ({orphans})")
        conn.execute(f"DELETE FROM photos WHERE id IN ({orphans})")
        self._drop_empty_people(conn)
        return shredded

    def _prune_keys(self) -> None:
        """The wrapping keys replaced by an erasure leave the key file (after its commit)."""
        self.store.protector.subjects.prune(self._db)

    @staticmethod
    def _drop_empty_people(conn: Any) -> None:
        conn.execute(
            "DELETE FROM people WHERE pinned = 0 AND id NOT IN "
            "(SELECT person_id FROM faces WHERE person_id IS NOT NULL)"
        )


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
