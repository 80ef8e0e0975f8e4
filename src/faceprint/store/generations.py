"""Template generations: one model per store, and a safe change of model (``store migrate-model``).

Every store holds the templates of one model: the *active generation*, numbered in ``meta``
(``generation``; a store made before generations existed is at generation 1, its templates those
of its recorded ``model_id``). The ``templates`` table only ever holds the active generation, so
searches, the vector index, Milvus, the ``changes`` feed and cohort scoring see nothing else.

A change of model writes the next generation beside it, in ``pending_templates`` (this module's
table, registered like the photo library's: :data:`~faceprint.store.schema.TABLE_OWNERS`), under
each subject's own data key, in batches that each commit: a re-run after a crash skips the
subjects already written (:func:`migrated_subjects`). The ``meta`` row ``pending_generation``
names the model being migrated to. :func:`switch` then, in one transaction, deletes the old
generation's rows (announced as removals on the feed), moves the pending rows into ``templates``
(announced as additions), records the new model, dimension and generation, and audits it. An
erasure during a migration deletes the subject's pending rows too (``ON DELETE CASCADE``) and
shreds its data key, so they are as gone as its active ones. Consent and the audit trail belong
to subjects, not templates, and are never touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ..errors import InvalidInput, StoreError
from .database import Connection, Database
from .protection import Protector, register_resealer
from .records import Sample, isoformat
from .repository import Audit, delete_subject, subject_key
from .schema import SchemaPart, Step, register_schema

__all__ = [
    "PENDING_TABLE",
    "SCHEMA",
    "Pending",
    "SwitchResult",
    "TemplateSpace",
    "active_generation",
    "begin",
    "migrated_subjects",
    "pending",
    "require_model",
    "switch",
    "template_space_in",
    "unmigrated_subjects",
    "write_pending",
]

_V1: Final = """
CREATE TABLE pending_templates (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    generation INTEGER NOT NULL,
    subject_id INTEGER NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    model_id   TEXT NOT NULL,
    vector     BLOB NOT NULL,
    source     TEXT NOT NULL,
    box        TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (generation, subject_id, source)
);
CREATE INDEX pending_templates_subject ON pending_templates (subject_id);
"""


#: The table of the generation being written (it has a ``model_id`` column, like every table of
#: sealed templates registered for key rotation).
PENDING_TABLE: Final = "pending_templates"
SCHEMA: Final = SchemaPart("generations", {1: Step.portable(_V1)})
_PENDING: Final = "pending_generation"


@dataclass(frozen=True)
class Pending:
    """The generation a migration is writing: its number, model id and template length."""

    generation: int
    model: str
    dim: int


@dataclass(frozen=True)
class SwitchResult:
    """What a completed switch did."""

    old_model: str | None
    model: str
    generation: int
    templates: int  # in the new generation
    removed: int  # old-generation templates deleted
    dropped: tuple[str, ...]  # subjects erased for want of a new template (``drop_missing``)


@dataclass(frozen=True)
class TemplateSpace:
    """What a vector index must match: the key ids, the active generation and its dimension."""

    key_ids: tuple[str | None, str | None]
    generation: int
    dim: int
    model: str | None = None


#: The one query :func:`template_space_in` makes (sent early by a pipelined writer: :mod:`.own_writes`).
SPACE_QUERY: Final = (
    "SELECT key, value FROM meta "
    "WHERE key IN ('storage_key_id', 'template_key_id', 'generation', 'dim', 'model_id')"
)


def template_space_in(conn: Any) -> TemplateSpace:
    """The store's :class:`TemplateSpace` (one query, inside a transaction the caller holds)."""
    return template_space_of(conn.execute(SPACE_QUERY).fetchall())


def template_space_of(rows: Iterable[Any]) -> TemplateSpace:
    """The :class:`TemplateSpace` in the rows of :data:`SPACE_QUERY`."""
    meta = {str(k): str(v) for k, v in rows}
    return TemplateSpace(
        (meta.get("storage_key_id"), meta.get("template_key_id")),
        int(meta.get("generation", 1)),
        int(meta.get("dim", 0)),
        meta.get("model_id"),
    )


def require_model(held: str | None, expected: str | None) -> None:
    """Refuse a search whose probes are of ``expected``'s templates when the index it was given,
    caught up in the meantime, holds another model's: the store switched during the search."""
    if expected is not None and held is not None and held != expected:
        raise StoreError(
            f"this store switched from {expected} to {held} templates during the search; search again"
        )


def active_generation(conn: Any) -> int:
    """The store's active generation (1 for a store made before generations existed)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
    return 1 if row is None else int(row[0])


def pending(conn: Any) -> Pending | None:
    """The migration in progress, if any."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_PENDING,)).fetchone()
    if row is None:
        return None
    data = json.loads(str(row[0]))
    return Pending(int(data["generation"]), str(data["model"]), int(data["dim"]))


def _set_meta(conn: Any, key: str, value: str | None) -> None:
    conn.execute("DELETE FROM meta WHERE key = ?", (key,))
    if value is not None:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))


def begin(db: Database, model: str, dim: int, audit: Audit, actor: str) -> tuple[Pending, str | None]:
    """Start (or resume) a migration to ``model``; with it the model of a migration abandoned for
    it (its pending rows deleted), if any. Refused when the store already holds ``model``."""

    def start(conn: Connection) -> tuple[Pending, str | None]:
        row = conn.execute("SELECT value FROM meta WHERE key = 'model_id'").fetchone()
        if row is None:
            raise InvalidInput("this store is empty: there is nothing to migrate (enrol with the new model)")
        if str(row[0]) == model:
            raise InvalidInput(f"this store already holds {model} templates")
        current = pending(conn)
        if current is not None and (current.model, current.dim) == (model, dim):
            return current, None
        conn.execute("DELETE FROM pending_templates")
        new = Pending(active_generation(conn) + 1, model, dim)
        _set_meta(conn, _PENDING, json.dumps({"generation": new.generation, "model": model, "dim": dim}))
        detail = f"to {model}, generation {new.generation}" + (
            f" (the migration to {current.model} abandoned)" if current is not None else ""
        )
        audit(conn, actor, "migrate-model-start", None, [], None, detail)
        return new, None if current is None else current.model

    return db.transact(start, feed=False)


def _current(conn: Any, expected: Pending) -> None:
    if pending(conn) != expected:
        raise StoreError("another process changed or finished this model migration; run it again")


def migrated_subjects(db: Database, migration: Pending) -> set[int]:
    """Ids of the subjects that already have templates in the pending generation."""
    with db.read() as conn:
        rows = conn.execute(
            "SELECT DISTINCT subject_id FROM pending_templates WHERE generation = ?", (migration.generation,)
        ).fetchall()
    return {int(r[0]) for r in rows}


def write_pending(
    db: Database,
    protector: Protector,
    migration: Pending,
    batch: Sequence[tuple[int, Sequence[Sample]]],
    at: datetime,
) -> int:
    """Write a batch of subjects' new templates in one transaction; returns the templates written.

    A subject erased since the batch was embedded is left out.
    """

    def write(conn: Connection) -> int:
        _current(conn, migration)
        count = 0
        for subject_id, samples in batch:
            if conn.execute("SELECT 1 FROM subjects WHERE id = ?", (subject_id,)).fetchone() is None:
                continue
            data_key = subject_key(conn, protector, subject_id)
            for sample in {s.source: s for s in samples}.values():
                if sample.template.model != migration.model or sample.template.dim != migration.dim:
                    raise InvalidInput(f"a template of {sample.template.model}, not {migration.model}")
                box = None if sample.box is None else json.dumps([round(v, 2) for v in sample.box.as_list()])
                conn.execute(
                    "INSERT INTO pending_templates (generation, subject_id, model_id, vector, source, box, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (
                        migration.generation,
                        subject_id,
                        migration.model,
                        protector.seal_vector(sample.template.vector, data_key),
                        sample.source,
                        box,
                        isoformat(at),
                    ),
                )
                count += 1
        return count

    return db.transact(write, feed=False)


def unmigrated_subjects(db: Database, migration: Pending) -> list[tuple[int, str]]:
    """The subjects (id, name) with no template in the pending generation, by name."""
    with db.read() as conn:
        return _unmigrated(conn, migration)


def _unmigrated(conn: Any, migration: Pending) -> list[tuple[int, str]]:
    rows = conn.execute(
        "SELECT s.id, s.name FROM subjects s WHERE NOT EXISTS (SELECT 1 FROM pending_templates p "
        "WHERE p.subject_id = s.id AND p.generation = ?) ORDER BY s.name",
        (migration.generation,),
    ).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def switch(
    db: Database,
    protector: Protector,
    migration: Pending,
    audit: Audit,
    actor: str,
    *,
    drop_missing: bool,
) -> SwitchResult:
    """Make the pending generation the active one, in one transaction (see the module's text).

    Refused, changing nothing, while a subject has no template in it, unless ``drop_missing``:
    then such subjects are erased (audited as such) — a store holds no subject without templates.
    """

    def run(conn: Connection) -> SwitchResult:
        _current(conn, migration)
        missing = _unmigrated(conn, migration)
        if missing and not drop_missing:
            raise StoreError(
                f"{len(missing)} subject(s) have no {migration.model} template yet; the store still "
                "answers with its old model (re-run with their photos, or --drop-missing to erase them)"
            )
        old = conn.execute("SELECT value FROM meta WHERE key = 'model_id'").fetchone()
        old_model = None if old is None else str(old[0])
        for _, name in missing:
            delete_subject(conn, protector, name)
            audit(conn, actor, "erase", None, [name], None, f"not migrated to model {migration.model}")
        old_ids = [int(r[0]) for r in conn.execute("SELECT id FROM templates").fetchall()]
        conn.execute("DELETE FROM templates")
        conn.executemany(
            "INSERT INTO changes (template_id, op) VALUES (?, 'remove')", [(i,) for i in old_ids]
        )
        conn.execute(
            "INSERT INTO templates (subject_id, model_id, vector, source, box, created_at) "
            "SELECT subject_id, model_id, vector, source, box, created_at FROM pending_templates "
            "WHERE generation = ? ORDER BY id",
            (migration.generation,),
        )
        conn.execute("DELETE FROM pending_templates")
        new_ids = [int(r[0]) for r in conn.execute("SELECT id FROM templates ORDER BY id").fetchall()]
        conn.executemany("INSERT INTO changes (template_id, op) VALUES (?, 'add')", [(i,) for i in new_ids])
        _set_meta(conn, "model_id", migration.model)
        _set_meta(conn, "dim", str(migration.dim))
        _set_meta(conn, "generation", str(migration.generation))
        _set_meta(conn, _PENDING, None)
        audit(
            conn,
            actor,
            "migrate-model",
            None,
            [],
            len(new_ids),
            f"from {old_model} to {migration.model}, generation {migration.generation}; "
            f"{len(old_ids)} old template(s) erased",
        )
        return SwitchResult(
            old_model=old_model,
            model=migration.model,
            generation=migration.generation,
            templates=len(new_ids),
            removed=len(old_ids),
            dropped=tuple(name for _, name in missing),
        )

    result = db.transact(run)
    protector.subjects.prune(db)  # the wrapping keys replaced by the erasures leave the key file
    return result


def reseal_pending(conn: Connection, old: Protector, new: Protector) -> int:
    """Key rotation during a migration: the pending templates re-sealed like the active ones."""
    count = 0
    rows = conn.execute(
        "SELECT p.id, p.vector, p.subject_id, k.wrapped FROM pending_templates p "
        "LEFT JOIN subject_keys k ON k.subject_id = p.subject_id"
    ).fetchall()
    for row_id, blob, subject_id, wrapped in rows:
        data_key = None if wrapped is None else old.subjects.unwrap(int(subject_id), wrapped)
        conn.execute(
            "UPDATE pending_templates SET vector = ? WHERE id = ?",
            (old.reseal(blob, new, None, data_key), row_id),
        )
        count += 1
    return count


register_schema(SCHEMA)
register_resealer(PENDING_TABLE, reseal_pending)
