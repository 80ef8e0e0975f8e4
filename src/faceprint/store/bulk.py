"""Bulk enrolment from a list of (subject, image) rows: one transaction per subject, resumable."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..errors import FaceprintError, InvalidInput
from ..imageio import read_encoded
from .gallery import Store
from .records import Sample

__all__ = ["BulkFailure", "BulkReport", "enroll_rows", "read_enrolment_csv"]


@dataclass(frozen=True)
class BulkFailure:
    subject: str
    image: str
    code: str
    message: str


@dataclass(frozen=True)
class BulkReport:
    subjects: int = 0  # subjects written to (created or extended)
    added: int = 0  # templates written
    skipped: int = 0  # images already enrolled (a re-run of the same job)
    failures: tuple[BulkFailure, ...] = field(default_factory=tuple)


def read_enrolment_csv(path: Path) -> list[tuple[str, Path]]:
    """Rows of a CSV with a header naming ``subject`` and ``image`` columns.

    Relative image paths are taken relative to the CSV file's folder.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or not {"subject", "image"} <= set(reader.fieldnames):
                raise InvalidInput(f"{path}: the header must name the columns 'subject' and 'image'")
            rows: list[tuple[str, Path]] = []
            for line, row in enumerate(reader, start=2):
                subject, image = (row.get("subject") or "").strip(), (row.get("image") or "").strip()
                if not subject or not image:
                    raise InvalidInput(f"{path}:{line}: both 'subject' and 'image' are required")
                rows.append((subject, path.parent / image))
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{path}: not a readable CSV file ({exc})") from None
    return rows


def enroll_rows(
    store: Store,
    rows: Sequence[tuple[str, Path]],
    *,
    purpose: str,
    evidence: str | None = None,
    expires_at: datetime | None = None,
    actor: str | None = None,
    largest_face: bool = False,
    masked_copies: bool = False,
    progress: Callable[[int], None] = lambda n: None,
) -> BulkReport:
    """Enrol every row; subjects in order of first appearance, each in its own transaction.

    Images already enrolled for their subject are skipped without being decoded twice (content
    hash), so re-running an interrupted job finishes it. A bad image is reported and the rest of
    its subject is still enrolled; the run never stops for one image.
    """
    by_subject: dict[str, list[Path]] = {}
    for subject, image in rows:
        by_subject.setdefault(subject, []).append(image)
    settings = store.settings
    subjects = added = skipped = 0
    failures: list[BulkFailure] = []
    for subject, images in by_subject.items():
        try:
            known = store.enrolled_sources(subject)
        except FaceprintError as exc:
            failures += [BulkFailure(subject, str(i), exc.code, str(exc)) for i in images]
            progress(len(images))
            continue
        samples: list[Sample] = []
        for image in images:
            try:
                data, _ = read_encoded(image, max_bytes=settings.max_bytes)
                if hashlib.sha256(data).hexdigest() in known:  # done by an earlier run: not even decoded
                    skipped += 1
                    continue
                # same digest as the file's bytes; masked copies after the photo's own sample
                made = store.photo_samples(image, largest_face=largest_face, masked_copies=masked_copies)
                samples += made
                known |= {made[0].source}
            except FaceprintError as exc:
                failures.append(BulkFailure(subject, str(image), exc.code, str(exc)))
            finally:
                progress(1)
        if not samples:
            continue
        try:
            result = store.enroll(
                subject, samples, purpose=purpose, evidence=evidence, expires_at=expires_at, actor=actor
            )
        except FaceprintError as exc:
            failures += [BulkFailure(subject, "*", exc.code, str(exc))]
            continue
        subjects += 1
        added += result.added
        skipped += result.skipped
    return BulkReport(subjects=subjects, added=added, skipped=skipped, failures=tuple(failures))
