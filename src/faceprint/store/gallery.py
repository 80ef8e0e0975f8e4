"""The gallery: consented subjects, their templates, 1:N search with calibrated decisions, audit.

The database (a SQLite file, or PostgreSQL shared by several replicas) is the source of truth.
The vector index is a cache of its templates table (:mod:`.index_cache`): loaded at first
search, caught up from the database's ``changes`` feed before every search (so another
process's enrolments and erasures are seen), rebuilt when missing or corrupt.
"""

from __future__ import annotations

import getpass
import json
import math
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from ..calibrate import Calibration, load_calibration
from ..config import Settings
from ..engine import Engine
from ..errors import ConsentRequired, InvalidInput, ManyFaces, NoFace, NotFound, StoreError
from ..faces import Box, Face, Template
from ..imageio import ImageSource, describe, load_image_and_digest
from ..privacy import KeyFile, Keyring
from . import compliance
from .database import Connection, is_url, open_database
from .index_cache import IndexCache, postgres_index_dir
from .keys import ApiKeys
from .openset import Decision, cohort_stats, decision_rule
from .protection import Protector, key_file_path
from .records import (
    AuditEntry,
    Consent,
    EnrollResult,
    EraseResult,
    FaceSearch,
    Sample,
    SearchResult,
    StoreCheck,
    Subject,
    SubjectMatch,
    isoformat,
)
from .vector_index import VectorIndex

__all__ = ["Probe", "Store", "default_store_path", "open_store"]

#: What a search accepts: an image (its largest face, or every face), a face with a template, or a template.
Probe: TypeAlias = ImageSource | Face | Template
Clock = Callable[[], datetime]
_MAX_NAME = 200
#: A subject may match: consent not expired, and enrolled or matched within the idle limit.
_ACTIVE = "(s.expires_at IS NULL OR s.expires_at > ?) AND s.last_seen_at > ?"
_MAX_TEXT = 2000


def default_store_path() -> Path:
    """``$XDG_DATA_HOME/faceprint/faceprint.db`` (``~/.local/share/faceprint/faceprint.db``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "faceprint" / "faceprint.db"


def open_store(
    path: str | os.PathLike[str] | None = None,
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    actor: str | None = None,
) -> Store:
    """Open (creating if needed) the gallery at ``path``: ``settings.store``, else the default path.

    ``path`` is a SQLite file, or a PostgreSQL URL (``postgresql://user@host:5432/dbname``) to
    share one gallery between several processes and hosts.
    """
    settings = settings or (engine.settings if engine else Settings.from_env())
    if path is None:
        path = settings.store or default_store_path()
    return Store(path, engine=engine, settings=settings, actor=actor)


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _text(value: str | None, what: str, *, limit: int = _MAX_TEXT) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > limit or any(ord(c) < 32 for c in value):
        raise InvalidInput(f"{what} must be at most {limit} printable characters")
    return value


def _subject_name(name: str) -> str:
    if not isinstance(name, str):
        raise InvalidInput("a subject name must be text")
    checked = _text(name, "a subject name", limit=_MAX_NAME)
    if checked is None:
        raise InvalidInput("a subject name must not be empty")
    return checked


def _purpose(purpose: str | None) -> str:
    checked = _text(purpose, "a purpose")
    if checked is None:
        raise ConsentRequired("a purpose is required: say why these faces are processed (consent record)")
    return checked


class Store:
    """A gallery of consented subjects on SQLite or PostgreSQL. Thread-safe, and safe across processes.

    Open with :func:`open_store`; close with :meth:`close` or a ``with`` block (saves the index).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        engine: Engine | None = None,
        settings: Settings | None = None,
        actor: str | None = None,
        clock: Clock = _now,
    ) -> None:
        self.settings = settings or (engine.settings if engine else Settings.from_env())
        self._engine = engine
        self._engine_lock = threading.Lock()
        self._clock = clock
        self.actor = actor or f"library:{_user()}"
        #: The SQLite file (``None`` for PostgreSQL); :attr:`location` names either.
        self.path: Path | None = None if is_url(path) else Path(path)
        self.db = open_database(path)
        self.location = self.db.location
        try:
            key_file = key_file_path(self.path or self.location, self.settings.key_file)
            protector = Protector.open(self.db, KeyFile(key_file))
        except BaseException:
            self.db.close()
            raise
        self.index_dir = (
            self.path.with_name(self.path.name + ".index")
            if self.path is not None
            else postgres_index_dir(protector.store_id)
        )
        self._cache = IndexCache(self.db, self.index_dir, protector)
        self._index_lock = self._cache.lock
        self._calibrations: dict[str, Calibration] = {}
        self._keys: ApiKeys | None = None
        #: purpose -> (feed position, eligible subjects, valid until)
        self._eligible_cache: dict[str, tuple[int, int, datetime]] = {}

    # -- life cycle ----------------------------------------------------------------------------

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Save the vector index if it changed, and close the database connections."""
        try:
            self._cache.save_if_changed()
        finally:
            self.db.close()

    @property
    def _protector(self) -> Protector:
        return self._cache.protector

    @property
    def engine(self) -> Engine:
        with self._engine_lock:
            if self._engine is None:
                self._engine = Engine(self.settings)
            return self._engine

    # -- meta ----------------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @property
    def model_id(self) -> str | None:
        """The template space of this gallery (set by its first enrolment), or ``None`` when empty."""
        return self._meta("model_id")

    def _dim(self) -> int:
        dim = self._meta("dim")
        return 0 if dim is None else int(dim)

    def _calibration(self, model: str) -> Calibration:
        if model not in self._calibrations:
            engine = self._engine
            known = engine is not None and engine.model_id == model
            self._calibrations[model] = engine.calibration if engine and known else load_calibration(model)
        return self._calibrations[model]

    # -- enrolment -----------------------------------------------------------------------------

    def sample(self, image: ImageSource, *, largest_face: bool = False) -> Sample:
        """Embed the one face in ``image`` for enrolment.

        Raises :class:`NoFace` when there is none and :class:`ManyFaces` when another face rivals
        the main one (at least half as large and as clearly detected: enrolling a bystander by
        mistake is worse than asking), unless ``largest_face``: then the main face is taken, the
        largest or, among faces of about the same size, the one nearest the centre
        (:meth:`Engine.embed_main`).
        """
        engine = self.engine
        rgb, digest = load_image_and_digest(
            image, max_bytes=engine.settings.max_bytes, max_pixels=engine.settings.max_pixels
        )
        try:
            face, others = engine.embed_main(rgb)
        except NoFace:
            raise NoFace(f"{describe(image)}: no face found") from None
        if others and not largest_face:
            raise ManyFaces(
                f"{describe(image)}: {len(others) + 1} faces of similar size found; enrol a photo of one "
                "person, or take the main face (the largest; among faces of about the same size, the one "
                "nearest the centre) with --largest-face (HTTP: largest_face, library: largest_face=True)"
            )
        assert face.template is not None
        return Sample(template=face.template, source=digest, box=face.box)

    def enroll(
        self,
        subject: str,
        images: Iterable[ImageSource | Sample],
        *,
        purpose: str,
        evidence: str | None = None,
        expires_at: datetime | None = None,
        actor: str | None = None,
        largest_face: bool = False,
    ) -> EnrollResult:
        """Enrol the face of each image as ``subject``, under a consent record for ``purpose``.

        All or nothing: every image is embedded first, then the subject, its consent, its
        templates and an audit row are written in one transaction. Images already enrolled for
        this subject (same content) are skipped, so a re-run completes an interrupted job. An
        existing subject keeps its consent; enrolling it for another purpose is refused.
        """
        name = _subject_name(subject)
        consent = self._consent(purpose, evidence, expires_at)
        samples = [
            item if isinstance(item, Sample) else self.sample(item, largest_face=largest_face)
            for item in images
        ]
        if not samples:
            raise InvalidInput("nothing to enrol: give at least one image")
        result = self.db.transact(
            lambda conn: self._write_enrolment(conn, name, samples, consent, actor or self.actor)
        )
        if result.added:
            self._sync_index()
        return result

    def create_subject(
        self,
        subject: str,
        *,
        purpose: str,
        evidence: str | None = None,
        expires_at: datetime | None = None,
        actor: str | None = None,
    ) -> Subject:
        """Record ``subject`` and its consent, without templates yet (enrol faces with :meth:`add_faces`).

        Raises :class:`InvalidInput` if the subject exists. Searches never return a subject
        without templates, so creating one first changes no search result.
        """
        name = _subject_name(subject)
        consent = self._consent(purpose, evidence, expires_at)
        now = isoformat(consent.granted_at)
        with self.db.write() as conn:
            if conn.execute("SELECT 1 FROM subjects WHERE name = ?", (name,)).fetchone():
                raise InvalidInput(f"subject {name!r} exists already")
            conn.execute(
                "INSERT INTO subjects (name, purpose, evidence, granted_at, expires_at, created_at, "
                "last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, consent.purpose, consent.evidence, now, isoformat(consent.expires_at), now, now),
            )
            self._audit(conn, actor or self.actor, "consent", consent.purpose, [name], 0)
        return self.subject(name)

    def add_faces(
        self,
        subject: str,
        images: Iterable[ImageSource | Sample],
        *,
        actor: str | None = None,
        largest_face: bool = False,
    ) -> EnrollResult:
        """Enrol more faces into an existing ``subject`` under the consent it already holds.

        Same rules as :meth:`enroll` (all or nothing, duplicates skipped). Raises
        :class:`NotFound` for an unknown subject and :class:`ConsentRequired` when its consent
        has expired.
        """
        name = _subject_name(subject)
        held = self.subject(name).consent
        now = self._clock()
        if not held.active(now):
            raise ConsentRequired(f"the consent of subject {name!r} expired on {isoformat(held.expires_at)}")
        consent = Consent(purpose=held.purpose, granted_at=now, evidence=held.evidence)
        samples = [
            item if isinstance(item, Sample) else self.sample(item, largest_face=largest_face)
            for item in images
        ]
        if not samples:
            raise InvalidInput("nothing to enrol: give at least one image")
        result = self.db.transact(
            lambda conn: self._write_enrolment(
                conn, name, samples, consent, actor or self.actor, create=False
            )
        )
        if result.added:
            self._sync_index()
        return result

    @property
    def keys(self) -> ApiKeys:
        """The API keys of the HTTP service kept in this store."""
        with self._engine_lock:
            if self._keys is None:
                self._keys = ApiKeys(self)
            return self._keys

    def enroll_many(
        self,
        entries: Iterable[tuple[str, Sequence[Sample]]],
        *,
        purpose: str,
        evidence: str | None = None,
        expires_at: datetime | None = None,
        actor: str | None = None,
    ) -> list[EnrollResult]:
        """Enrol many subjects from ready templates in **one** transaction (imports, migrations).

        Same rules as :meth:`enroll` per subject; all or nothing for the whole batch. Use batches
        of thousands: one transaction (one fsync) per batch instead of per subject.
        """
        consent = self._consent(purpose, evidence, expires_at)
        batch = [(_subject_name(name), list(samples)) for name, samples in entries]
        if any(not samples for _, samples in batch):
            raise InvalidInput("nothing to enrol: every subject needs at least one template")
        results = self.db.transact(
            lambda conn: [
                self._write_enrolment(conn, name, samples, consent, actor or self.actor)
                for name, samples in batch
            ]
        )
        if any(r.added for r in results):
            self._sync_index()
        return results

    def _consent(self, purpose: str, evidence: str | None, expires_at: datetime | None) -> Consent:
        purpose = _purpose(purpose)
        evidence = _text(evidence, "evidence")
        now = self._clock()
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise InvalidInput("expires_at must carry a time zone")
            if expires_at <= now:
                raise InvalidInput(f"consent expiry {isoformat(expires_at)} is not in the future")
        return Consent(purpose=purpose, granted_at=now, evidence=evidence, expires_at=expires_at)

    def enrolled_sources(self, subject: str) -> frozenset[str]:
        """Content hashes of the images already enrolled for ``subject`` (empty if unknown)."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT t.source FROM templates t JOIN subjects s ON s.id = t.subject_id WHERE s.name = ?",
                (_subject_name(subject),),
            ).fetchall()
        return frozenset(str(r[0]) for r in rows)

    def _write_enrolment(
        self,
        conn: Any,
        name: str,
        samples: list[Sample],
        consent: Consent,
        actor: str,
        *,
        create: bool = True,
    ) -> EnrollResult:
        """Write one subject's enrolment inside the caller's transaction (``create``: may be new)."""
        model = samples[0].template.model
        dim = samples[0].template.dim
        if any(s.template.model != model for s in samples):
            raise InvalidInput("the templates of one enrolment come from different models")
        now = isoformat(consent.granted_at)
        self._claim_model(conn, model, dim)
        row = conn.execute("SELECT id, purpose, expires_at FROM subjects WHERE name = ?", (name,)).fetchone()
        created = row is None
        if row is None and not create:
            raise NotFound(f"no subject {name!r} in this store")
        if row is None:
            subject_id = int(
                conn.execute(
                    "INSERT INTO subjects (name, purpose, evidence, granted_at, expires_at, created_at, "
                    "last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (name, consent.purpose, consent.evidence, now, isoformat(consent.expires_at), now, now),
                ).fetchone()[0]
            )
        else:
            subject_id, held, expires = int(row[0]), str(row[1]), _parse_time(row[2])
            if held != consent.purpose:
                raise ConsentRequired(
                    f"subject {name!r} consented to the purpose {held!r}, not {consent.purpose!r}; "
                    "a new purpose needs a new consent (erase and enrol again)"
                )
            if expires is not None and expires <= consent.granted_at:
                raise ConsentRequired(f"the consent of subject {name!r} expired on {isoformat(expires)}")
        known = {
            str(r[0])
            for r in conn.execute("SELECT source FROM templates WHERE subject_id = ?", (subject_id,))
        }
        added = skipped = 0
        for sample in samples:
            if sample.source in known:
                skipped += 1
                continue
            known.add(sample.source)
            box = None if sample.box is None else json.dumps([round(v, 2) for v in sample.box.as_list()])
            template_id = conn.execute(
                "INSERT INTO templates (subject_id, model_id, vector, source, box, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    subject_id,
                    model,
                    self._protector.seal_vector(sample.template.vector),
                    sample.source,
                    box,
                    now,
                ),
            ).fetchone()[0]
            conn.execute("INSERT INTO changes (template_id, op) VALUES (?, 'add')", (int(template_id),))
            added += 1
        if added:
            conn.execute("UPDATE subjects SET last_seen_at = ? WHERE id = ?", (now, subject_id))
            self._audit(conn, actor, "enroll", consent.purpose, [name], added)
        return EnrollResult(subject=name, created=created, added=added, skipped=skipped)

    def _claim_model(self, conn: Any, model: str, dim: int) -> None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'model_id'").fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('model_id', ?), ('dim', ?)", (model, str(dim))
            )
        elif row[0] != model:
            raise StoreError(
                f"this store holds {row[0]} templates; these are {model} (set FACEPRINT_MIRROR to match the store)"
            )

    # -- search --------------------------------------------------------------------------------

    def search(
        self,
        probe: Probe,
        *,
        purpose: str,
        actor: str | None = None,
        top_k: int = 5,
        fmr: float | None = None,
        fpir: float | None = None,
        all_faces: bool = False,
    ) -> SearchResult:
        """Who is the face in ``probe``? The subjects whose best template passes the threshold.

        Open-set: a face nobody passes for gets no matches. Only subjects whose consent covers
        ``purpose`` and has not expired are candidates. By default the threshold bounds the share
        of strangers given a name at ``fpir`` = :data:`~faceprint.store.openset.DEFAULT_FPIR`
        (0.01): against the ``N`` subjects eligible for ``purpose`` it is set at a per-comparison
        false match rate of ``fpir / N``, so it rises with the gallery. ``fmr`` sets the
        per-comparison rate instead (a stranger is then named with probability up to about
        ``N * fmr``); give one or the other. The result says which threshold was used and why
        (:attr:`SearchResult.rule`). An image is searched by its main face
        (:meth:`Engine.embed_main`), or by every face with ``all_faces``. Every search writes an
        audit row (who, when, purpose, subjects matched, number of faces matched; never the
        probe), durably, before it returns.
        """
        return self.search_many(
            [probe], purpose=purpose, actor=actor, top_k=top_k, fmr=fmr, fpir=fpir, all_faces=all_faces
        )[0]

    def search_many(
        self,
        probes: Sequence[Probe],
        *,
        purpose: str,
        actor: str | None = None,
        top_k: int = 5,
        fmr: float | None = None,
        fpir: float | None = None,
        all_faces: bool = False,
    ) -> list[SearchResult]:
        """:meth:`search` for several probes, with one audit row each written in one transaction.

        Raises on the first probe that fails (nothing is audited then): use :meth:`search` per
        probe to go on past bad images.
        """
        purpose = _purpose(purpose)
        if not 1 <= top_k <= 100:
            raise InvalidInput(f"top_k must be between 1 and 100, not {top_k}")
        model = self.model_id
        calibration = self._calibration(model or self.engine.model_id)
        # validates fmr / fpir before any image work
        index = self._synced_index() if model is not None else None  # follows other processes' writes
        eligible = self._eligible(purpose, index.seq if index is not None else -1)
        decision = decision_rule(calibration, eligible, fmr=fmr, fpir=fpir)
        threshold = decision.threshold
        self._check_purpose(purpose)
        answers: list[SearchResult] = []
        for probe in probes:
            faces = self._probe_faces(probe, all_faces=all_faces)
            for face in faces:
                assert face.template is not None
                if model is not None and face.template.model != model:
                    raise StoreError(
                        f"this store holds {model} templates; the probe is {face.template.model}"
                    )
            found: list[list[tuple[str, float]]] = [[] for _ in faces]
            if index is not None:
                queries = np.stack([f.template.vector for f in faces if f.template])
                found = self._identify(queries, purpose, top_k, decision, index)
            results = tuple(
                FaceSearch(
                    box=face.box if face.box.width > 0 else None,
                    matches=tuple(SubjectMatch(name, sim, calibration.fmr(sim)) for name, sim in matches),
                    masked=face.masked if face.mask_score is not None else None,
                )
                for face, matches in zip(faces, found, strict=True)
            )
            answers.append(
                SearchResult(
                    faces=results,
                    fmr=decision.fmr,
                    threshold=threshold,
                    fpir=decision.fpir,
                    rule=decision.rule,
                    eligible=decision.eligible,
                )
            )

        def audit(conn: Connection) -> None:
            now = isoformat(self._clock())
            for answer in answers:
                matched = sorted({m.subject for face in answer.faces for m in face.matches})
                if matched:
                    marks = ",".join("?" * len(matched))
                    conn.execute(
                        f"UPDATE subjects SET last_seen_at = ? WHERE name IN ({marks})", (now, *matched)
                    )
                self._audit(
                    conn,
                    actor or self.actor,
                    "search",
                    purpose,
                    matched,
                    sum(1 for f in answer.faces if f.matches),
                )

        self.db.transact(audit, feed=False)  # appends nothing to the feed: no need to queue behind writers
        return answers

    def _active_params(self) -> tuple[str | None, str | None]:
        """(now, idle cutoff) for :data:`_ACTIVE`: consent not expired, seen within the idle limit."""
        now = self._clock()
        days = self.settings.max_idle_days
        cutoff = isoformat(now - timedelta(days=days)) if days else ""
        return isoformat(now), cutoff

    def _eligible(self, purpose: str, seq: int) -> int:
        """How many subjects a search for ``purpose`` compares against (consented, active, with templates).

        Cached per purpose until the changes feed moves (enrolment, erasure, here or in another
        process) or the first of those subjects' consent expiry or idle limit passes.
        """
        now = self._clock()
        held = self._eligible_cache.get(purpose)
        if held is not None and held[0] == seq and now < held[2]:
            return held[1]
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT count(*), min(s.expires_at), min(s.last_seen_at) FROM subjects s WHERE s.purpose = ? "
                f"AND {_ACTIVE} AND EXISTS (SELECT 1 FROM templates t WHERE t.subject_id = s.id)",
                (purpose, *self._active_params()),
            ).fetchone()
        until = _parse_time(row[1]) or datetime.max.replace(tzinfo=UTC)
        days = self.settings.max_idle_days
        if days and row[2] is not None:
            until = min(until, datetime.fromisoformat(row[2]) + timedelta(days=days))
        self._eligible_cache[purpose] = (seq, int(row[0]), until)
        return int(row[0])

    def _check_purpose(self, purpose: str) -> None:
        with self.db.read() as conn:
            if conn.execute("SELECT 1 FROM subjects WHERE purpose = ? LIMIT 1", (purpose,)).fetchone():
                return
            held = [
                str(r[0]) for r in conn.execute("SELECT DISTINCT purpose FROM subjects ORDER BY 1 LIMIT 10")
            ]
        if held:
            raise ConsentRequired(
                f"no subject in this gallery consented to the purpose {purpose!r}; purposes held: {held}"
            )

    def _probe_faces(self, probe: Probe, *, all_faces: bool) -> list[Face]:
        if isinstance(probe, Template):
            return [Face(box=Box(0, 0, 0, 0), score=float("nan"), landmarks=np.zeros((5, 2)), template=probe)]
        if isinstance(probe, Face):
            if probe.template is None:
                raise InvalidInput("this face has no template; get it from Engine.embed")
            return [probe]
        if not all_faces:
            try:
                return [self.engine.embed_main(probe)[0]]
            except NoFace:
                raise NoFace(f"{describe(probe)}: no face found") from None
        faces = self.engine.embed(probe)
        if not faces:
            raise NoFace(f"{describe(probe)}: no face found")
        return faces

    def _identify(
        self, queries: NDArray[np.float32], purpose: str, top_k: int, decision: Decision, index: VectorIndex
    ) -> list[list[tuple[str, float]]]:
        """Per engine template: up to ``top_k`` (subject, best similarity) that ``decision`` names, best first.

        ``index`` was synced first: it follows key rotations made by other processes. The
        cohort-normalised rule needs the best ``k + 1`` eligible subjects whatever they score.
        """
        queries = self._protector.protect(queries)
        total = len(index)
        if total == 0:
            return [[] for _ in queries]
        now = isoformat(self._clock())
        k = decision.k if decision.z is not None else 0
        floor = -math.inf if k else decision.threshold
        answers: list[list[tuple[str, float]]] = []
        for query in queries:
            wanted = min(total, top_k * 4 + 32 + (k + 1 if k else 0))
            while True:
                ids, sims = index.search(query[None, :], wanted)
                hits = [(int(i), float(s)) for i, s in zip(ids[0], sims[0], strict=True) if i >= 0]
                best = self._best_per_subject(hits, purpose, now, floor)
                exhausted = wanted >= total or not hits or hits[-1][1] < floor
                if len(best) >= max(top_k, k + 1) or exhausted:
                    break
                wanted = min(total, wanted * 4)
            if k:
                mean, std = cohort_stats([sim for _, sim in best], k)
                best = [(name, sim) for name, sim in best if decision.passes(sim, (sim - mean) / std)]
            answers.append(best[:top_k])
        return answers

    def _best_per_subject(
        self, hits: list[tuple[int, float]], purpose: str, now: str | None, threshold: float
    ) -> list[tuple[str, float]]:
        passing = [(i, s) for i, s in hits if s >= threshold]
        if not passing:
            return []
        marks = ",".join("?" * len(passing))
        with self.db.read() as conn:
            owners = {
                int(r[0]): str(r[1])
                for r in conn.execute(
                    # CROSS JOIN: SQLite must look the few templates up by id first, not walk every
                    # subject of the purpose (150 ms at 200,000 subjects); PostgreSQL plans it alike
                    f"SELECT t.id, s.name FROM templates t CROSS JOIN subjects s "
                    f"WHERE s.id = t.subject_id AND t.id IN ({marks}) AND s.purpose = ? AND {_ACTIVE}",
                    (*[i for i, _ in passing], purpose, *self._active_params()),
                )
            }
        best: dict[str, float] = {}
        for template_id, sim in passing:
            name = owners.get(template_id)
            if name is not None and sim > best.get(name, -2.0):
                best[name] = sim
        return sorted(best.items(), key=lambda item: item[1], reverse=True)

    # -- reading -------------------------------------------------------------------------------

    def subjects(self) -> list[Subject]:
        """Every subject with its consent and template count, by name."""
        return self._query_subjects("ORDER BY s.name", ())

    def subject(self, name: str) -> Subject:
        """One subject; raises :class:`NotFound` if there is none of that name."""
        found = self._query_subjects("WHERE s.name = ?", (_subject_name(name),))
        if not found:
            raise NotFound(f"no subject {name!r} in this store")
        return found[0]

    def _query_subjects(self, clause: str, params: Sequence[Any]) -> list[Subject]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT s.name, s.purpose, s.evidence, s.granted_at, s.expires_at, s.created_at, s.last_seen_at, "
                f"(SELECT count(*) FROM templates t WHERE t.subject_id = s.id) FROM subjects s {clause}",
                params,
            ).fetchall()
        return [_subject(row) for row in rows]

    def audit(self, *, limit: int | None = None, subject: str | None = None) -> list[AuditEntry]:
        """Audit rows, newest first; ``subject`` keeps only those that touched or matched that subject."""
        sql = "SELECT id, at, actor, operation, purpose, subjects, results, detail FROM audit"
        params: list[Any] = []
        if subject is not None:
            sql += (
                " WHERE EXISTS (SELECT 1 FROM json_array_elements_text(audit.subjects::json) AS e (value) "
                "WHERE e.value = ?)"
                if self.db.dialect == "postgres"
                else " WHERE EXISTS (SELECT 1 FROM json_each(audit.subjects) WHERE value = ?)"
            )
            params.append(_subject_name(subject))
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self.db.read() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [
            AuditEntry(
                id=int(r[0]),
                at=datetime.fromisoformat(r[1]),
                actor=str(r[2]),
                operation=str(r[3]),
                purpose=r[4],
                subjects=tuple(json.loads(r[5])),
                results=r[6],
                detail=r[7],
            )
            for r in rows
        ]

    def __len__(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute("SELECT count(*) FROM subjects").fetchone()[0])

    # -- erasure -------------------------------------------------------------------------------

    def erase(self, subject: str, *, actor: str | None = None, reason: str | None = None) -> EraseResult:
        """Erase ``subject``: consent record, every template, and their bytes from disk.

        SQLite: deleted rows are overwritten (``secure_delete``) and the write-ahead log is
        checkpointed and truncated so no old page image survives. PostgreSQL: the tables are
        vacuumed (what that does not reach is listed in docs/store.md). The vector index is
        rewritten without them here, and by every replica as soon as it hears of the change.
        The audit row keeps the name and the fact of erasure, nothing else.
        """
        return self._erase(_subject_name(subject), actor or self.actor, _text(reason, "a reason"), "erase")

    def withdraw(self, subject: str, *, actor: str | None = None) -> EraseResult:
        """The subject withdrew consent: they stop matching at once and are erased (audited as such)."""
        return self._erase(_subject_name(subject), actor or self.actor, "consent withdrawn", "withdraw")

    def _erase(self, name: str, actor: str, reason: str | None, operation: str) -> EraseResult:
        def erase(conn: Connection) -> list[int]:
            row = conn.execute("SELECT id FROM subjects WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFound(f"no subject {name!r} in this store")
            ids = [
                int(r[0]) for r in conn.execute("SELECT id FROM templates WHERE subject_id = ?", (row[0],))
            ]
            conn.execute("DELETE FROM templates WHERE subject_id = ?", (row[0],))
            conn.execute("DELETE FROM subjects WHERE id = ?", (row[0],))
            conn.executemany(
                "INSERT INTO changes (template_id, op) VALUES (?, 'remove')", [(i,) for i in ids]
            )
            self._audit(conn, actor, operation, None, [name], len(ids), reason)
            return ids

        ids = self.db.transact(erase)
        self._sync_index(force_save=True)
        return EraseResult(subject=name, templates=len(ids), wal_cleared=self.db.purge())

    # -- retention, access, keys ---------------------------------------------------------------

    def due(self) -> list[tuple[str, str]]:
        """Subjects due for erasure, with the reason: consent expired, or idle past the limit."""
        now, cutoff = self._active_params()
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT name, expires_at, last_seen_at FROM subjects "
                "WHERE (expires_at IS NOT NULL AND expires_at <= ?) OR last_seen_at <= ? ORDER BY name",
                (now, cutoff),
            ).fetchall()
        return [
            (
                str(name),
                f"consent expired {expires}"
                if expires is not None and expires <= (now or "")
                else f"not enrolled or matched since {seen} (limit {self.settings.max_idle_days} days)",
            )
            for name, expires, seen in rows
        ]

    def sweep(self, *, actor: str | None = None) -> list[EraseResult]:
        """Erase every subject :meth:`due` lists, each with an audit row saying why."""
        return [self._erase(name, actor or self.actor, reason, "retention") for name, reason in self.due()]

    def export(self, subject: str) -> dict[str, Any]:
        """Everything held about ``subject`` (GDPR Art. 15): see :func:`compliance.export_subject`."""
        return compliance.export_subject(self, subject)

    def record(self) -> dict[str, Any]:
        """The record of processing activities (GDPR Art. 30): see :func:`compliance.record_of_processing`."""
        return compliance.record_of_processing(self)

    def rotate_keys(self, *, storage: bool = False, template: bool = False, actor: str | None = None) -> int:
        """Replace the storage key and/or the template key; every template is re-protected.

        Crash-safe: the new key is added to the key file first, all rows are re-sealed (and
        re-transformed) and the key ids in the database switched in one transaction, the index is
        rebuilt, and only then is the old key removed from the key file. Returns the rows rewritten.
        """
        if not storage and not template:
            raise InvalidInput("say which key to rotate: storage, template or both")
        with self._index_lock:
            old = self._protector
            new = old.rotated(storage=storage, template=template)
            both = Keyring(
                storage=tuple(dict.fromkeys(new.keyring.storage + old.keyring.storage)),
                template=tuple(dict.fromkeys(new.keyring.template + old.keyring.template)),
            )
            old.key_file.write(both)
            operation = "rotate-" + (
                "storage-and-template-keys"
                if storage and template
                else "storage-key"
                if storage
                else "template-key"
            )
            dim = self._dim()
            with self.db.write() as conn:
                count = old.reprotect(conn, new, dim or 1)
                self._audit(conn, actor or self.actor, operation, None, [], count)
            self._cache.protector = new
            self._cache.rebuild(dim)
            old.key_file.write(new.keyring)
        self.db.purge()
        return count

    # -- the vector index (a cache of the templates table: index_cache.py) ----------------------

    def _synced_index(self) -> VectorIndex:
        self._listen()
        return self._cache.synced(self._dim())

    def _sync_index(self, *, force_save: bool = False) -> None:
        self._listen()
        self._cache.sync(self._dim(), force_save=force_save)

    def _listen(self) -> None:
        """Once the index is in use: catch up as soon as another process changes the feed."""
        if self.db.dialect == "postgres":
            self.db.listen(lambda: self._cache.sync_if_loaded(self._dim()))

    def rebuild_index(self, *, actor: str | None = None) -> int:
        """Rebuild the vector index from the templates table; returns the number of templates indexed."""
        count = self._cache.rebuild(self._dim())
        with self.db.write(feed=False) as conn:
            self._audit(conn, actor or self.actor, "rebuild", None, [], count)
        return count

    def indexed_ids(self) -> frozenset[int]:
        """Ids of the templates the vector index holds (after catching up with the database)."""
        return frozenset(int(i) for i in self._synced_index().ids())

    def check(self) -> StoreCheck:
        """Database integrity and agreement between the templates table and the vector index."""
        integrity = self.db.integrity()
        with self.db.read() as conn:
            subjects = int(conn.execute("SELECT count(*) FROM subjects").fetchone()[0])
            ids = frozenset(int(r[0]) for r in conn.execute("SELECT id FROM templates"))
        indexed = self.indexed_ids()
        return StoreCheck(
            integrity=integrity,
            subjects=subjects,
            templates=len(ids),
            indexed=len(indexed),
            index_agrees=indexed == ids,
        )

    # -- audit ---------------------------------------------------------------------------------

    def _audit(
        self,
        conn: Any,
        actor: str,
        operation: str,
        purpose: str | None,
        subjects: Sequence[str],
        results: int | None,
        detail: str | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO audit (at, actor, operation, purpose, subjects, results, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                isoformat(self._clock()),
                actor,
                operation,
                purpose,
                json.dumps(list(subjects)),
                results,
                detail,
            ),
        )


def _subject(row: Sequence[Any]) -> Subject:
    consent = Consent(
        purpose=str(row[1]),
        evidence=row[2],
        granted_at=datetime.fromisoformat(row[3]),
        expires_at=_parse_time(row[4]),
    )
    return Subject(
        name=str(row[0]),
        consent=consent,
        templates=int(row[7]),
        created_at=datetime.fromisoformat(row[5]),
        last_seen_at=datetime.fromisoformat(row[6]),
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return str(os.getuid())
