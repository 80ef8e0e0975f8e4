"""Measure the score -> FMR table of masked comparisons, on every cross-identity masked LFW pair.

    python scripts/calibrate_masked_lfw.py ../shared/data/lfw [--cache /tmp/masked-lfw.npz] [--out src/faceprint/data/]

Every LFW image is embedded bare, with a synthetic mask (the probe) and as masked enrolment copies
(:func:`faceprint.masked_lfw.embed_masked_lfw`; the cache is the one ``faceprint evaluate lfw
--masked --cache`` and ``bench/identify_masked_lfw.py`` use). A masked comparison scores a masked
probe against the mean similarity to a photo's bare template and its masked copies; the impostors are all
such scores between different people (both directions: ~59 million), the genuines those of the
same person. Writes ``calibration-<model>+masked.json``; and ``calibration-<model>+occluded.json``,
the occluded comparison's table (:mod:`faceprint.occlusion`: a masked probe's occluded template
against another photo's), measured the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from faceprint.calibrate import Calibration
from faceprint.masked_lfw import (
    MaskedLfw,
    embed_masked_lfw,
    gallery_side,
    masked_impostor_scores,
    occluded_impostor_scores,
)
from faceprint.occlusion import OCCLUDED_SUFFIX, OCCLUSIONS


def write(
    out_dir: Path, model: str, impostor: np.ndarray, genuine: np.ndarray, images: int, what: str
) -> None:
    table = Calibration.from_scores(
        impostor,
        genuine=genuine,
        model=model,
        source=(
            f"LFW deep-funneled, {images} images: a synthetically masked probe (faceprint.masks, seed 0), "
            f"{what}; all {impostor.size:,} cross-identity pairs (impostors), {genuine.size:,} "
            "same-identity pairs; scripts/calibrate_masked_lfw.py"
        ),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"calibration-{table.model}.json"
    out.write_text(json.dumps(table.to_json(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    print(f"{'FMR':>8} {'similarity':>11} {'FNMR':>8}")
    for fmr in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6):
        fnmr = table.fnmr(fmr)
        print(f"{fmr:8.0e} {table.threshold(fmr):11.4f} {fnmr if fnmr is not None else 0:8.4f}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("lfw", type=Path)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/masked-lfw.npz"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "src/faceprint/data")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    files = sorted(str(p.relative_to(args.lfw)) for p in args.lfw.glob("*/*.jpg"))
    data = MaskedLfw.load(args.cache) if args.cache.is_file() else None
    if data is None or list(data.files) != files:
        data = embed_masked_lfw(args.lfw, files, workers=args.workers)
        data.save(args.cache)
    labels = np.array([f.split("/")[0] for f in files])
    side = gallery_side(data.bare, data.copies)
    occlusions = ", ".join(f"row {row} {fill}" for row, fill in OCCLUSIONS)
    for suffix, impostor, pair_score, what in (
        (
            "+masked",
            masked_impostor_scores(data),
            lambda i, j: float((side[i] @ data.masked[j]).mean()),
            "the mean similarity to another photo's bare template and masked copies",
        ),
        (
            OCCLUDED_SUFFIX,
            occluded_impostor_scores(data),
            lambda i, j: float(data.occluded_bare[i] @ data.occluded_masked[j]),
            "its occluded template (eye-aligned chip, lower face painted over: "
            f"{occlusions}; faceprint.occlusion) against another photo's",
        ),
    ):
        genuine = []
        for name in np.unique(labels):
            rows = np.flatnonzero(labels == name)
            genuine += [pair_score(i, j) for i in rows for j in rows if i != j]
        write(args.out, data.model + suffix, impostor, np.array(genuine), len(files), what)
    return 0


if __name__ == "__main__":
    sys.exit(main())
