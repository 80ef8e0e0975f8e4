"""The masked LFW protocol: LFW's 10 folds and pairs, with synthetic masks on one or both images.

Each image is embedded three ways, in worker processes (:func:`embed_masked_lfw`):

- **bare**: as ``faceprint evaluate lfw`` does (the face overlapping LFW's central box, CNN and
  central-box fallbacks);
- **masked**: with a mask drawn from the bare face's landmarks (:func:`faceprint.masks.mask_for`,
  seeded by the file name: the same mask in every pair the image is in), then found again by
  the same policy, as a camera would see it: how many faces the detector loses, and how far the
  landmarks move (mean distance of the 5 points, in eye-centre distances), are reported;
- **enrolment copies**: the bare image with a synthetic mask of each style drawn on it and
  embedded at the bare landmarks, as masked enrolment templates are made
  (:mod:`faceprint.masked_enrol`);
- **occluded**: the occluded templates (:mod:`faceprint.occlusion`) of the bare face and of the
  masked face, each at its own landmarks.

``--masked probe`` masks the second image of every pair; ``both`` masks both. Scores compared:
``plain`` (what the pipeline does today) and ``mitigated`` (:func:`faceprint.masked_scores.routed_scores`:
a probe the mask test calls masked is also compared with the other side's bare template and
masked copies, and by the occluded comparison, each at the FMR of its own calibration table,
and accepted on any at three times the smallest FMR; reported also without the occluded
comparison; an unmasked-looking probe is compared as today).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .calibrate import Calibration, load_calibration
from .config import Settings
from .engine import Engine
from .errors import InvalidInput, ModelError
from .evaluate import (
    checked_lfw_files,
    equal_error_rate,
    lfw_engines,
    lfw_face,
    read_lfw_pairs,
    tar_at_far,
    ten_fold_accuracy,
)
from .masked_photos import ENROL_STYLES
from .masked_scores import (
    Occluded,
    cross_identity_scores,
    gallery_side,
    masked_comparison,
    routed_scores,
    two_way_scores,
)
from .masks import draw_mask, mask_for
from .occlusion import OCCLUDED_SUFFIX, occluded_templates
from .workers import WorkerPool, one_thread_each

__all__ = [
    "ENROL_STYLES",
    "MaskedLfw",
    "MaskedReport",
    "embed_masked_lfw",
    "evaluate_masked_lfw",
    "gallery_side",
    "masked_comparison",
    "masked_impostor_scores",
    "occluded_impostor_scores",
    "routed_scores",
    "run_masked_lfw",
]

_CHUNK = 16
Progress = Callable[[int], None]


@dataclass(frozen=True, eq=False)
class MaskedLfw:
    """Per image (rows in ``files`` order): bare, masked and enrolment-copy templates and checks."""

    files: tuple[str, ...]
    bare: NDArray[np.float32]  # (n, dim)
    masked: NDArray[np.float32]  # (n, dim)
    copies: NDArray[np.float32]  # (n, len(ENROL_STYLES), dim)
    bare_score: NDArray[np.float64]  # mask score of the bare face
    masked_score: NDArray[np.float64]  # mask score of the masked face (NaN: not found by the detector)
    bare_how: tuple[str, ...]  # "detector" / "cnn" / "box"
    masked_how: tuple[str, ...]
    landmark_error: NDArray[np.float64]  # mean point distance / eye distance (NaN: no detection)
    styles: tuple[str, ...]  # the probe mask's style per image
    model: str
    occluded_bare: NDArray[np.float32]  # (n, dim) occluded templates (faceprint.occlusion)
    occluded_masked: NDArray[np.float32]  # (n, dim)

    def save(self, path: str | os.PathLike[str]) -> None:
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in dataclasses.fields(self)}
        np.savez(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MaskedLfw:
        with np.load(path) as d:
            return cls(
                files=tuple(str(f) for f in d["files"]),
                bare=d["bare"],
                masked=d["masked"],
                copies=d["copies"],
                bare_score=d["bare_score"],
                masked_score=d["masked_score"],
                bare_how=tuple(str(h) for h in d["bare_how"]),
                masked_how=tuple(str(h) for h in d["masked_how"]),
                landmark_error=d["landmark_error"],
                styles=tuple(str(s) for s in d["styles"]),
                model=str(d["model"]),
                occluded_bare=d["occluded_bare"],
                occluded_masked=d["occluded_masked"],
            )


def _eye_distance(points: NDArray[np.float64]) -> float:
    return float(np.linalg.norm(points[0:2].mean(axis=0) - points[2:4].mean(axis=0)))


def _chunk(
    engines: tuple[Engine, Engine], job: tuple[Sequence[str], Sequence[str], int]
) -> list[tuple[object, ...]]:
    paths, names, seed = job
    engine, cnn = engines
    out: list[tuple[object, ...]] = []
    for path, name in zip(paths, names, strict=True):
        rgb = engine.load_image(path)
        box, how = lfw_face(engine, cnn, rgb)
        assert box is not None  # LFW crops always give a box
        bare = engine.embed(rgb, boxes=[box])[0]
        spec = mask_for(name, seed)
        masked_rgb = draw_mask(rgb, bare.landmarks, spec)
        mbox, mhow = lfw_face(engine, cnn, masked_rgb)
        assert mbox is not None
        masked = engine.embed(masked_rgb, boxes=[mbox])[0]
        err = float("nan")
        if mhow == "detector":
            err = float(np.mean(np.linalg.norm(masked.landmarks - bare.landmarks, axis=1))) / max(
                _eye_distance(bare.landmarks), 1.0
            )
        copies = [
            draw_mask(rgb, bare.landmarks, mask_for(name, seed + 1 + i, style))
            for i, style in enumerate(ENROL_STYLES)
        ]
        copy_templates = engine.templates_at([(c, bare.points) for c in copies])
        occluded = occluded_templates(engine, [(rgb, bare.landmarks), (masked_rgb, masked.landmarks)])
        assert bare.template is not None and masked.template is not None
        out.append(
            (
                bare.template.vector,
                masked.template.vector,
                np.stack([t.vector for t in copy_templates]),
                float(bare.mask_score or 0.0),
                float(masked.mask_score or 0.0) if mhow == "detector" else float("nan"),
                how,
                mhow,
                err,
                spec.style,
                occluded[0].vector,
                occluded[1].vector,
            )
        )
    return out


def embed_masked_lfw(
    root: str | os.PathLike[str],
    files: Sequence[str],
    *,
    seed: int = 0,
    settings: Settings | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> MaskedLfw:
    """Bare, masked and enrolment-copy templates of LFW images (see the module's docstring)."""
    root = checked_lfw_files(root, files)
    settings = settings or Settings.from_env()
    workers = workers or os.cpu_count() or 1
    processes = 0 if workers == 1 else workers  # one worker: in this process
    jobs = [
        ([str(root / f) for f in files[i : i + _CHUNK]], list(files[i : i + _CHUNK]), seed)
        for i in range(0, len(files), _CHUNK)
    ]
    rows: list[tuple[object, ...]] = []
    args = (one_thread_each(settings, processes),)
    with WorkerPool(lfw_engines, args, processes, died="an embedding worker died") as pool:
        for chunk in pool.map(_chunk, jobs):
            rows += chunk
            if progress is not None:
                progress(len(chunk))
    cols = list(zip(*rows, strict=True))
    return MaskedLfw(
        files=tuple(files),
        bare=np.stack(cols[0]).astype(np.float32),
        masked=np.stack(cols[1]).astype(np.float32),
        copies=np.stack(cols[2]).astype(np.float32),
        bare_score=np.array(cols[3], dtype=np.float64),
        masked_score=np.array(cols[4], dtype=np.float64),
        bare_how=tuple(str(h) for h in cols[5]),
        masked_how=tuple(str(h) for h in cols[6]),
        landmark_error=np.array(cols[7], dtype=np.float64),
        styles=tuple(str(s) for s in cols[8]),
        model=Engine(settings).model_id,
        occluded_bare=np.stack(cols[9]).astype(np.float32),
        occluded_masked=np.stack(cols[10]).astype(np.float32),
    )


# -- scoring (the rule itself: faceprint.masked_scores) ---------------------------------------------


def masked_impostor_scores(data: MaskedLfw) -> NDArray[np.float32]:
    """Every cross-identity (masked probe, enrolment side) pair's :func:`masked_comparison`: the
    masked table's impostors."""
    labels = np.array([f.split("/")[0] for f in data.files])
    return cross_identity_scores(gallery_side(data.bare, data.copies), data.masked, labels)


def occluded_impostor_scores(data: MaskedLfw) -> NDArray[np.float32]:
    """Every cross-identity (bare photo, masked probe) pair's occluded similarity: the occluded
    table's impostors."""
    labels = np.array([f.split("/")[0] for f in data.files])
    return cross_identity_scores(data.occluded_bare, data.occluded_masked, labels)


@dataclass(frozen=True)
class MaskedReport:
    """Accuracy (10-fold), TAR at FAR 1e-3 and EER of one way of scoring, plus detection figures."""

    name: str
    accuracy: float
    accuracy_std: float
    tar_at_far: float  # FAR 1e-3
    eer: float

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "accuracy": round(self.accuracy, 6),
            "accuracy_std": round(self.accuracy_std, 6),
            "tar_at_far_1e-3": round(self.tar_at_far, 6),
            "eer": round(self.eer, 6),
        }


def _report(
    name: str, scores: NDArray[np.float64], same: NDArray[np.bool_], folds: NDArray[np.int64]
) -> MaskedReport:
    accuracies, _ = ten_fold_accuracy(scores, same, folds)
    genuine, impostor = scores[same], scores[~same]
    return MaskedReport(
        name=name,
        accuracy=float(np.mean(accuracies)),
        accuracy_std=float(np.std(accuracies)),
        tar_at_far=tar_at_far(genuine, impostor, 1e-3),
        eer=equal_error_rate(genuine, impostor),
    )


def evaluate_masked_lfw(
    data: MaskedLfw,
    pairs_file: str | os.PathLike[str],
    *,
    mode: str,
    plain: Calibration,
    masked: Calibration | None,
    occluded: Calibration | None = None,
) -> dict[str, object]:
    """Reports for ``mode`` ("probe" or "both"): bare pairs, masked pairs as today, mitigated (by
    :func:`faceprint.masked_scores.routed_scores`, with the occluded comparison when ``occluded``
    is given; the rule without it is reported too); and what the detector, the landmarks and the
    mask test did."""
    if mode not in ("probe", "both"):
        raise InvalidInput(f"--masked must be probe or both, not {mode!r}")
    started = time.perf_counter()
    pairs = read_lfw_pairs(pairs_file)
    index = {f: i for i, f in enumerate(data.files)}
    ia = np.array([index[p.a] for p in pairs])
    ib = np.array([index[p.b] for p in pairs])
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs], dtype=np.int64)
    flagged = data.masked_score >= 0.5  # NaN (lost) compares False
    a_side = data.masked[ia] if mode == "both" else data.bare[ia]
    reports = [
        _report("bare (no masks)", np.einsum("ij,ij->i", data.bare[ia], data.bare[ib]), same, folds),
        _report(f"masked {mode}, today", np.einsum("ij,ij->i", a_side, data.masked[ib]), same, folds),
    ]
    if masked is not None:
        bare_flag = data.bare_score[ib] >= 0.5
        gal = (data.bare[ia], data.copies[ia])
        occ_bare = occ_masked = None
        if occluded is not None:
            occ_bare = Occluded(data.occluded_bare[ia], data.occluded_bare[ib], occluded)
            occ_masked = Occluded(data.occluded_bare[ia], data.occluded_masked[ib], occluded)
        bare_routed = routed_scores(*gal, data.bare[ib], bare_flag, plain, masked, occ_bare)
        reports.insert(1, _report("bare, mitigation on", bare_routed, same, folds))
        if mode == "probe":
            if occluded is not None:
                copies_only = routed_scores(*gal, data.masked[ib], flagged[ib], plain, masked)
                reports.append(_report("masked probe, copies only", copies_only, same, folds))
            routed = routed_scores(*gal, data.masked[ib], flagged[ib], plain, masked, occ_masked)
            reports.append(_report("masked probe, mitigated", routed, same, folds))
        elif occluded is not None:  # both masked: no bare photo to copy; the occluded comparison
            bare_sims = np.einsum("ij,ij->i", data.masked[ia], data.masked[ib])
            occ_sims = np.einsum("ij,ij->i", data.occluded_masked[ia], data.occluded_masked[ib])
            both = two_way_scores(bare_sims, occ_sims, flagged[ib], plain, occluded)
            reports.append(_report("masked both, mitigated", both, same, folds))
    used = np.unique(np.concatenate([ib, ia] if mode == "both" else [ib]))
    lost = int(sum(data.masked_how[i] != "detector" for i in used))
    errors = data.landmark_error[used]
    return {
        "mode": mode,
        "reports": [r.to_json() for r in reports],
        "images_masked": int(used.size),
        "faces_lost_by_detector": lost,
        "faces_lost_unmasked": int(sum(data.bare_how[i] != "detector" for i in used)),
        "landmark_error_median": round(float(np.nanmedian(errors)), 4),
        "landmark_error_p90": round(float(np.nanpercentile(errors, 90)), 4),
        "landmark_error_over_0.1": round(float(np.nanmean(errors > 0.1)), 4),
        "mask_test_found": round(
            float(np.mean(flagged[used][np.array(data.masked_how)[used] == "detector"])), 4
        ),
        "mask_test_false_on_bare": round(float(np.mean(data.bare_score >= 0.5)), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def run_masked_lfw(
    root: str | os.PathLike[str],
    *,
    mode: str,
    pairs: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
    workers: int | None = None,
    cache: str | os.PathLike[str] | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
) -> dict[str, object]:
    """``faceprint evaluate lfw DIR --masked MODE``: embed (or read ``cache``) and score.

    The masked comparisons' table is the one shipped for the model (``calibration-<model>+masked``);
    where none ships it is measured on these images' masked impostor pairs and the report says so.
    """
    root = Path(root)
    if not root.is_dir():
        raise InvalidInput(f"{root}: not a directory")
    if mode not in ("probe", "both"):
        raise InvalidInput(f"--masked must be probe or both, not {mode!r}")
    pairs_file = Path(pairs) if pairs is not None else root / "pairs.txt"
    pair_list = read_lfw_pairs(pairs_file)
    files = sorted({p.a for p in pair_list} | {p.b for p in pair_list})
    data = None
    if cache is not None and Path(cache).is_file():
        try:
            data = MaskedLfw.load(cache)
        except (OSError, ValueError, KeyError) as exc:
            if "occluded" not in str(exc):
                raise InvalidInput(
                    f"{cache}: not a masked-LFW cache ({exc}); delete it or name another"
                ) from None
            data = None  # a cache from before the occluded templates: embed again
        if data is not None and list(data.files) != files:
            data = None
    if data is None:
        if on_total is not None:
            on_total(len(files))
        data = embed_masked_lfw(root, files, seed=seed, settings=settings, workers=workers, progress=progress)
        if cache is not None:
            try:
                data.save(cache)
            except OSError as exc:
                raise InvalidInput(f"{cache}: cannot write the cache ({exc.strerror or exc})") from None
    plain = load_calibration(data.model)
    masked, source = _table(data, "+masked", masked_impostor_scores)
    occluded, occ_source = _table(data, OCCLUDED_SUFFIX, occluded_impostor_scores)
    report = evaluate_masked_lfw(data, pairs_file, mode=mode, plain=plain, masked=masked, occluded=occluded)
    return {
        **report,
        "model": data.model,
        "masked_calibration": source,
        "occluded_calibration": occ_source,
    }


def _table(
    data: MaskedLfw, suffix: str, impostors: Callable[[MaskedLfw], NDArray[np.float32]]
) -> tuple[Calibration, str]:
    """The shipped ``<model><suffix>`` table, or one measured on these images' impostor pairs."""
    try:
        return load_calibration(data.model + suffix), "shipped"
    except ModelError:
        return Calibration.from_scores(impostors(data), model=data.model + suffix), "measured on these images"
