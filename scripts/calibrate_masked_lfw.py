"""Measure the score -> FMR table of masked comparisons, on every cross-identity masked LFW pair.

    python scripts/calibrate_masked_lfw.py ../shared/data/lfw [--cache /tmp/masked-lfw.npz] [--out src/faceprint/data/]

Every LFW image is embedded bare, with a synthetic mask (the probe) and as masked enrolment copies
(:func:`faceprint.masked_lfw.embed_masked_lfw`; the cache is the one ``faceprint evaluate lfw
--masked --cache`` and ``bench/identify_masked_lfw.py`` use). A masked comparison scores a masked
probe against the mean similarity to a photo's bare template and its masked copies; the impostors are all
such scores between different people (both directions: ~59 million), the genuines those of the
same person. Writes ``calibration-<model>+masked.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from faceprint.calibrate import Calibration
from faceprint.masked_lfw import MaskedLfw, embed_masked_lfw, gallery_side, masked_impostor_scores


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
    impostor = masked_impostor_scores(data)
    labels = np.array([f.split("/")[0] for f in files])
    side = gallery_side(data.bare, data.copies)
    genuine = []
    for name in np.unique(labels):
        rows = np.flatnonzero(labels == name)
        for i in rows:
            for j in rows:
                if i != j:
                    genuine.append(float((side[i] @ data.masked[j]).mean()))
    table = Calibration.from_scores(
        impostor,
        genuine=np.array(genuine),
        model=data.model + "+masked",
        source=(
            f"LFW deep-funneled, {len(files)} images: a synthetically masked probe (faceprint.masks, seed 0) "
            f"against the mean similarity to another photo's bare template and masked copies; all {impostor.size:,} "
            f"cross-identity pairs (impostors), {len(genuine):,} same-identity pairs; "
            "scripts/calibrate_masked_lfw.py"
        ),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"calibration-{table.model}.json"
    out.write_text(json.dumps(table.to_json(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    print(f"{'FMR':>8} {'similarity':>11} {'FNMR':>8}")
    for fmr in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6):
        fnmr = table.fnmr(fmr)
        print(f"{fmr:8.0e} {table.threshold(fmr):11.4f} {fnmr if fnmr is not None else 0:8.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
