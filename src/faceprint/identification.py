"""1:N identification, measured as a new user meets it: every photo through the whole pipeline.

The protocol (:func:`build_protocol`, on a folder with one sub-folder of photos per person, LFW's
layout) follows the shape of NIST FRVT 1:N with distractors:

- **gallery**: the first photo of each person with two or more photos, except ``held_out`` such
  people chosen by ``seed``, *plus* the photo of every person with a single photo (distractors:
  they make the gallery large, as a real one is);
- **mated probes**: up to ``per_person`` further photos of each enrolled person;
- **non-mated probes** (strangers): up to ``per_person`` photos of each held-out person (never
  enrolled), and each distractor's photo searched against the gallery without its own entry
  (leave-one-out), so FPIR is resolved to a few in ten thousand.

Every photo is detected and embedded by the engine (:func:`find_faces`: every face, box, score,
template), the face is chosen as the library chooses it (:func:`faceprint.choice.main_face`;
enrolment would refuse photos with rival faces, they are counted and then enrolled as
``--largest-face`` does) and decided by the store's own open-set rule
(:mod:`faceprint.store.openset`). Reported: closed-set rank-1, FNIR at FPIR 0.1/0.01/0.001, the
default operating point with its FPIR and TPIR, and the DET curve. The same functions score the
``face_recognition`` library's pipeline on the same photos (``bench/identify_lfw.py``).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .calibrate import Calibration, load_calibration
from .choice import rivals
from .config import Settings
from .errors import InvalidInput
from .face_table import FaceTable, find_faces
from .faces import Box
from .identification_rates import (
    as_z,
    cohort_moments,
    det_curve,
    fnir_at_fpir,
    gallery_crowding,
    mated_outcomes,
    top_z,
)
from .store.openset import DEFAULT_FPIR, decision_rule

__all__ = [
    "FaceTable",
    "IdentificationReport",
    "OperatingPoint",
    "Protocol",
    "build_protocol",
    "evaluate_identification",
    "find_faces",
    "people_folders",
    "plot_det",
    "score_protocol",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
FACE_RECOGNITION_TOLERANCE = 0.6  # face_recognition.compare_faces' default Euclidean distance
FPIR_TARGETS = (0.1, 0.01, 0.001)
Progress = Callable[[int], None]


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


# -- the protocol --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Protocol:
    """Which photo plays which role. Subjects are person names; photos are paths under the root."""

    gallery: tuple[tuple[str, str], ...]  # (subject, photo): one photo per enrolled subject
    mated: tuple[tuple[str, str], ...]  # (subject, photo) of enrolled subjects
    strangers: tuple[str, ...]  # photos of people never enrolled
    distractors: tuple[str, ...]  # subjects with a single photo (searched leave-one-out too)
    held_out: int  # people with several photos kept out of the gallery

    @property
    def files(self) -> list[str]:
        """Every photo the protocol uses, each once, sorted."""
        return sorted({f for _, f in self.gallery} | {f for _, f in self.mated} | set(self.strangers))


def build_protocol(
    people: dict[str, list[str]], *, held_out: int = 300, per_person: int = 2, seed: int = 0
) -> Protocol:
    """The gallery and probes for ``people`` (see the module's docstring).

    ``held_out`` is capped at a quarter of the people with several photos (small folders).
    """
    multi = sorted(p for p, photos in people.items() if len(photos) >= 2)
    single = sorted(p for p, photos in people.items() if len(photos) == 1)
    if not multi:
        raise InvalidInput("the protocol needs people with two or more photos")
    count = min(held_out, len(multi) // 4)
    rng = np.random.default_rng(seed)
    held = {multi[i] for i in rng.choice(len(multi), size=count, replace=False)} if count else set()
    enrolled = [p for p in multi if p not in held]
    return Protocol(
        gallery=tuple((p, people[p][0]) for p in sorted(enrolled + single)),
        mated=tuple((p, f) for p in enrolled for f in people[p][1 : 1 + per_person]),
        strangers=tuple(f for p in sorted(held) for f in people[p][:per_person]),
        distractors=tuple(single),
        held_out=count,
    )


# -- scoring -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperatingPoint:
    name: str
    threshold: float  # decision score needed for an answer
    fpir: float  # share of strangers given an answer
    fnir: float  # share of mated probes not answered with their person

    @property
    def tpir(self) -> float:
        """Share of mated probes answered with their person (1 - FNIR)."""
        return 1.0 - self.fnir

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "threshold": round(self.threshold, 6),
            "fpir": self.fpir,
            "fnir": self.fnir,
            "tpir": self.tpir,
        }


@dataclass(frozen=True)
class IdentificationReport:
    pipeline: str
    gallery: int  # subjects enrolled
    mated: int  # probes of enrolled subjects
    non_mated: int  # stranger probes (held-out people, and distractors searched leave-one-out)
    rank1: float  # closed set (no threshold); a probe without a face is a miss
    fnir_at_fpir: dict[str, float]  # "0.01" -> FNIR, of the default rule's family (cohort-normalised)
    points: tuple[OperatingPoint, ...]  # the default first
    refused: int  # gallery photos enrolment refuses by default (rival faces)
    no_face: int  # photos (gallery or probe) where no face was found
    model: str
    fnir_at_fpir_raw: dict[str, float] = field(default_factory=dict)  # thresholding the raw similarity
    seconds: float = 0.0
    det: tuple[NDArray[np.float64], NDArray[np.float64]] = field(
        default=(np.zeros(0), np.zeros(0)), repr=False
    )

    @property
    def default(self) -> OperatingPoint:
        return self.points[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "gallery": self.gallery,
            "mated": self.mated,
            "non_mated": self.non_mated,
            "rank1": round(self.rank1, 6),
            "fnir_at_fpir": {k: round(v, 6) for k, v in self.fnir_at_fpir.items()},
            "fnir_at_fpir_raw": {k: round(v, 6) for k, v in self.fnir_at_fpir_raw.items()},
            "points": [p.to_json() for p in self.points],
            "refused": self.refused,
            "no_face": self.no_face,
            "model": self.model,
            "seconds": round(self.seconds, 1),
        }


def score_protocol(
    protocol: Protocol,
    table: FaceTable,
    *,
    calibration: Calibration | None,
    fpir: float = DEFAULT_FPIR,
    fmr: float | None = 1e-3,
    first_face: bool = False,
    tie: float | None = None,
    gallery_templates: NDArray[np.float32] | None = None,
    name: str | None = None,
    crowding: bool = True,
) -> IdentificationReport:
    """Score ``protocol`` on the faces of ``table``, decided as the store decides.

    ``calibration`` gives faceprint's default rule (FPIR-bounded, see :mod:`.store.openset`) and the
    ``--fmr`` point; without it (another library's templates) the default point is
    ``face_recognition``'s rule (nearest within distance 0.6). ``gallery_templates`` replaces the
    gallery's templates (one row per gallery entry; zero rows: not enrolled), e.g. augmented ones.
    ``crowding``: order the subjects that pass as the store does by default (:attr:`Settings.crowding`).
    """
    row = {f: i for i, f in enumerate(table.files)}
    missing = [f for f in protocol.files if f not in row]
    if missing:
        raise InvalidInput(f"the face table lacks {len(missing)} photo(s), e.g. {missing[0]}")
    chosen, _ = table.choose(tie=tie, first=first_face)
    dim = table.templates.shape[1]

    def vector(photo: str) -> NDArray[np.float32]:
        j = chosen[row[photo]]
        return table.templates[j] if j >= 0 else np.zeros(dim, dtype=np.float32)

    subjects = [s for s, _ in protocol.gallery]
    if gallery_templates is None:
        gallery = np.stack([vector(f) for _, f in protocol.gallery]).astype(np.float32)
    else:
        gallery = np.asarray(gallery_templates, dtype=np.float32)
    enrolled = np.linalg.norm(gallery, axis=1) > 0
    norms = np.sum(gallery.astype(np.float64) ** 2, axis=1)
    index = {s: i for i, s in enumerate(subjects)}
    refused = sum(
        1
        for _, f in protocol.gallery
        if chosen[row[f]] >= 0 and _rivalled(table, row[f], int(chosen[row[f]]))
    )

    mated = np.stack([vector(f) for _, f in protocol.mated]) if protocol.mated else np.zeros((0, dim))
    truth = np.array([index[s] for s, _ in protocol.mated], dtype=np.int64)
    held = [vector(f) for f in protocol.strangers]
    loo = [vector(f) for s, f in protocol.gallery if s in set(protocol.distractors)]
    strangers = np.stack(held + loo) if held or loo else np.zeros((0, dim))
    own = np.array([-1] * len(held) + [index[s] for s in protocol.distractors], dtype=np.int64)

    def scores(probes: NDArray[Any], exclude: NDArray[np.int64] | None) -> NDArray[np.float64]:
        # 1 - |a - b|^2 / 2: the cosine for unit vectors, and monotone in the Euclidean distance
        # for other libraries' raw descriptors (face_recognition's 0.6 is then exactly 0.82)
        s = (probes.astype(np.float32) @ gallery.T).astype(np.float64) + 1.0
        s -= (np.sum(probes.astype(np.float64) ** 2, axis=1)[:, None] + norms[None, :]) / 2
        s[:, ~enrolled] = -np.inf
        s[np.linalg.norm(probes, axis=1) == 0] = -np.inf  # no face: no answer
        if exclude is not None:
            rows = np.flatnonzero(exclude >= 0)
            s[rows, exclude[rows]] = -np.inf
        return s

    s_mated, s_strangers = scores(mated, None), scores(strangers, own)
    # the store's order (crowding) for faceprint's templates; another library's rule: the nearest
    crowd = gallery_crowding(gallery, enrolled) if calibration is not None and crowding else None
    outcome = mated_outcomes(s_mated, truth, crowd)
    best_strangers = s_strangers.max(axis=1) if len(s_strangers) else np.zeros(0)
    n_enrolled = int(enrolled.sum())

    cohort = calibration.cohort if calibration is not None else None
    if cohort is not None and n_enrolled < cohort.min_size:
        cohort = None
    k = cohort.k if cohort is not None else 1
    mean, std = cohort_moments(s_mated, k)
    z_mate, z_blocker = as_z(outcome.mate, mean, std), as_z(outcome.blocker, mean, std)
    z_strangers = top_z(s_strangers, k)

    def point(name: str, threshold: float, z: float | None = None) -> OperatingPoint:
        need = z if z is not None else -np.inf
        named_m = outcome.named(
            (outcome.mate >= threshold) & (z_mate >= need),
            (outcome.blocker >= threshold) & (z_blocker >= need),
        )
        named_s = (best_strangers >= threshold) & (z_strangers >= need)
        fpir_ = float(np.mean(named_s)) if len(named_s) else 0.0
        return OperatingPoint(name, threshold, fpir_, float(np.mean(~named_m)) if len(named_m) else 0.0)

    points: list[OperatingPoint] = []
    if calibration is not None:
        default = decision_rule(calibration, n_enrolled, fpir=fpir)
        points.append(point(default.rule, default.threshold, default.z))
        if fmr is not None:
            per = decision_rule(calibration, n_enrolled, fmr=fmr)
            points.append(point(per.rule, per.threshold))
    fr = 1 - FACE_RECOGNITION_TOLERANCE**2 / 2  # |a - b| <= 0.6  <=>  a.b >= 0.82 for unit vectors
    points.append(point("face_recognition: nearest within distance 0.6", fr))
    mate, blocker, ok = outcome.mate, outcome.blocker, outcome.ok
    raw = {f"{t:g}": fnir_at_fpir(mate, ok, best_strangers, t, blocker) for t in FPIR_TARGETS}
    det = det_curve(mate, ok, best_strangers, blocker)
    fnir_at = raw
    if cohort is not None and calibration is not None:
        cal, normalised = calibration, cohort

        def family(target: float) -> float:
            """FNIR at FPIR ``target`` of the cohort rule: raw floor for ``target``, z set empirically."""
            floor = cal.threshold(max(normalised.raw_factor * target / n_enrolled, cal.min_fmr))
            d_m = np.where(mate >= floor, z_mate, -np.inf)
            d_b = np.where(blocker >= floor, z_blocker, -np.inf)
            d_s = np.where(best_strangers >= floor, z_strangers, -np.inf)
            return fnir_at_fpir(d_m, ok, d_s, target, d_b)

        fnir_at = {f"{t:g}": family(t) for t in FPIR_TARGETS}
        grid = np.logspace(np.log10(max(1.0 / max(len(best_strangers), 1), 1e-4)), 0, 40)[:-1]
        det = (grid, np.array([family(float(t)) for t in grid]))
    no_face = int(sum(chosen[row[f]] < 0 for f in protocol.files))
    return IdentificationReport(
        pipeline=name or table.pipeline,
        gallery=n_enrolled,
        mated=len(protocol.mated),
        non_mated=len(strangers),
        rank1=outcome.rank1,
        fnir_at_fpir=fnir_at,
        fnir_at_fpir_raw=raw,
        points=tuple(points),
        refused=refused,
        no_face=no_face,
        model=table.model,
        det=det,
    )


def _rivalled(table: FaceTable, photo: int, chosen: int) -> bool:
    rows = np.flatnonzero(table.image == photo)
    boxes = [Box(*table.boxes[j]) for j in rows]
    return bool(rivals(boxes, list(table.scores[rows]), int(chosen - rows[0])))


def plot_det(
    reports: Sequence[IdentificationReport], path: str | os.PathLike[str], *, title: str = ""
) -> None:
    """Write the DET curves (FNIR against FPIR, log axes) of ``reports`` into one plot (PNG, SVG, PDF)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5.5))
    for report in reports:
        fpir, fnir = report.det
        keep = fpir > 0
        (line,) = ax.loglog(
            fpir[keep], np.maximum(fnir[keep], 1e-3), label=f"{report.pipeline} (rank-1 {report.rank1:.3f})"
        )
        point = report.default
        if point.fpir > 0:
            ax.plot(point.fpir, max(point.fnir, 1e-3), "o", color=line.get_color())
    ax.set(
        xlabel="FPIR (strangers given a name)",
        ylabel="FNIR (mates not named)",
        title=title or "DET, 1:N open set",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(os.fspath(path), dpi=110)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: cannot write plot ({exc})") from None
    finally:
        plt.close(fig)


def evaluate_identification(
    root: str | os.PathLike[str],
    *,
    settings: Settings | None = None,
    fmr: float = 1e-3,
    fpir: float = DEFAULT_FPIR,
    held_out: int = 300,
    per_person: int = 2,
    seed: int = 0,
    workers: int | None = None,
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
    table: FaceTable | None = None,
) -> IdentificationReport:
    """Run the protocol on the photos under ``root``; ``table`` (from :func:`find_faces`) skips detection."""
    started = time.perf_counter()
    root = Path(root)
    settings = settings or Settings.from_env()
    protocol = build_protocol(people_folders(root), held_out=held_out, per_person=per_person, seed=seed)
    if table is None:
        if on_total is not None:
            on_total(len(protocol.files))
        table = find_faces(root, protocol.files, settings=settings, workers=workers, progress=progress)
    calibration = load_calibration(table.model)
    report = score_protocol(
        protocol, table, calibration=calibration, fpir=fpir, fmr=fmr, crowding=settings.crowding
    )
    return dataclasses.replace(report, seconds=time.perf_counter() - started)
