"""Changing a store's model: every subject re-enrolled from its source photos with the new model,
in a new template generation, then one atomic switch (``faceprint store migrate-model``).

The store side (the pending generation, the switch) is :mod:`faceprint.store.generations`; this
module runs the new model's engine over the photos of a CSV (the columns of ``enroll
--from-csv``). Subjects are written in batches, each its own transaction, so a run killed
anywhere leaves the store answering with its old model, and a re-run skips the subjects already
written. The switch happens only once every subject on record has a template of the new model,
unless ``drop_missing`` erases those that have none. Logs and reports name subjects and error
codes, never photo paths.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .engine import Engine
from .errors import FaceprintError, InvalidInput, ModelError
from .gallery import embed_samples
from .store import generations
from .store.consent import subject_name
from .store.gallery import Store
from .store.masked_copies import subjects_with_copies
from .store.records import Sample

__all__ = ["PAUSE_ENV", "MigrationFailure", "MigrationReport", "migrate_model"]

#: Tests only: seconds to sleep after each committed batch (the kill -9 test stops a run midway).
PAUSE_ENV: Final = "FACEPRINT_TEST_MIGRATION_PAUSE"


@dataclass(frozen=True)
class MigrationFailure:
    """A subject the run could not give a template of the new model, and why (an error code:
    ``not_in_csv``, ``consent_expired``, ``no_face``, ``many_faces``, ``invalid_image``...)."""

    subject: str
    reason: str


@dataclass(frozen=True)
class MigrationReport:
    """What a run of :func:`migrate_model` did."""

    model: str
    old_model: str | None
    generation: int
    subjects: int  # on record when the run started
    migrated: int  # subjects written by this run
    resumed: int  # subjects an earlier run had written
    templates: int  # templates written by this run
    photos_failed: int  # photos without a usable face (their subject may still have others)
    unknown: int  # CSV subjects not in the store (ignored)
    switched: bool
    abandoned: str | None = None  # the model of an earlier migration given up for this one
    dropped: tuple[str, ...] = ()
    failures: tuple[MigrationFailure, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "old_model": self.old_model,
            "generation": self.generation,
            "subjects": self.subjects,
            "migrated": self.migrated,
            "resumed": self.resumed,
            "templates": self.templates,
            "photos_failed": self.photos_failed,
            "unknown": self.unknown,
            "switched": self.switched,
            "abandoned": self.abandoned,
            "dropped": list(self.dropped),
            "failures": dict(Counter(f.reason for f in self.failures)),
        }


def _photos_by_subject(rows: Sequence[tuple[str, Path]]) -> dict[str, list[Path]]:
    by_subject: dict[str, list[Path]] = {}
    for subject, image in rows:
        try:
            name = subject_name(subject)
        except InvalidInput:
            continue  # not a name the store can hold: counted as unknown
        by_subject.setdefault(name, []).append(image)
    return by_subject


def _new_model(engine: Engine, *, uncalibrated: bool) -> tuple[str, int]:
    """The new model's id and dimension, its models loaded, its calibration checked: before the
    store is touched, so a broken or uncalibrated model changes nothing."""
    engine.load()
    model, dim = engine.model_id, engine.dim
    if not uncalibrated:
        try:
            _ = engine.calibration  # raises for a model without a table
        except ModelError as exc:
            raise ModelError(
                f"{exc}; a store's searches decide at calibrated FMRs, so migrating to it is refused "
                "(or pass --uncalibrated)"
            ) from None
    return model, dim


def migrate_model(
    store: Store,
    engine: Engine,
    rows: Sequence[tuple[str, Path]],
    *,
    drop_missing: bool = False,
    largest_face: bool = False,
    uncalibrated: bool = False,
    batch_size: int = 16,
    actor: str | None = None,
    progress: Callable[[int], None] = lambda n: None,
) -> MigrationReport:
    """Re-enrol every subject of ``store`` from ``rows`` (subject, photo) with ``engine``'s model,
    and switch the store to it when every subject has a template (see the module's text).

    Resumable: a re-run skips the subjects already written. ``progress`` is called once per
    subject looked at.
    """
    if batch_size < 1:
        raise InvalidInput("the batch size must be at least 1")
    model, dim = _new_model(engine, uncalibrated=uncalibrated)
    actor = actor or store.actor
    old_model = store.model_id
    pending, abandoned = generations.begin(store.db, model, dim, store.write_audit, actor)
    if abandoned:
        store.db.purge()  # the abandoned generation's rows overwritten, the write-ahead log emptied
    known = {s.name for s in store.subjects()}
    done = generations.migrated_subjects(store.db, pending)
    todo = generations.unmigrated_subjects(store.db, pending)
    by_subject = _photos_by_subject(rows)
    due = dict(store.due())  # consent expired or idle past the limit: not processed again
    with_copies = subjects_with_copies(store.db)  # their photos' masked copies are made again
    pause = float(os.environ.get(PAUSE_ENV) or 0)
    failures: list[MigrationFailure] = []
    batch: list[tuple[int, list[Sample]]] = []
    migrated = templates = photos_failed = 0

    def flush() -> None:
        nonlocal migrated, templates
        if batch:
            templates += generations.write_pending(store.db, store.protector, pending, batch, store.now())
            migrated += len(batch)
            batch.clear()
            if pause:
                time.sleep(pause)

    for subject_id, name in todo:
        photos = by_subject.get(name)
        if name in due:
            failures.append(MigrationFailure(name, "consent_expired"))
        elif not photos:
            failures.append(MigrationFailure(name, "not_in_csv"))
        else:
            samples: list[Sample] = []
            codes: list[str] = []
            for photo in photos:
                try:
                    copies = subject_id in with_copies
                    samples += embed_samples(engine, photo, largest_face=largest_face, masked_copies=copies)
                except FaceprintError as exc:
                    codes.append(exc.code)
            photos_failed += len(codes)
            if samples:
                batch.append((subject_id, samples))
            else:
                failures.append(
                    MigrationFailure(name, codes[0] if len(set(codes)) == 1 else "no_usable_photo")
                )
        progress(1)
        if len(batch) >= batch_size:
            flush()
    flush()
    report = MigrationReport(
        model=model,
        old_model=old_model,
        generation=pending.generation,
        subjects=len(known),
        migrated=migrated,
        resumed=len(done),
        templates=templates,
        photos_failed=photos_failed,
        unknown=len(set(by_subject) - known),
        switched=False,
        abandoned=abandoned,
        failures=tuple(failures),
    )
    if failures and not drop_missing:
        return report
    result = generations.switch(
        store.db, store.protector, pending, store.write_audit, actor, drop_missing=drop_missing
    )
    store.db.purge()  # the old generation's rows overwritten, the write-ahead log emptied
    store.rebuild_index(actor=actor)  # the vector index of the new model, at its dimension
    return dataclasses.replace(report, old_model=result.old_model, switched=True, dropped=result.dropped)
