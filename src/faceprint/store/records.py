"""What the store returns: frozen records of subjects, consent, searches, enrolments and audit rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..faces import Box, Template

__all__ = [
    "AuditEntry",
    "Consent",
    "EnrollResult",
    "EraseResult",
    "FaceSearch",
    "Sample",
    "SearchResult",
    "StoreCheck",
    "Subject",
    "SubjectMatch",
    "isoformat",
]


def isoformat(moment: datetime | None) -> str | None:
    """``moment`` in UTC as ISO 8601 with microseconds (sortable as text), or ``None``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Consent:
    """Why a subject's face may be processed, on what evidence, from when and until when."""

    purpose: str
    granted_at: datetime
    evidence: str | None = None
    expires_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at

    def to_json(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose,
            "evidence": self.evidence,
            "granted_at": isoformat(self.granted_at),
            "expires_at": isoformat(self.expires_at),
        }


@dataclass(frozen=True)
class Subject:
    """An enrolled person: a name chosen by the operator, a consent record and how many templates."""

    name: str
    consent: Consent
    templates: int
    created_at: datetime
    last_seen_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.name,
            "consent": self.consent.to_json(),
            "templates": self.templates,
            "created_at": isoformat(self.created_at),
            "last_seen_at": isoformat(self.last_seen_at),
        }


@dataclass(frozen=True)
class Sample:
    """One face ready to enrol: its template, a hash of the image it came from, and its box."""

    template: Template
    source: str  # hex SHA-256 of the image bytes; lets a re-run skip photos already enrolled
    box: Box | None = None


@dataclass(frozen=True)
class SubjectMatch:
    """A subject whose best template passed the search threshold.

    ``crowding``: when several subjects passed, they are ordered by ``similarity - crowding / 2``
    (:mod:`faceprint.store.crowding`); None when this face matched one subject only.
    ``comparison``: for a probe face the mask test called masked, which of the routed rule's
    comparisons gave the smallest FMR (``bare``, ``masked`` or ``occluded``,
    :mod:`faceprint.store.masked_search`); ``fmr`` is then the routed rule's. None otherwise.
    """

    subject: str
    similarity: float
    fmr: float  # false match rate at this similarity (per comparison; masked probe: the routed rule's)
    crowding: float | None = None
    comparison: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "subject": self.subject,
            "similarity": round(self.similarity, 6),
            "fmr": self.fmr,
        }
        if self.crowding is not None:
            out["crowding"] = round(self.crowding, 6)
        if self.comparison is not None:
            out["comparison"] = self.comparison
        return out


@dataclass(frozen=True)
class FaceSearch:
    """One probe face and the subjects it matched, best first (empty: no one passed the threshold)."""

    box: Box | None
    matches: tuple[SubjectMatch, ...]
    masked: bool | None = None  # the probe face appears masked (None: not assessed, e.g. a template)
    #: set when this face was decided by the masked probes' routed rule, not the search's
    #: threshold: e.g. "routed (bare, masked, occluded): fmr <= 2.5e-06 (fpir 0.01 over 4000 subjects)"
    rule: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "box": None if self.box is None else self.box.as_list(),
            "matches": [m.to_json() for m in self.matches],
        }
        if self.masked is not None:
            out["masked"] = self.masked
        if self.rule is not None:
            out["rule"] = self.rule
        return out


@dataclass(frozen=True)
class SearchResult:
    """The answer to one search: every probe face searched, and the threshold used and why."""

    faces: tuple[FaceSearch, ...]
    fmr: float  # per comparison, at the threshold (asked for, or FPIR / eligible subjects)
    threshold: float  # similarity
    fpir: float | None = None  # the bound asked for, when the threshold was set by FPIR
    rule: str = ""  # why this threshold: "fpir 0.01 over 1200 subjects" or "fmr 0.001 per comparison"
    eligible: int = 0  # subjects compared against (consented to the purpose, not expired)
    model: str = ""  # the template model the decision was made in
    calibration: str = ""  # where that model's calibration table comes from (Calibration.source)

    @property
    def matched(self) -> bool:
        return any(face.matches for face in self.faces)

    def to_json(self) -> dict[str, Any]:
        """The faces and the decision: ``threshold``, ``rule``, ``fmr``, ``fpir``, ``eligible``,
        ``model`` and ``calibration``."""
        return {
            "faces": [face.to_json() for face in self.faces],
            "threshold": round(self.threshold, 6),
            "rule": self.rule,
            "fmr": self.fmr,
            "fpir": self.fpir,
            "eligible": self.eligible,
            "model": self.model,
            "calibration": self.calibration,
        }


@dataclass(frozen=True)
class EnrollResult:
    subject: str
    created: bool  # the subject is new
    added: int  # templates written
    skipped: int  # images already enrolled for this subject (same content hash)


@dataclass(frozen=True)
class EraseResult:
    subject: str
    templates: int  # templates erased
    wal_cleared: bool  # the write-ahead log was checkpointed and truncated (old page images gone)


@dataclass(frozen=True)
class AuditEntry:
    """One audited operation. Never holds biometric data: no images, no templates, no scores."""

    id: int
    at: datetime
    actor: str
    operation: str  # enroll | search | erase | rebuild | ...
    purpose: str | None
    subjects: tuple[str, ...]  # the subjects the operation touched or matched
    results: int | None  # search: number of faces with a match; enroll/erase: templates
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": isoformat(self.at),
            "actor": self.actor,
            "operation": self.operation,
            "purpose": self.purpose,
            "subjects": list(self.subjects),
            "results": self.results,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class StoreCheck:
    """The result of :meth:`Store.check`: database integrity and index agreement."""

    integrity: str  # "ok" or SQLite's first complaint
    subjects: int
    templates: int
    indexed: int
    index_agrees: bool

    @property
    def ok(self) -> bool:
        return self.integrity == "ok" and self.index_agrees
