"""Benchmark protocols on labelled face data: LFW's standard 10-fold verification protocol.

LFW images are 250x250 crops centred on the labelled face; face detection is not part of the
protocol. Each image is embedded with the detected face that overlaps most with the central box
(the median HOG box on LFW). Where the configured detector finds no face, the CNN detector is
tried, and where that finds none either the central box itself is used (dlib's own advice for
LFW); the report counts both fallbacks.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .config import Settings
from .engine import Engine
from .errors import InvalidInput
from .extras import import_extra
from .faces import Box
from .imageio import RGBImage
from .workers import WorkerPool, one_thread_each

__all__ = [
    "LFW_CENTRAL_BOX",
    "LfwPair",
    "LfwReport",
    "checked_lfw_files",
    "embed_lfw_images",
    "evaluate_lfw",
    "lfw_engines",
    "read_lfw_pairs",
    "ten_fold_accuracy",
]

#: Median HOG face box on LFW's deep-funneled 250x250 images: picks the labelled face among several,
#: and stands in for it where no detector finds one.
LFW_CENTRAL_BOX = Box(67.0, 80.0, 176.0, 188.0)
Progress = Callable[[int], None]


@dataclass(frozen=True)
class LfwPair:
    a: str  # path relative to the LFW directory, e.g. "Abel_Pacheco/Abel_Pacheco_0001.jpg"
    b: str
    same: bool
    fold: int


@dataclass(frozen=True)
class LfwReport:
    """The outcome of LFW's 10-fold protocol (threshold chosen on 9 folds, tested on the 10th)."""

    accuracy: float  # mean over folds
    accuracy_std: float  # standard deviation over folds
    fold_accuracies: tuple[float, ...]
    fold_thresholds: tuple[float, ...]  # similarity thresholds chosen on the other folds
    eer: float
    tar_at_far: dict[str, float]  # "1e-2" -> TAR, over all pairs pooled
    n_pairs: int
    n_images: int
    n_cnn_fallback: int  # images where the configured detector found no face but the CNN did
    n_box_fallback: int  # images where no detector found a face and the central box was used
    seconds: float
    model: str
    detector: str
    genuine: NDArray[np.float64] = field(repr=False)
    impostor: NDArray[np.float64] = field(repr=False)

    @property
    def accuracy_se(self) -> float:
        """Standard error of the mean accuracy (what LFW's results page reports as ±)."""
        return self.accuracy_std / math.sqrt(len(self.fold_accuracies))

    def to_json(self) -> dict[str, object]:
        return {
            "accuracy": round(self.accuracy, 6),
            "accuracy_std": round(self.accuracy_std, 6),
            "accuracy_se": round(self.accuracy_se, 6),
            "fold_accuracies": [round(a, 6) for a in self.fold_accuracies],
            "fold_thresholds": [round(t, 6) for t in self.fold_thresholds],
            "eer": round(self.eer, 6),
            "tar_at_far": {k: round(v, 6) for k, v in self.tar_at_far.items()},
            "n_pairs": self.n_pairs,
            "n_images": self.n_images,
            "n_cnn_fallback": self.n_cnn_fallback,
            "n_box_fallback": self.n_box_fallback,
            "seconds": round(self.seconds, 2),
            "model": self.model,
            "detector": self.detector,
        }


def read_lfw_pairs(path: str | os.PathLike[str]) -> list[LfwPair]:
    """Parse LFW's ``pairs.txt``: a header ``folds n`` then per fold n same and n different pairs."""
    p = Path(path)
    try:
        lines = [line.split() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise InvalidInput(f"{p}: cannot read pairs file ({exc.strerror or exc})") from None
    try:
        folds, per_fold = int(lines[0][0]), int(lines[0][1])
    except (IndexError, ValueError):
        raise InvalidInput(f"{p}: first line must be '<folds> <pairs per fold>'") from None
    if folds < 2 or per_fold < 1:
        raise InvalidInput(f"{p}: need at least 2 folds of at least 1 pair each, not {folds} x {per_fold}")
    body = lines[1:]
    if len(body) != folds * per_fold * 2:
        raise InvalidInput(f"{p}: expected {folds * per_fold * 2} pairs after the header, found {len(body)}")
    pairs = []
    for i, parts in enumerate(body):
        fold = i // (2 * per_fold)
        try:
            if len(parts) == 3:
                name, x, y = parts
                pairs.append(LfwPair(_lfw_file(name, int(x)), _lfw_file(name, int(y)), True, fold))
            elif len(parts) == 4:
                n1, x, n2, y = parts
                pairs.append(LfwPair(_lfw_file(n1, int(x)), _lfw_file(n2, int(y)), False, fold))
            else:
                raise ValueError
        except ValueError:
            raise InvalidInput(f"{p}: line {i + 2} is not a pair: {' '.join(parts)!r}") from None
    return pairs


def _lfw_file(name: str, number: int) -> str:
    return f"{name}/{name}_{number:04d}.jpg"


# -- embedding, in worker processes -------------------------------------------------------------

_CHUNK = 16  # images per worker task: their faces are embedded in one batch


def checked_lfw_files(root: str | os.PathLike[str], files: Sequence[str]) -> Path:
    """``root`` as a path, once every one of ``files`` (at least one) is an image file under it."""
    root = Path(root)
    if not files:
        raise InvalidInput(f"{root}: no images to embed")
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise InvalidInput(
            f"{root}: {len(missing)} image(s) named by the pairs are missing, e.g. {missing[0]}"
        )
    return root


def lfw_engines(settings: Settings) -> tuple[Engine, Engine]:
    """A worker's engines: the configured one, and the CNN fallback (loads on first use)."""
    return Engine(settings).load(), Engine(dataclasses.replace(settings, detector="cnn"))


def lfw_face(engine: Engine, fallback: Engine, image: RGBImage) -> tuple[Box | None, str]:
    """The labelled face's box in an LFW image, and how it was found: "detector", "cnn" or "box".

    Images that are not LFW's 250x250 crops get their largest face, or ``(None, "none")``.
    """
    how = "detector"
    faces = engine.detect(image)
    if image.shape[:2] != (250, 250):
        return (faces[0].box, how) if faces else (None, "none")
    if not faces and engine.settings.detector != "cnn":
        faces, how = fallback.detect(image), "cnn"
    if not faces:
        return LFW_CENTRAL_BOX, "box"
    return max(faces, key=lambda f: f.box.iou(LFW_CENTRAL_BOX)).box, how


def _embed_chunk(
    engines: tuple[Engine, Engine], paths: Sequence[str]
) -> list[tuple[NDArray[np.float32], str]]:
    """Templates of a chunk of LFW images, all faces through one batched embedder call."""
    engine, fallback = engines
    images, boxes, hows = [], [], []
    for path in paths:
        rgb = engine.load_image(path)
        box, how = lfw_face(engine, fallback, rgb)
        images.append(rgb)
        boxes.append([] if box is None else [box])  # no face (a photo that is not an LFW crop)
        hows.append(how)
    faces = engine.embed_many(images, boxes=boxes)
    out = []
    for found, how in zip(faces, hows, strict=True):
        template = found[0].template if found else None
        out.append((np.zeros(engine.dim, dtype=np.float32) if template is None else template.vector, how))
    return out


def embed_lfw_images(
    root: str | os.PathLike[str],
    files: Sequence[str],
    *,
    settings: Settings | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> tuple[NDArray[np.float32], dict[str, int]]:
    """Templates (one row per file, in order) of LFW images, and how their faces were found.

    The counts are keyed "detector" (the configured one), "cnn" (CNN fallback), "box" (the
    central box, where no detector found a face) and "none" (a photo that is not an LFW crop and
    has no face: its row is all zeros).

    Runs ``workers`` processes (default: every core; 1: in this process), each with its own engine
    (:class:`faceprint.workers.WorkerPool`).
    """
    root = checked_lfw_files(root, files)
    settings = settings or Settings.from_env()
    workers = workers or os.cpu_count() or 1
    processes = 0 if workers == 1 else workers  # one worker: in this process
    paths = [str(root / f) for f in files]
    chunks = [paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    vectors: list[NDArray[np.float32]] = []
    fallbacks: collections.Counter[str] = collections.Counter()
    args = (one_thread_each(settings, processes),)
    with WorkerPool(lfw_engines, args, processes, died="an embedding worker died") as pool:
        for chunk in pool.map(_embed_chunk, chunks):
            for vector, how in chunk:
                vectors.append(vector)
                fallbacks[how] += 1
            if progress is not None:
                progress(len(chunk))
    matrix = np.vstack(vectors).astype(np.float32)
    return matrix, {k: fallbacks[k] for k in ("detector", "cnn", "box", "none")}


# -- the protocol --------------------------------------------------------------------------------


def _best_threshold(scores: NDArray[np.float64], same: NDArray[np.bool_]) -> float:
    """The similarity threshold with the highest accuracy on (scores, same); ties: the middle one."""
    order = np.argsort(scores)
    s, y = scores[order], same[order]
    # threshold between s[i-1] and s[i]: pairs [0, i) are "different", [i, n) are "same"
    n = s.size
    correct_below = np.concatenate([[0], np.cumsum(~y)])  # impostors below each cut
    correct_above = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])  # genuines at or above each cut
    correct = correct_below + correct_above
    best = np.flatnonzero(correct == correct.max())
    cut = int(best[len(best) // 2])
    if cut == 0:
        return float(s[0] - 1e-6)
    if cut == n:
        return float(s[-1] + 1e-6)
    return float((s[cut - 1] + s[cut]) / 2.0)


def ten_fold_accuracy(
    scores: NDArray[np.float64], same: NDArray[np.bool_], folds: NDArray[np.int64]
) -> tuple[list[float], list[float]]:
    """Per fold: accuracy at the threshold chosen on all other folds, and that threshold."""
    accuracies, thresholds = [], []
    for k in np.unique(folds):
        train, test = folds != k, folds == k
        t = _best_threshold(scores[train], same[train])
        accuracies.append(float(np.mean((scores[test] >= t) == same[test])))
        thresholds.append(t)
    return accuracies, thresholds


def _roc_points(
    genuine: NDArray[np.float64], impostor: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    thresholds = np.unique(np.concatenate([genuine, impostor]))[::-1]
    # share of scores >= each threshold: count of negated scores <= the negated threshold
    far = np.searchsorted(np.sort(-impostor), -thresholds, side="right") / impostor.size
    tar = np.searchsorted(np.sort(-genuine), -thresholds, side="right") / genuine.size
    return far, tar


def equal_error_rate(genuine: NDArray[np.float64], impostor: NDArray[np.float64]) -> float:
    far, tar = _roc_points(genuine, impostor)
    frr = 1.0 - tar
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2.0)


def tar_at_far(genuine: NDArray[np.float64], impostor: NDArray[np.float64], far: float) -> float:
    """Share of genuine pairs accepted at the strictest threshold whose FAR is at most ``far``."""
    allowed = math.floor(far * impostor.size)
    top = np.sort(impostor)[::-1]
    threshold = top[allowed] if allowed < top.size else -np.inf  # accept strictly above it
    return float(np.mean(genuine > threshold))


def evaluate_lfw(
    root: str | os.PathLike[str],
    *,
    pairs: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
) -> LfwReport:
    """Run LFW's 10-fold verification protocol on the images under ``root``."""
    started = time.perf_counter()
    root = Path(root)
    if not root.is_dir():
        raise InvalidInput(f"{root}: not a directory")
    pair_list = read_lfw_pairs(pairs if pairs is not None else root / "pairs.txt")
    files = sorted({p.a for p in pair_list} | {p.b for p in pair_list})
    if on_total is not None:
        on_total(len(files))
    settings = settings or Settings.from_env()
    matrix, fallbacks = embed_lfw_images(root, files, settings=settings, workers=workers, progress=progress)
    index = {f: i for i, f in enumerate(files)}
    a = matrix[[index[p.a] for p in pair_list]]
    b = matrix[[index[p.b] for p in pair_list]]
    scores = np.einsum("ij,ij->i", a, b).astype(np.float64)
    same = np.array([p.same for p in pair_list])
    folds = np.array([p.fold for p in pair_list])
    accuracies, thresholds = ten_fold_accuracy(scores, same, folds)
    genuine, impostor = scores[same], scores[~same]
    return LfwReport(
        accuracy=float(np.mean(accuracies)),
        accuracy_std=float(np.std(accuracies)),
        fold_accuracies=tuple(accuracies),
        fold_thresholds=tuple(thresholds),
        eer=equal_error_rate(genuine, impostor),
        tar_at_far={f"{far:.0e}": tar_at_far(genuine, impostor, far) for far in (1e-2, 1e-3)},
        n_pairs=len(pair_list),
        n_images=len(files),
        n_cnn_fallback=fallbacks["cnn"],
        n_box_fallback=fallbacks["box"],
        seconds=time.perf_counter() - started,
        model=Engine(settings).model_id,
        detector=settings.detector,
        genuine=genuine,
        impostor=impostor,
    )


def plot_lfw(report: LfwReport, path: str | os.PathLike[str]) -> None:
    """Write ROC and DET curves of ``report`` to an image file (PNG, SVG, PDF by extension).

    Needs the ``plot`` extra (matplotlib): :class:`~faceprint.errors.MissingExtra` without it."""
    matplotlib = import_extra("matplotlib", "plot", "plotting (--plot)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    far, tar = _roc_points(report.genuine, report.impostor)
    fig, (roc, det) = plt.subplots(1, 2, figsize=(11, 4.5))
    roc.semilogx(np.maximum(far, 1e-4), tar)
    roc.set(xlabel="false accept rate", ylabel="true accept rate", title="ROC (LFW, 10-fold pairs)")
    roc.grid(True, which="both", alpha=0.3)
    det.loglog(np.maximum(far, 1e-4), np.maximum(1 - tar, 1e-4))
    det.set(xlabel="false accept rate", ylabel="false reject rate", title="DET")
    det.grid(True, which="both", alpha=0.3)
    fig.suptitle(
        f"{report.model} / {report.detector}: accuracy {report.accuracy:.4f} (std {report.accuracy_std:.4f}), "
        f"EER {report.eer:.4f}; FAR below 1/{report.impostor.size} is not resolved"
    )
    fig.tight_layout()
    try:
        fig.savefig(os.fspath(path), dpi=110)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: cannot write plot ({exc})") from None
    finally:
        plt.close(fig)
