"""Bulk enrolment on PostgreSQL in a few round trips per batch instead of about ten per subject.

:meth:`Store.enroll_many` on PostgreSQL sends a batch of new subjects as one statement per table
(psycopg's ``executemany`` runs them in pipeline mode): ids come from the tables' identity
sequences in one query each, so no row has to wait for another's ``RETURNING``. Same rows, same
rules, same single transaction as the per-subject path (:func:`repository.write_enrolment`), which
still takes batches that name a subject already in the store. SQLite (no network between the
statements) keeps the per-subject path.
"""

from __future__ import annotations

import json
from typing import Any

from .database import Connection
from .protection import Protector
from .records import Consent, EnrollResult, Sample, isoformat
from .repository import claim_model

__all__ = ["write_new_subjects"]


def _ids(conn: Connection, table: str, count: int) -> list[int]:
    rows = conn.execute(
        f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, ?)", (count,)
    ).fetchall()
    return [int(r[0]) for r in rows]


def write_new_subjects(
    conn: Connection,
    protector: Protector,
    batch: list[tuple[str, list[Sample]]],
    consent: Consent,
    actor: str,
) -> list[EnrollResult] | None:
    """Write a batch of subjects none of which exists yet; ``None`` (nothing written) when one does,
    a name repeats or the templates' models differ, for the per-subject path to take it."""
    names = [name for name, _ in batch]
    if not batch or len(set(names)) != len(names):
        return None
    model, dim = batch[0][1][0].template.model, batch[0][1][0].template.dim
    if any(s.template.model != model for _, samples in batch for s in samples):
        return None  # the per-subject path says which model is wrong, with the same errors as ever
    if conn.execute("SELECT 1 FROM subjects WHERE name = ANY(?) LIMIT 1", (names,)).fetchone():
        return None
    claim_model(conn, model, dim)
    now = isoformat(consent.granted_at)
    unique = [(name, list({s.source: s for s in samples}.values())) for name, samples in batch]
    subject_ids = _ids(conn, "subjects", len(unique))
    template_ids = iter(_ids(conn, "templates", sum(len(samples) for _, samples in unique)))
    conn.executemany(
        "INSERT INTO subjects (id, name, purpose, evidence, granted_at, expires_at, created_at, last_seen_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (sid, name, consent.purpose, consent.evidence, now, isoformat(consent.expires_at), now, now)
            for sid, (name, _) in zip(subject_ids, unique, strict=True)
        ],
    )
    keys = protector.subjects.create_many(conn, subject_ids) if protector.subject_keys else {}
    templates: list[tuple[Any, ...]] = []
    for sid, (_, samples) in zip(subject_ids, unique, strict=True):
        for sample in samples:
            box = None if sample.box is None else json.dumps([round(v, 2) for v in sample.box.as_list()])
            vector = protector.seal_vector(sample.template.vector, keys.get(sid))
            templates.append((next(template_ids), sid, model, vector, sample.source, box, now))
    conn.executemany(
        "INSERT INTO templates (id, subject_id, model_id, vector, source, box, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        templates,
    )
    conn.executemany("INSERT INTO changes (template_id, op) VALUES (?, 'add')", [(t[0],) for t in templates])
    conn.executemany(
        "INSERT INTO audit (at, actor, operation, purpose, subjects, results, detail) "
        "VALUES (?, ?, 'enroll', ?, ?, ?, NULL)",
        [(now, actor, consent.purpose, json.dumps([name]), len(samples)) for name, samples in unique],
    )
    return [
        EnrollResult(subject=name, created=True, added=len(samples), skipped=len(original) - len(samples))
        for (name, samples), (_, original) in zip(unique, batch, strict=True)
    ]
