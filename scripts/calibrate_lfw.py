"""Measure the score -> FMR table shipped with faceprint, on every cross-identity LFW pair.

    python scripts/calibrate_lfw.py ../shared/data/lfw [--out src/faceprint/data/] [--cache artifacts/]

Embeds every image under the LFW directory with faceprint's engine (the LFW face-selection policy
of ``faceprint.evaluate``), then scores all pairs of images of different people (impostors, tens
of millions) and of the same person (genuines), and writes ``calibration-<model>.json``. It also
measures the cohort-normalised 1:N rule's table (``faceprint.store.openset.calibrate_cohort``:
galleries of 200-2,400 of the LFW people searched by the photos of the others).
Reproducible: the embedder is deterministic (no jitter) and the pairs are exhaustive.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from faceprint.calibrate import Calibration
from faceprint.calibrate_folder import pair_scores
from faceprint.config import Settings
from faceprint.engine import Engine
from faceprint.evaluate import embed_lfw_images
from faceprint.store.openset import calibrate_cohort


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("lfw", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "src/faceprint/data")
    parser.add_argument("--cache", type=Path, default=Path(__file__).parents[1] / "artifacts")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    settings = Settings.from_env()
    files = sorted(str(p.relative_to(args.lfw)) for p in args.lfw.glob("*/*.jpg"))
    model = Engine(settings).model_id
    cache = args.cache / f"lfw-embeddings-{model}-{settings.detector}.npz"
    cached = np.load(cache) if cache.is_file() else None
    if cached is not None and list(cached["files"]) == files:
        matrix = cached["matrix"]
        print(f"using cached embeddings {cache}")
    else:
        started = time.perf_counter()
        columns = (TextColumn("embedding LFW"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns) as bar:
            task = bar.add_task("embed", total=len(files))
            matrix, fallbacks = embed_lfw_images(
                args.lfw,
                files,
                settings=settings,
                workers=args.workers,
                progress=lambda k: bar.advance(task, k),
            )
        print(
            f"embedded {len(files)} images in {time.perf_counter() - started:.0f} s; faces found by: {fallbacks}"
        )
        args.cache.mkdir(parents=True, exist_ok=True)
        np.savez(cache, files=np.array(files), matrix=matrix)

    identities = sorted({f.split("/")[0] for f in files})
    label_of = {name: i for i, name in enumerate(identities)}
    labels = np.array([label_of[f.split("/")[0]] for f in files])
    impostor, genuine = pair_scores(matrix, labels)
    table = Calibration.from_scores(
        impostor,
        genuine=genuine,
        model=model,
        source=(
            f"LFW deep-funneled, {len(files)} images of {len(identities)} people; all "
            f"{impostor.size:,} cross-identity pairs (impostors) and {genuine.size:,} same-identity "
            f"pairs; detector {settings.detector}, upsample {settings.upsample}; scripts/calibrate_lfw.py"
        ),
    )
    cohort = calibrate_cohort(
        matrix,
        labels,
        table,
        source="LFW deep-funneled: galleries of 200-2,400 people (one random photo each, 8 draws) searched "
        "by every photo of the others; scripts/calibrate_lfw.py",
    )
    table = dataclasses.replace(table, cohort=cohort)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"calibration-{table.model}.json"
    out.write_text(json.dumps(table.to_json(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}: {impostor.size:,} impostor and {genuine.size:,} genuine pairs")
    print(f"{'FMR':>8} {'similarity':>11} {'distance':>9} {'FNMR':>8}")
    for fmr in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6):
        t = table.threshold(fmr)
        fnmr = table.fnmr(fmr)
        print(
            f"{fmr:8.0e} {t:11.4f} {np.sqrt(max(0.0, 2 - 2 * t)):9.4f} {fnmr if fnmr is not None else 0:8.4f}"
        )
    print(
        f"cohort rule (k {cohort.k}, raw floor at {cohort.raw_factor:g} x FPIR / N): z by FPIR x gallery size"
    )
    print(" " * 8 + "".join(f"{int(n):>8}" for n in cohort.sizes))
    for fpir, row in zip(cohort.fpirs, cohort.z, strict=True):
        print(f"{fpir:8g}" + "".join(f"{v:8.2f}" for v in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
