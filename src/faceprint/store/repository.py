"""The gallery's SQL: subjects, their templates (sealed), the changes feed and the audit log.

Functions over a connection inside the caller's transaction, or over the database for reads; the
:class:`~faceprint.store.gallery.Store` decides when and under which consent they run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from ..errors import ConsentRequired, InvalidInput, NotFound, StoreError
from .consent import parse_time
from .database import Connection, Database
from .protection import Protector
from .records import AuditEntry, Consent, EnrollResult, Sample, Subject, isoformat

__all__ = [
    "Audit",
    "audit_rows",
    "claim_model",
    "delete_subject",
    "insert_audit",
    "insert_subject",
    "meta",
    "query_subjects",
    "subject_key",
    "write_enrolment",
]


class Audit(Protocol):
    """Appends an audit row inside a transaction (:meth:`Store.write_audit`)."""

    def __call__(
        self,
        conn: Any,
        actor: str,
        operation: str,
        purpose: str | None,
        subjects: Sequence[str],
        results: int | None,
        detail: str | None = None,
    ) -> None: ...


def insert_audit(
    conn: Any,
    at: datetime,
    actor: str,
    operation: str,
    purpose: str | None,
    subjects: Sequence[str],
    results: int | None,
    detail: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO audit (at, actor, operation, purpose, subjects, results, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (isoformat(at), actor, operation, purpose, json.dumps(list(subjects)), results, detail),
    )


def meta(db: Database, key: str) -> str | None:
    with db.read() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def insert_subject(conn: Any, name: str, consent: Consent) -> int:
    now = isoformat(consent.granted_at)
    return int(
        conn.execute(
            "INSERT INTO subjects (name, purpose, evidence, granted_at, expires_at, created_at, "
            "last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (name, consent.purpose, consent.evidence, now, isoformat(consent.expires_at), now, now),
        ).fetchone()[0]
    )


def claim_model(conn: Any, model: str, dim: int) -> None:
    """The first enrolment sets the gallery's template space; later ones must share it."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'model_id'").fetchone()
    if row is None:
        conn.execute("INSERT INTO meta (key, value) VALUES ('model_id', ?), ('dim', ?)", (model, str(dim)))
    elif row[0] != model:
        raise StoreError(
            f"this store holds {row[0]} templates; these are {model} (set FACEPRINT_MIRROR to match the store)"
        )


def write_enrolment(
    conn: Any,
    protector: Protector,
    audit: Audit,
    name: str,
    samples: list[Sample],
    consent: Consent,
    actor: str,
    *,
    create: bool = True,
    own: Any = None,
) -> EnrollResult:
    """Write one subject's enrolment inside the caller's transaction (``create``: may be new).

    ``own``: an :class:`~faceprint.store.own_writes.OwnAdds` to note the feed rows in, for the
    writer's index to take them without reading them back."""
    model = samples[0].template.model
    dim = samples[0].template.dim
    if any(s.template.model != model for s in samples):
        raise InvalidInput("the templates of one enrolment come from different models")
    now = isoformat(consent.granted_at)
    if own is not None:
        own.begin(conn)
    claim_model(conn, model, dim)
    row = conn.execute("SELECT id, purpose, expires_at FROM subjects WHERE name = ?", (name,)).fetchone()
    created = row is None
    if row is None and not create:
        raise NotFound(f"no subject {name!r} in this store")
    if row is None:
        subject_id = insert_subject(conn, name, consent)
        known: set[str] = set()  # a new subject: no templates, no data key yet (two round trips fewer)
        data_key = protector.subjects.create(conn, subject_id) if protector.subject_keys else None
    else:
        subject_id, held, expires = int(row[0]), str(row[1]), parse_time(row[2])
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
        data_key = subject_key(conn, protector, subject_id)
    added = skipped = 0
    for sample in samples:
        if sample.source in known:
            skipped += 1
            continue
        known.add(sample.source)
        box = None if sample.box is None else json.dumps([round(v, 2) for v in sample.box.as_list()])
        protected = protector.protect(np.asarray(sample.template.vector, dtype=np.float32)[None, :])[0]
        template_id = int(
            conn.execute(
                "INSERT INTO templates (subject_id, model_id, vector, source, box, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (subject_id, model, protector.seal_protected(protected, data_key), sample.source, box, now),
            ).fetchone()[0]
        )
        seq = conn.execute(
            "INSERT INTO changes (template_id, op) VALUES (?, 'add') RETURNING seq", (template_id,)
        )
        if own is not None:
            own.added(template_id, protected, seq)
        added += 1
    if added:
        conn.execute("UPDATE subjects SET last_seen_at = ? WHERE id = ?", (now, subject_id))
        audit(conn, actor, "enroll", consent.purpose, [name], added)
    if own is not None:
        own.finish()
    return EnrollResult(subject=name, created=created, added=added, skipped=skipped)


def subject_key(conn: Connection, protector: Protector, subject_id: int) -> bytes | None:
    """The data key new templates of ``subject_id`` are sealed with (created if the subject has
    none and the store uses per-subject keys); ``None``: the storage key."""
    data_key = protector.subjects.get(conn, subject_id)
    if data_key is None and protector.subject_keys:
        data_key = protector.subjects.create(conn, subject_id)
    return data_key


def delete_subject(conn: Connection, protector: Protector, name: str) -> list[int]:
    """Delete the subject, its templates and its data key (its bucket's wrapping key replaced:
    :meth:`SubjectKeys.shred`), announce the removals on the feed; the template ids."""
    row = conn.execute("SELECT id FROM subjects WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound(f"no subject {name!r} in this store")
    ids = [int(r[0]) for r in conn.execute("SELECT id FROM templates WHERE subject_id = ?", (row[0],))]
    if conn.execute("SELECT 1 FROM subject_keys WHERE subject_id = ?", (row[0],)).fetchone():
        protector.subjects.shred(conn, int(row[0]))
    conn.execute("DELETE FROM templates WHERE subject_id = ?", (row[0],))
    conn.execute("DELETE FROM subjects WHERE id = ?", (row[0],))
    conn.executemany("INSERT INTO changes (template_id, op) VALUES (?, 'remove')", [(i,) for i in ids])
    return ids


def query_subjects(db: Database, clause: str, params: Sequence[Any]) -> list[Subject]:
    with db.read() as conn:
        rows = conn.execute(
            "SELECT s.name, s.purpose, s.evidence, s.granted_at, s.expires_at, s.created_at, s.last_seen_at, "
            f"(SELECT count(*) FROM templates t WHERE t.subject_id = s.id) FROM subjects s {clause}",
            params,
        ).fetchall()
    return [_subject(row) for row in rows]


def _subject(row: Sequence[Any]) -> Subject:
    consent = Consent(
        purpose=str(row[1]),
        evidence=row[2],
        granted_at=datetime.fromisoformat(row[3]),
        expires_at=parse_time(row[4]),
    )
    return Subject(
        name=str(row[0]),
        consent=consent,
        templates=int(row[7]),
        created_at=datetime.fromisoformat(row[5]),
        last_seen_at=datetime.fromisoformat(row[6]),
    )


def audit_rows(db: Database, *, limit: int | None, subject: str | None) -> list[AuditEntry]:
    """Audit rows, newest first; ``subject`` (a checked name) keeps those that touched or matched it."""
    sql = "SELECT id, at, actor, operation, purpose, subjects, results, detail FROM audit"
    params: list[Any] = []
    if subject is not None:
        sql += (
            " WHERE EXISTS (SELECT 1 FROM json_array_elements_text(audit.subjects::json) AS e (value) "
            "WHERE e.value = ?)"
            if db.dialect == "postgres"
            else " WHERE EXISTS (SELECT 1 FROM json_each(audit.subjects) WHERE value = ?)"
        )
        params.append(subject)
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    with db.read() as conn:
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
