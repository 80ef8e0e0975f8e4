"""What the model-migration tests share: the people of ../shared/data/faces, their CSV, searches."""

from __future__ import annotations

import csv
from pathlib import Path

import faceprint

FMR = 0.05  # the ArcFace-style test model's table (65 impostor pairs) resolves FMRs down to 1.5e-2


def people_of(faces_dir: Path, labels: dict[str, str]) -> dict[str, list[Path]]:
    """Each person's photos, by subject name (the person's label, lower case)."""
    found: dict[str, list[Path]] = {}
    for name, person in sorted(labels.items()):
        found.setdefault(person.lower(), []).append(faces_dir / name)
    return found


def rows_of(people: dict[str, list[Path]]) -> list[tuple[str, Path]]:
    return [(name, photo) for name, photos in people.items() for photo in photos]


def write_csv(path: Path, people: dict[str, list[Path]]) -> Path:
    """The CSV ``enroll --from-csv`` and ``store migrate-model --from-csv`` read."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["subject", "image"])
        writer.writerows(rows_of(people))
    return path


def enrol_all(store: faceprint.Gallery, people: dict[str, list[Path]]) -> None:
    for name, photos in people.items():
        store.enroll(name, photos, purpose="test", evidence=f"form {name}")


def template(engine: faceprint.Engine, photo: Path) -> faceprint.Template:
    face = engine.embed_main(photo)[0]
    assert face.template is not None
    return face.template


def best(store: faceprint.Store, probe: faceprint.Template) -> str | None:
    """The subject a search for ``probe`` names first, if any."""
    matches = store.search(probe, purpose="test", fmr=FMR).faces[0].matches
    return matches[0].subject if matches else None


def rows(store: faceprint.Store, sql: str) -> list[tuple[object, ...]]:
    with store.db.read() as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
