"""The gallery's consent rules: checked names and texts, the consent record of an enrolment, which
subjects a search may name (consented for its purpose, not expired, not idle), and who is due for
erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..errors import ConsentRequired, InvalidInput
from .database import Database
from .records import Consent, isoformat

__all__ = [
    "ACTIVE",
    "EligibleCount",
    "active_params",
    "check_purpose",
    "clean_text",
    "due",
    "new_consent",
    "parse_time",
    "require_purpose",
    "subject_name",
]

MAX_NAME = 200
MAX_TEXT = 2000
#: A subject may match: consent not expired, and enrolled or matched within the idle limit.
#: Its two parameters are :func:`active_params`.
ACTIVE = "(s.expires_at IS NULL OR s.expires_at > ?) AND s.last_seen_at > ?"


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def clean_text(value: str | None, what: str, *, limit: int = MAX_TEXT) -> str | None:
    """``value`` stripped (``None`` when empty); refused when too long or with control characters."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > limit or any(ord(c) < 32 for c in value):
        raise InvalidInput(f"{what} must be at most {limit} printable characters")
    return value


def subject_name(name: str) -> str:
    if not isinstance(name, str):
        raise InvalidInput("a subject name must be text")
    checked = clean_text(name, "a subject name", limit=MAX_NAME)
    if checked is None:
        raise InvalidInput("a subject name must not be empty")
    return checked


def require_purpose(purpose: str | None) -> str:
    checked = clean_text(purpose, "a purpose")
    if checked is None:
        raise ConsentRequired("a purpose is required: say why these faces are processed (consent record)")
    return checked


def new_consent(purpose: str, evidence: str | None, expires_at: datetime | None, now: datetime) -> Consent:
    """The consent record an enrolment at ``now`` writes (expiry, if any, in the future)."""
    purpose = require_purpose(purpose)
    evidence = clean_text(evidence, "evidence")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidInput("expires_at must carry a time zone")
        if expires_at <= now:
            raise InvalidInput(f"consent expiry {isoformat(expires_at)} is not in the future")
    return Consent(purpose=purpose, granted_at=now, evidence=evidence, expires_at=expires_at)


def active_params(now: datetime, max_idle_days: int) -> tuple[str | None, str | None]:
    """(now, idle cutoff) for :data:`ACTIVE`: consent not expired, seen within the idle limit."""
    cutoff = isoformat(now - timedelta(days=max_idle_days)) if max_idle_days else ""
    return isoformat(now), cutoff


def check_purpose(db: Database, purpose: str) -> None:
    """Refuse a search for a purpose no subject of a non-empty gallery consented to."""
    with db.read() as conn:
        if conn.execute("SELECT 1 FROM subjects WHERE purpose = ? LIMIT 1", (purpose,)).fetchone():
            return
        held = [str(r[0]) for r in conn.execute("SELECT DISTINCT purpose FROM subjects ORDER BY 1 LIMIT 10")]
    if held:
        raise ConsentRequired(
            f"no subject in this gallery consented to the purpose {purpose!r}; purposes held: {held}"
        )


class EligibleCount:
    """How many subjects a search for a purpose compares against (consented, active, with templates).

    Cached per purpose until the changes feed moves (enrolment, erasure, here or in another
    process) or the first of those subjects' consent expiry or idle limit passes.
    """

    def __init__(self, db: Database, max_idle_days: int) -> None:
        self.db = db
        self.max_idle_days = max_idle_days
        #: purpose -> (feed position, eligible subjects, valid until)
        self.cache: dict[str, tuple[int, int, datetime]] = {}

    def __call__(self, purpose: str, seq: int, now: datetime) -> int:
        held = self.cache.get(purpose)
        if held is not None and held[0] == seq and now < held[2]:
            return held[1]
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT count(*), min(s.expires_at), min(s.last_seen_at) FROM subjects s WHERE s.purpose = ? "
                f"AND {ACTIVE} AND EXISTS (SELECT 1 FROM templates t WHERE t.subject_id = s.id)",
                (purpose, *active_params(now, self.max_idle_days)),
            ).fetchone()
        until = parse_time(row[1]) or datetime.max.replace(tzinfo=UTC)
        days = self.max_idle_days
        if days and row[2] is not None:
            until = min(until, datetime.fromisoformat(row[2]) + timedelta(days=days))
        self.cache[purpose] = (seq, int(row[0]), until)
        return int(row[0])


def due(db: Database, now: datetime, max_idle_days: int) -> list[tuple[str, str]]:
    """Subjects due for erasure, with the reason: consent expired, or idle past the limit."""
    at, cutoff = active_params(now, max_idle_days)
    with db.read() as conn:
        rows = conn.execute(
            "SELECT name, expires_at, last_seen_at FROM subjects "
            "WHERE (expires_at IS NOT NULL AND expires_at <= ?) OR last_seen_at <= ? ORDER BY name",
            (at, cutoff),
        ).fetchall()
    return [
        (
            str(name),
            f"consent expired {expires}"
            if expires is not None and expires <= (at or "")
            else f"not enrolled or matched since {seen} (limit {max_idle_days} days)",
        )
        for name, expires, seen in rows
    ]
