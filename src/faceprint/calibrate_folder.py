"""Calibration on your own data: a score -> FMR table from a folder of labelled photos.

The folder holds one sub-folder per person (``DIR/<person>/<photo>``; any image faceprint reads).
Every photo's face is embedded (the largest; an LFW-style 250x250 crop gets the central face, as
``scripts/calibrate_lfw.py`` does), then every pair of photos of different people is an impostor
pair and every pair of the same person a genuine pair: the table gives the FMR at each score
and the FNMR at each threshold. A photo with no face is left out and counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from .calibrate import Calibration
from .config import Settings
from .errors import InvalidInput

__all__ = ["REPORT_FMRS", "FolderCalibration", "calibrate_folder", "folder_files", "pair_scores"]

#: The FMRs whose thresholds ``faceprint calibrate`` reports.
REPORT_FMRS: Final = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})


@dataclass(frozen=True)
class FolderCalibration:
    """A measured table and what it was measured on."""

    table: Calibration
    people: int
    images: int
    no_face: int


def folder_files(root: Path) -> list[str]:
    """The photos under ``root``, as ``person/file`` paths, sorted."""
    if not root.is_dir():
        raise InvalidInput(f"{root} is not a folder (expected one sub-folder of photos per person)")
    files = sorted(
        f"{p.parent.name}/{p.name}"
        for p in root.glob("*/*")
        if p.suffix.lower() in _SUFFIXES and p.is_file() and not p.parent.name.startswith(".")
    )
    if len({f.split("/")[0] for f in files}) < 2:
        raise InvalidInput(f"{root}: need photos of at least 2 people, one sub-folder each")
    return files


def pair_scores(
    matrix: NDArray[np.float32], labels: NDArray[np.int64]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Similarities of every unordered pair (i < j) of rows, split into impostor and genuine."""
    n = matrix.shape[0]
    impostor_parts, genuine_parts = [], []
    for start in range(0, n, 1024):
        block = matrix[start : start + 1024] @ matrix.T
        rows = np.arange(start, min(start + 1024, n))
        upper = np.arange(n)[None, :] > rows[:, None]
        same = labels[rows][:, None] == labels[None, :]
        impostor_parts.append(block[upper & ~same])
        genuine_parts.append(block[upper & same])
    return np.concatenate(impostor_parts), np.concatenate(genuine_parts)


def calibrate_folder(
    root: Path,
    settings: Settings,
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> FolderCalibration:
    """Embed every photo under ``root`` with ``settings``' models and measure the table."""
    from .engine import Engine
    from .evaluate import embed_lfw_images

    files = folder_files(root)
    model = Engine(settings).model_id
    matrix, found = embed_lfw_images(root, files, settings=settings, workers=workers, progress=progress)
    keep = np.linalg.norm(matrix, axis=1) > 0  # a photo without a face has a row of zeros
    kept = [f for f, k in zip(files, keep, strict=True) if k]
    people = sorted({f.split("/")[0] for f in kept})
    label_of = {name: i for i, name in enumerate(people)}
    labels = np.array([label_of[f.split("/")[0]] for f in kept], dtype=np.int64)
    impostor, genuine = pair_scores(matrix[keep], labels)
    if impostor.size < 2:
        raise InvalidInput(f"{root}: faces of at least 2 people are needed; found {len(people)}")
    table = Calibration.from_scores(
        impostor,
        genuine=genuine if genuine.size else None,
        model=model,
        source=(
            f"{root.name}: {len(kept)} images of {len(people)} people; all {impostor.size:,} "
            f"cross-identity pairs (impostors) and {genuine.size:,} same-identity pairs; detector "
            f"{settings.detector}, upsample {settings.upsample}; faceprint calibrate"
        ),
    )
    return FolderCalibration(table, len(people), len(kept), found["none"])
