"""A 1:N identification protocol on a folder of people (LFW layout), run through the real store.

Each person with two or more photos is enrolled with their first photo (sorted by name); their
other photos are *mated* probes. People with a single photo are never enrolled: their photos are
*non-mated* probes (strangers). Reported, as in NIST's FRVT 1:N:

- closed-set rank-1: the share of mated probes whose top answer is their person (no threshold);
- FNIR at FPIR: at the threshold where a share FPIR of strangers gets any answer, the share of
  mated probes whose person is not the top answer above the threshold;
- both rates at faceprint's own operating point (``--fmr``), next to the same protocol decided the
  way the ``face_recognition`` library does it (linear ``face_distance``, match if the nearest
  template is within 0.6).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .config import Settings
from .engine import Engine
from .errors import InvalidInput
from .evaluate import embed_lfw_images
from .faces import Template
from .store import Sample, open_store

__all__ = ["IdentificationReport", "OperatingPoint", "evaluate_identification", "people_folders"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
FACE_RECOGNITION_TOLERANCE = 0.6  # face_recognition.compare_faces' default Euclidean distance


@dataclass(frozen=True)
class OperatingPoint:
    name: str
    threshold: float  # similarity
    fpir: float  # share of strangers given an answer
    fnir: float  # share of mated probes not answered with their person

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "threshold": round(self.threshold, 6),
            "fpir": self.fpir,
            "fnir": self.fnir,
        }


@dataclass(frozen=True)
class IdentificationReport:
    gallery: int  # people enrolled
    mated: int  # probes of enrolled people
    non_mated: int  # probes of people never enrolled
    rank1: float  # closed set
    fnir_at_fpir: dict[str, float]  # "0.01" -> FNIR
    points: tuple[OperatingPoint, ...]  # faceprint at --fmr and --fpir 0.01, face_recognition at 0.6
    no_face: int  # photos without a face (not LFW crops): a mated one counts as a miss
    model: str
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "gallery": self.gallery,
            "mated": self.mated,
            "non_mated": self.non_mated,
            "rank1": round(self.rank1, 6),
            "fnir_at_fpir": {k: round(v, 6) for k, v in self.fnir_at_fpir.items()},
            "points": [p.to_json() for p in self.points],
            "no_face": self.no_face,
            "model": self.model,
            "seconds": round(self.seconds, 1),
        }


def people_folders(root: Path) -> dict[str, list[str]]:
    """Person name -> that person's photos (paths relative to ``root``), one folder per person."""
    if not root.is_dir():
        raise InvalidInput(f"{root}: not a directory")
    people = {
        d.name: sorted(str(p.relative_to(root)) for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for d in sorted(root.iterdir())
        if d.is_dir()
    }
    people = {k: v for k, v in people.items() if v}
    if not people:
        raise InvalidInput(f"{root}: no person folders with photos")
    return people


def _rates(
    top_sim: NDArray[np.float64], top_ok: NDArray[np.bool_], stranger_sim: NDArray[np.float64], t: float
) -> tuple[float, float]:
    fpir = float(np.mean(stranger_sim >= t)) if len(stranger_sim) else 0.0
    fnir = float(np.mean(~(top_ok & (top_sim >= t)))) if len(top_sim) else 0.0
    return fpir, fnir


def evaluate_identification(
    root: str | Path,
    *,
    settings: Settings | None = None,
    fmr: float = 1e-3,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    embeddings: tuple[Sequence[str], NDArray[np.float32]] | None = None,
) -> IdentificationReport:
    """Run the protocol on ``root``; ``embeddings`` (files, matrix) skips the embedding pass."""
    started = time.perf_counter()
    root = Path(root)
    settings = settings or Settings.from_env()
    people = people_folders(root)
    files = [f for photos in people.values() for f in photos]
    engine = Engine(settings)
    if embeddings is None:
        if on_total is not None:
            on_total(len(files))
        matrix, _ = embed_lfw_images(root, files, settings=settings, workers=workers, progress=progress)
    else:
        known = {f: i for i, f in enumerate(embeddings[0])}
        missing = [f for f in files if f not in known]
        if missing:
            raise InvalidInput(f"the given embeddings lack {len(missing)} photo(s), e.g. {missing[0]}")
        matrix = embeddings[1][[known[f] for f in files]]
    row = {f: i for i, f in enumerate(files)}
    has_face = np.linalg.norm(matrix, axis=1) > 0
    model = engine.model_id

    gallery: dict[str, int] = {}
    mated: list[tuple[str, int]] = []
    strangers: list[int] = []
    for person, photos in people.items():
        rows = [row[f] for f in photos if has_face[row[f]]]
        if len(photos) == 1:
            strangers += rows
        elif rows:
            gallery[person] = rows[0]
            mated += [(person, r) for r in rows[1:]]
    n_mated = sum(len(p) - 1 for p in people.values() if len(p) > 1)
    if not gallery or not mated:
        raise InvalidInput(f"{root}: needs people with two or more photos")

    # faceprint: the real store, open-set search at the loosest threshold the calibration has
    loosest = 0.999
    with (
        tempfile.TemporaryDirectory(prefix="faceprint-1n-") as tmp,
        open_store(Path(tmp) / "gallery.db", engine=engine, actor="evaluate") as store,
    ):
        for person, r in gallery.items():
            store.enroll(person, [Sample(Template(matrix[r], model), f"{person}:{r}")], purpose="evaluation")

        def top(r: int) -> tuple[str | None, float]:
            found = store.search(Template(matrix[r], model), purpose="evaluation", top_k=1, fmr=loosest)
            matches = found.faces[0].matches
            return (matches[0].subject, matches[0].similarity) if matches else (None, -1.0)

        mated_top = [top(r) for _, r in mated]
        stranger_top = np.array([top(r)[1] for r in strangers], dtype=np.float64)
        if progress is not None:
            progress(0)
    misses = n_mated - len(mated)  # mated photos without a face: never found
    top_sim = np.array([s for _, s in mated_top] + [-1.0] * misses, dtype=np.float64)
    top_ok = np.array([p == n for (p, _), (n, _) in zip(mated, mated_top, strict=True)] + [False] * misses)

    # closed-set rank-1 needs no threshold: the exact nearest enrolled person
    names = list(gallery)
    enrolled = matrix[[gallery[n] for n in names]]
    nearest = np.argmax(matrix[[r for _, r in mated]] @ enrolled.T, axis=1)
    rank1 = sum(names[i] == p for (p, _), i in zip(mated, nearest, strict=True)) / n_mated

    fnir_at = {
        f"{target:g}": _fnir_at_fpir(top_sim, top_ok, stranger_top, target) for target in (0.1, 0.01, 0.001)
    }
    ours = engine.calibration.threshold(fmr)
    by_fpir = engine.calibration.threshold(max(0.01 / len(gallery), engine.calibration.min_fmr))
    fr_sim = 1 - FACE_RECOGNITION_TOLERANCE**2 / 2  # |a - b| <= 0.6  <=>  a.b >= 0.82 for unit vectors
    points = (
        OperatingPoint(f"faceprint --fmr {fmr:g}", ours, *_rates(top_sim, top_ok, stranger_top, ours)),
        OperatingPoint("faceprint --fpir 0.01", by_fpir, *_rates(top_sim, top_ok, stranger_top, by_fpir)),
        OperatingPoint(
            "face_recognition (distance <= 0.6)", fr_sim, *_rates(top_sim, top_ok, stranger_top, fr_sim)
        ),
    )
    return IdentificationReport(
        gallery=len(gallery),
        mated=n_mated,
        non_mated=len(strangers),
        rank1=rank1,
        fnir_at_fpir=fnir_at,
        points=points,
        no_face=int(np.sum(~has_face)),
        model=model,
        seconds=time.perf_counter() - started,
    )


def _fnir_at_fpir(
    top_sim: NDArray[np.float64], top_ok: NDArray[np.bool_], stranger_sim: NDArray[np.float64], fpir: float
) -> float:
    """FNIR at the lowest threshold that gives at most ``fpir`` of the strangers an answer."""
    if len(stranger_sim) == 0:
        return float("nan")
    ranked = np.sort(stranger_sim)[::-1]
    allowed = int(np.floor(fpir * len(ranked)))  # strangers that may score at or above the threshold
    threshold = float(np.nextafter(ranked[allowed], np.inf)) if allowed < len(ranked) else -1.0
    return _rates(top_sim, top_ok, stranger_sim, threshold)[1]
