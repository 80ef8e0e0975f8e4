"""Subject access and the record of processing, generated from a store (GDPR Art. 15 and 30)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .generations import PENDING_TABLE
from .records import isoformat

if TYPE_CHECKING:
    from .gallery import Store

__all__ = ["export_subject", "record_of_processing"]


def export_subject(store: Store, subject: str) -> dict[str, Any]:
    """Everything held about ``subject`` (GDPR Art. 15): consent, enrolment records, audit rows.

    Template values are not exported: they exist only encrypted and transformed by this
    store's secret key, meaningless elsewhere; their count and metadata are listed.
    """
    found = store.subject(subject)
    with store.db.read() as conn:
        rows = [
            conn.execute(
                f"SELECT t.id, t.model_id, t.source, t.box, t.created_at FROM {table} t "
                "JOIN subjects s ON s.id = t.subject_id WHERE s.name = ? ORDER BY t.id",
                (found.name,),
            ).fetchall()
            for table in ("templates", PENDING_TABLE)
        ]
    return {
        "subject": found.to_json(),
        "templates": [_template(r) for r in rows[0]],
        # a model migration's next generation, while one runs (store migrate-model)
        "pending_templates": [_template(r) for r in rows[1]],
        "audit": [e.to_json() for e in reversed(store.audit(subject=found.name))],
        "exported_at": isoformat(store.now()),
    }


def _template(r: Any) -> dict[str, Any]:
    return {
        "id": int(r[0]),
        "model": r[1],
        "photo_sha256": r[2],
        "box": None if r[3] is None else json.loads(r[3]),
        "enrolled_at": r[4],
        "value": "withheld: encrypted (AES-256-GCM) and transformed by this store's secret key",
    }


def record_of_processing(store: Store) -> dict[str, Any]:
    """The record of processing activities (GDPR Art. 30), generated from this store."""
    with store.db.read() as conn:
        purposes = conn.execute(
            "SELECT purpose, count(*), count(expires_at) FROM subjects GROUP BY purpose ORDER BY 1"
        ).fetchall()
        templates = int(conn.execute("SELECT count(*) FROM templates").fetchone()[0])
    storage_id, template_id = store.protector.key_ids()
    return {
        "controller": store.settings.controller or "(set FACEPRINT_CONTROLLER)",
        "store": store.location,
        "purposes": [{"purpose": p, "subjects": int(n), "with_expiry": int(e or 0)} for p, n, e in purposes],
        "categories_of_data": [
            "biometric templates: 128-d face embeddings, one or more per subject "
            f"({templates} held), model {store.model_id or '-'}; no photographs are stored",
            "consent records: purpose, evidence text, grant and expiry times",
            "SHA-256 of each enrolled photo and the face box (to skip re-enrolment)",
            "audit log: time, actor, operation, purpose, subject names; never biometric data",
        ],
        "data_subjects": "people enrolled with a consent record for the purposes above",
        "recipients": "none: the data stays on this host; faceprint makes no network connections",
        "transfers": "none",
        "retention": {
            "consent_expiry": "a subject is erased when its consent expires",
            "max_idle_days": store.settings.max_idle_days,
            "rule": "a subject not enrolled or matched for max_idle_days is erased by `faceprint retention "
            "sweep`; withdrawn consent erases at once",
        },
        "security_measures": [
            "templates encrypted at rest with AES-256-GCM, bound to this store; the vector index file too",
            f"templates transformed by a keyed random orthogonal matrix before storage (key id {template_id}):"
            " unlinkable across stores, revocable by `faceprint keys rotate-template-key`",
            f"keys kept outside the database in {store.protector.key_file.path} (storage key id {storage_id})",
            "erasure overwrites deleted rows (SQLite secure_delete), rewrites the index and truncates the WAL",
            "every search, enrolment and erasure is audited",
        ],
        "generated_at": isoformat(store.now()),
    }
