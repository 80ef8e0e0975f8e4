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
from faceprint.masked_scores import MASKED_SUFFIX, OCCLUDED_SUFFIX
from faceprint.occlusion import OCCLUSIONS


def write(
    out_dir: Path,
    model: str,
    impostor: np.ndarray,
    genuine: np.ndarray,
    images: int,
    what: str,
    record: dict[str, object] | None,
) -> None:
    """Write ``calibration-<model>.json`` (with ``record``, how it was measured, when given)."""
    table = Calibration.from_scores(
        impostor,
        genuine=genuine,
        model=model,
        source=(
            f"LFW deep-funneled, {images} images: a synthetically masked probe (faceprint.masks, seed 0) "
            f"{what}; all {impostor.size:,} cross-identity pairs (impostors), {genuine.size:,} "
            "same-identity pairs; scripts/calibrate_masked_lfw.py"
        ),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"calibration-{table.model}.json"
    body = table.to_json() if record is None else {**table.to_json(), "measured": record}
    out.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
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
    for suffix, impostor, pair_score, what, record in (
        (
            MASKED_SUFFIX,
            masked_impostor_scores(data),
            lambda i, j: float((side[i] @ data.masked[j]).mean()),
            "against the mean similarity to another photo's bare template and masked copies",
            None,
        ),
        (
            OCCLUDED_SUFFIX,
            occluded_impostor_scores(data),
            lambda i, j: float(data.occluded_bare[i] @ data.occluded_masked[j]),
            "by its occluded template (eye-aligned chip, lower face painted over: "
            f"{occlusions}; faceprint.occlusion) against another photo's",
            {
                "what": "score -> FMR table of the occluded comparison (faceprint.masked_scores)",
                "command": "python scripts/calibrate_masked_lfw.py ../shared/data/lfw --cache CACHE.npz",
                "data": f"LFW deep-funneled, every image under the directory ({len(files)})",
                "templates": data.model
                + (" (mirror-averaged)" if "+mirror" in data.model else " (plain, FACEPRINT_MIRROR=0)"),
                "mask": "faceprint.masks.mask_for(file, 0), found again by the LFW policy",
                "alignment": "faceprint.align.eye_landmarks (the eye corners alone)",
                "occlusions": [[row, fill] for row, fill in OCCLUSIONS],
                "chosen_on": "LFW folds 1-5 (bench/occluded_lfw_score.py); reported on 6-10 and all",
                "trained": "nothing: dlib's network unchanged, no weights fitted",
            },
        ),
    ):
        genuine = []
        for name in np.unique(labels):
            rows = np.flatnonzero(labels == name)
            genuine += [pair_score(i, j) for i in rows for j in rows if i != j]
        write(args.out, data.model + suffix, impostor, np.array(genuine), len(files), what, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
