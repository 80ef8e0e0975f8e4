"""The enrolment verbs of the gallery :class:`~faceprint.store.gallery.Store`: consent records and
templates written in one transaction per subject (or per batch), duplicates skipped."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import ConsentRequired, InvalidInput
from ..imageio import ImageSource
from . import consent, repository
from .batch import write_new_subjects
from .consent import subject_name
from .database import Database
from .own_writes import OwnAdds
from .protection import Protector
from .records import Consent, EnrollResult, Sample, Subject, isoformat

__all__ = ["Enrolment"]


class Enrolment:
    """Enrol subjects from :class:`Sample` templates; :meth:`sample` (images) is the engine side's."""

    db: Database
    actor: str

    if TYPE_CHECKING:  # provided by Store

        @property
        def protector(self) -> Protector: ...

        def now(self) -> datetime: ...

        def subject(self, name: str) -> Subject: ...

        def sync_index(self, *, force_save: bool = False, own: OwnAdds | None = None) -> None: ...

        write_audit: repository.Audit

    def sample(self, image: ImageSource, *, largest_face: bool = False) -> Sample:
        """An image's template for enrolment: needs the engine (:func:`faceprint.open_store`)."""
        raise InvalidInput(
            "this store takes templates (Sample); open it with faceprint.open_store to enrol images"
        )

    def photo_samples(
        self, image: ImageSource, *, largest_face: bool = False, masked_copies: bool = False
    ) -> list[Sample]:
        """What enrolling ``image`` stores: its :meth:`sample`, and with ``masked_copies`` also its
        masked copies and occluded template (:func:`faceprint.gallery.embed_samples`; needs the
        engine)."""
        if masked_copies:
            raise InvalidInput("masked copies are made from images: open the store with faceprint.open_store")
        return [self.sample(image, largest_face=largest_face)]

    def _samples(
        self, images: Iterable[ImageSource | Sample], largest_face: bool, masked_copies: bool = False
    ) -> list[Sample]:
        samples = [
            sample
            for item in images
            for sample in (
                [item]
                if isinstance(item, Sample)
                else self.photo_samples(item, largest_face=largest_face, masked_copies=masked_copies)
            )
        ]
        if not samples:
            raise InvalidInput("nothing to enrol: give at least one image")
        return samples

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
        masked_copies: bool = False,
    ) -> EnrollResult:
        """Enrol the face of each image as ``subject``, under a consent record for ``purpose``.

        All or nothing: every image is embedded first, then the subject, its consent, its
        templates and an audit row are written in one transaction. Images already enrolled for
        this subject (same content) are skipped, so a re-run completes an interrupted job. An
        existing subject keeps its consent; enrolling it for another purpose is refused.
        ``masked_copies``: each image also gives masked copies and an occluded template
        (:meth:`photo_samples`), so that masked probes are matched by the routed rule
        (:mod:`faceprint.store.masked_search`); ``added`` counts them.
        """
        name = subject_name(subject)
        held = consent.new_consent(purpose, evidence, expires_at, self.now())
        samples = self._samples(images, largest_face, masked_copies)
        own = OwnAdds()
        result = self.db.transact(
            lambda conn: self._write(conn, name, samples, held, actor or self.actor, own=own), pipelined=True
        )
        if result.added:
            self.sync_index(own=own)
        return result

    def _write(
        self,
        conn: Any,
        name: str,
        samples: list[Sample],
        held: Consent,
        actor: str,
        *,
        create: bool = True,
        own: OwnAdds | None = None,
    ) -> EnrollResult:
        return repository.write_enrolment(
            conn, self.protector, self.write_audit, name, samples, held, actor, create=create, own=own
        )

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
        name = subject_name(subject)
        held = consent.new_consent(purpose, evidence, expires_at, self.now())

        def create(conn: Any) -> None:
            if conn.execute("SELECT 1 FROM subjects WHERE name = ?", (name,)).fetchone():
                raise InvalidInput(f"subject {name!r} exists already")
            subject_id = repository.insert_subject(conn, name, held)
            repository.subject_key(conn, self.protector, subject_id)
            self.write_audit(conn, actor or self.actor, "consent", held.purpose, [name], 0)

        self.db.transact(create, pipelined=True)  # retried after a transient failure, like every write
        return self.subject(name)

    def add_faces(
        self,
        subject: str,
        images: Iterable[ImageSource | Sample],
        *,
        actor: str | None = None,
        largest_face: bool = False,
        masked_copies: bool = False,
    ) -> EnrollResult:
        """Enrol more faces into an existing ``subject`` under the consent it already holds.

        Same rules as :meth:`enroll` (all or nothing, duplicates skipped, ``masked_copies``). Raises
        :class:`NotFound` for an unknown subject and :class:`ConsentRequired` when its consent
        has expired.
        """
        name = subject_name(subject)
        held = self.subject(name).consent
        now = self.now()
        if not held.active(now):
            raise ConsentRequired(f"the consent of subject {name!r} expired on {isoformat(held.expires_at)}")
        renewed = Consent(purpose=held.purpose, granted_at=now, evidence=held.evidence)
        samples = self._samples(images, largest_face, masked_copies)
        own = OwnAdds()
        result = self.db.transact(
            lambda conn: self._write(
                conn, name, samples, renewed, actor or self.actor, create=False, own=own
            ),
            pipelined=True,
        )
        if result.added:
            self.sync_index(own=own)
        return result

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
        held = consent.new_consent(purpose, evidence, expires_at, self.now())
        batch = [(subject_name(name), list(samples)) for name, samples in entries]
        if any(not samples for _, samples in batch):
            raise InvalidInput("nothing to enrol: every subject needs at least one template")

        def write(conn: Any) -> list[EnrollResult]:
            if self.db.dialect == "postgres":  # a few round trips for the whole batch
                written = write_new_subjects(conn, self.protector, batch, held, actor or self.actor)
                if written is not None:
                    return written
            return [self._write(conn, name, samples, held, actor or self.actor) for name, samples in batch]

        results = self.db.transact(write)
        if any(r.added for r in results):
            self.sync_index()
        return results

    def enrolled_sources(self, subject: str) -> frozenset[str]:
        """Content hashes of the images already enrolled for ``subject`` (empty if unknown)."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT t.source FROM templates t JOIN subjects s ON s.id = t.subject_id WHERE s.name = ?",
                (subject_name(subject),),
            ).fetchall()
        return frozenset(str(r[0]) for r in rows)
