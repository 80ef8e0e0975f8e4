"""The gallery: consented subjects, their templates, 1:N search with calibrated decisions, audit.

A :class:`Store` takes templates (a :class:`~faceprint.store.records.Sample` to enrol, a Template
or Face to search) and never runs a model; :func:`faceprint.open_store` adds the engine in front
(:class:`faceprint.gallery.Gallery`), so that images can be enrolled and searched.

The database (a SQLite file, or PostgreSQL shared by several replicas) is the source of truth.
The vector index is a cache of its templates table (:mod:`.index_cache`): loaded at first
search, caught up from the database's ``changes`` feed before every search (so another
process's enrolments and erasures are seen), rebuilt when missing or corrupt.
"""

from __future__ import annotations

import getpass
import os
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from ..calibrate import Calibration, load_calibration
from ..config import Settings
from ..errors import InvalidInput, NotFound, StoreError
from ..faces import Box, Face, Template
from ..imageio import ImageSource
from ..privacy import KeyFile
from . import compliance, consent, repository
from .consent import EligibleCount, clean_text, subject_name
from .database import Connection, is_url, open_database
from .enrolment import Enrolment
from .generations import PENDING_TABLE
from .index_cache import HeldVectors, postgres_index_dir
from .keys import ApiKeys
from .own_writes import OwnAdds
from .protection import Protector, key_file_path, resealers
from .records import AuditEntry, EraseResult, SearchResult, StoreCheck, Subject
from .rotation import rotate_keys
from .search import search_many
from .vectors import open_vector_cache, sync_after_erasure

if TYPE_CHECKING:
    from .vector_search import VectorSearch

__all__ = ["Probe", "Store", "default_store_path", "os_user"]

#: What a search accepts: an image (its largest face, or every face), a face with a template, or a template.
Probe: TypeAlias = ImageSource | Face | Template
Clock = Callable[[], datetime]


def default_store_path() -> Path:
    """``$XDG_DATA_HOME/faceprint/faceprint.db`` (``~/.local/share/faceprint/faceprint.db``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "faceprint" / "faceprint.db"


def now_utc() -> datetime:
    return datetime.now(UTC)


class Store(Enrolment):
    """A gallery of consented subjects on SQLite or PostgreSQL. Thread-safe, and safe across processes.

    Takes templates; :func:`faceprint.open_store` gives one that also takes images. Close with
    :meth:`close` or a ``with`` block (saves the index).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        settings: Settings | None = None,
        actor: str | None = None,
        clock: Clock = now_utc,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self._lock = threading.Lock()
        self._clock = clock
        self.actor = actor or f"library:{os_user()}"
        #: The SQLite file (``None`` for PostgreSQL); :attr:`location` names either.
        self.path: Path | None = None if is_url(path) else Path(path)
        self.db = open_database(path)
        self.location = self.db.location
        try:
            key_file = key_file_path(self.path or self.location, self.settings.key_file)
            protector = Protector.open(self.db, KeyFile(key_file), subject_keys=self.settings.subject_keys)
            protector.adopt_owner_keys(self.db)
            self.index_dir = (
                self.path.with_name(self.path.name + ".index")
                if self.path is not None
                else postgres_index_dir(protector.store_id)
            )
            self._cache = open_vector_cache(self.db, self.settings.vectors, self.index_dir, protector)
        except BaseException:
            self.db.close()
            raise
        self._calibrations: dict[str, Calibration] = {}
        self._keys: ApiKeys | None = None
        self._eligible = EligibleCount(self.db, self.settings.max_idle_days)
        self._known_dim = 0

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
            self._cache.drop()  # and its connection to a vector engine
            self.db.close()

    @property
    def protector(self) -> Protector:
        """The keys that seal templates at rest and transform them (changes on key rotation)."""
        return self._cache.protector

    def now(self) -> datetime:
        """The store's clock (UTC): what consent expiry, retention and audit times are read from."""
        return self._clock()

    @property
    def keys(self) -> ApiKeys:
        """The API keys of the HTTP service kept in this store."""
        with self._lock:
            if self._keys is None:
                self._keys = ApiKeys(self)
            return self._keys

    @property
    def model_id(self) -> str | None:
        """The template space of this gallery (set by its first enrolment), or ``None`` when empty."""
        return repository.meta(self.db, "model_id")

    def template_models(self) -> set[str]:
        """The model ids of the templates in use: the gallery's, the photo library's faces'."""
        models = {m for m in [self.model_id] if m}
        with self.db.read() as conn:
            for table in set(resealers()) - {PENDING_TABLE}:  # registered in code, each with a model_id
                models |= {str(r[0]) for r in conn.execute(f"SELECT DISTINCT model_id FROM {table}")}
        return models

    def _dim(self) -> int:
        """The templates' dimension: set with the store's model, kept once known."""
        if self._cache.dim > 1:  # the cache follows a model migration's new one (.generations)
            return self._cache.dim
        if not self._known_dim:
            dim = repository.meta(self.db, "dim")
            self._known_dim = 0 if dim is None else int(dim)
        return self._known_dim

    def calibration_for(self, model: str) -> Calibration:
        """The calibration of ``model``'s templates (the shipped table; cached)."""
        if model not in self._calibrations:
            self._calibrations[model] = load_calibration(model)
        return self._calibrations[model]

    # -- what the engine side provides (faceprint.gallery.Gallery) -----------------------------

    def probe_faces(self, probe: Probe, *, all_faces: bool) -> list[Face]:
        """The faces a search compares: a template, or a face that has one (images: the engine side)."""
        if isinstance(probe, Template):
            return [Face(box=Box(0, 0, 0, 0), score=float("nan"), landmarks=np.zeros((5, 2)), template=probe)]
        if isinstance(probe, Face):
            if probe.template is None:
                raise InvalidInput("this face has no template; get it from Engine.embed")
            return [probe]
        raise InvalidInput("this store takes templates; open it with faceprint.open_store to search images")

    def probe_occluded(self, probe: Probe, face: Face) -> Template | None:
        """A probe face's occluded template (:mod:`faceprint.occlusion`): made by the engine side."""
        return None

    def default_model_id(self, probes: Sequence[Probe]) -> str:
        """The template space of an empty gallery's search: the probes' model."""
        for probe in probes:
            template = probe if isinstance(probe, Template) else getattr(probe, "template", None)
            if isinstance(template, Template):
                return template.model
        raise StoreError("this store is empty and the probes carry no template")

    # -- search (search.py) --------------------------------------------------------------------

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
        of strangers named at ``fpir`` (0.01) over the ``N`` eligible subjects (:mod:`.openset`);
        ``fmr`` sets the per-comparison rate instead. The result says which threshold and why
        (:attr:`SearchResult.rule`). An image is searched by its main face, or every face with
        ``all_faces``; a masked-looking one by the routed rule (:mod:`.masked_search`). Every search
        writes an audit row (never the probe), durably, before it returns.
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
        return search_many(
            self, probes, purpose=purpose, actor=actor, top_k=top_k, fmr=fmr, fpir=fpir, all_faces=all_faces
        )

    def eligible(self, purpose: str, seq: int) -> int:
        """How many subjects a search for ``purpose`` compares against (:class:`.consent.EligibleCount`)."""
        return self._eligible(purpose, seq, self._clock())

    def active_params(self) -> tuple[str | None, str | None]:
        """The parameters of :data:`.consent.ACTIVE` now."""
        return consent.active_params(self._clock(), self.settings.max_idle_days)

    # -- reading -------------------------------------------------------------------------------

    def subjects(self) -> list[Subject]:
        """Every subject with its consent and template count, by name."""
        return repository.query_subjects(self.db, "ORDER BY s.name", ())

    def subject(self, name: str) -> Subject:
        """One subject; raises :class:`NotFound` if there is none of that name."""
        found = repository.query_subjects(self.db, "WHERE s.name = ?", (subject_name(name),))
        if not found:
            raise NotFound(f"no subject {name!r} in this store")
        return found[0]

    def audit(self, *, limit: int | None = None, subject: str | None = None) -> list[AuditEntry]:
        """Audit rows, newest first; ``subject`` keeps only those that touched or matched that subject."""
        name = None if subject is None else subject_name(subject)
        return repository.audit_rows(self.db, limit=limit, subject=name)

    def __len__(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute("SELECT count(*) FROM subjects").fetchone()[0])

    def write_audit(
        self,
        conn: Any,
        actor: str,
        operation: str,
        purpose: str | None,
        subjects: Sequence[str],
        results: int | None,
        detail: str | None = None,
    ) -> None:
        """Append an audit row inside the caller's transaction ``conn`` (never images or templates)."""
        repository.insert_audit(conn, self._clock(), actor, operation, purpose, subjects, results, detail)

    # -- erasure, retention, compliance, keys --------------------------------------------------

    def erase(self, subject: str, *, actor: str | None = None, reason: str | None = None) -> EraseResult:
        """Erase ``subject``: consent record, every template, and their bytes from disk.

        SQLite: deleted rows are overwritten (``secure_delete``) and the write-ahead log is
        checkpointed and truncated so no old page image survives. PostgreSQL: the tables are
        vacuumed (what that does not reach is listed in docs/store.md). The vector index is
        rewritten without them here, and by every replica as soon as it hears of the change.
        The audit row keeps the name and the fact of erasure, nothing else.
        """
        return self._erase(
            subject_name(subject), actor or self.actor, clean_text(reason, "a reason"), "erase"
        )

    def withdraw(self, subject: str, *, actor: str | None = None) -> EraseResult:
        """The subject withdrew consent: they stop matching at once and are erased (audited as such)."""
        return self._erase(subject_name(subject), actor or self.actor, "consent withdrawn", "withdraw")

    def _erase(self, name: str, actor: str, reason: str | None, operation: str) -> EraseResult:
        def erase(conn: Connection) -> list[int]:
            ids = repository.delete_subject(conn, self.protector, name)
            self.write_audit(conn, actor, operation, None, [name], len(ids), reason)
            return ids

        ids = self.db.transact(erase)
        self.protector.subjects.prune(self.db)  # the replaced wrapping key leaves the key file
        sync_after_erasure(name, lambda: self.sync_index(force_save=True), self.db.purge)
        return EraseResult(subject=name, templates=len(ids), wal_cleared=self.db.purge())

    def due(self) -> list[tuple[str, str]]:
        """Subjects due for erasure, with the reason: consent expired, or idle past the limit."""
        return consent.due(self.db, self._clock(), self.settings.max_idle_days)

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
        return rotate_keys(
            self.db,
            self._cache,
            self._dim(),
            self.write_audit,
            actor or self.actor,
            storage=storage,
            template=template,
        )

    # -- the vector index (a cache of the templates table: index_cache.py) ----------------------

    def synced_index(self) -> HeldVectors:
        """The vector index (or Milvus collection), caught up with the database's changes feed."""
        self._listen()
        return self._cache.synced(self._dim())

    def search_index(self, purpose: str, model: str | None = None) -> VectorSearch:
        """What a search for ``purpose`` of ``model``'s templates uses, caught up (index or partition)."""
        self._listen()
        return self._cache.searcher(self._dim(), purpose, model)

    def sync_index(self, *, force_save: bool = False, own: OwnAdds | None = None) -> None:
        """Bring the vector index up to the changes feed (after a write: ``own``, :mod:`.own_writes`)."""
        self._listen()
        if own is None or force_save or not self._cache.add_own(own):
            self._cache.sync(self._dim(), force_save=force_save)

    def _listen(self) -> None:
        """Once the index is in use: catch up as soon as another process changes the feed."""
        if self.db.dialect == "postgres":
            self.db.listen(lambda: self._cache.sync_if_loaded(self._dim()))

    def rebuild_index(self, *, actor: str | None = None) -> int:
        """Rebuild the vector index from the templates table; returns the number of templates indexed."""
        count = self._cache.rebuild(self._dim())
        self.db.transact(
            lambda conn: self.write_audit(conn, actor or self.actor, "rebuild", None, [], count), feed=False
        )
        return count

    def indexed_ids(self) -> frozenset[int]:
        """Ids of the templates the vector index holds (after catching up with the database)."""
        return frozenset(int(i) for i in self.synced_index().ids())

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


def os_user() -> str:
    """The name of the user running this process (its uid where there is no passwd entry)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return str(os.getuid())
