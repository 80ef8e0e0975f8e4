"""Cut the aligned 150 px chips of the masked LFW protocol's images once, for occlusion experiments.

For each LFW image (the 7,701 of pairs.txt, or the first ``--folds`` folds' images): the bare
face and the masked face (mask seed 0, as :func:`faceprint.masked_lfw.embed_masked_lfw`), found by
the same policy, and dlib's chip of each at its own landmarks; the same aligned on the eyes alone
(:func:`faceprint.align.eye_landmarks`); the masked image cut at the bare landmarks (an oracle:
how much the landmarks' slide on the mask costs). Saved (with the two templates, to
check against a masked-LFW cache) to an ``.npz`` that is a research artefact: it holds face
images, so keep it out of the repository (e.g. under /tmp) and delete it after use.

    .venv/bin/python bench/occluded_lfw_chips.py ../shared/data/lfw /tmp/wt3/chips.npz [--folds 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceprint.align import eye_landmarks, face_chip
from faceprint.config import Settings
from faceprint.engine import Engine
from faceprint.evaluate import lfw_engines, lfw_face, read_lfw_pairs
from faceprint.masks import draw_mask, mask_for
from faceprint.workers import WorkerPool, one_thread_each

CHUNK = 16


def chunk(
    engines: tuple[Engine, Engine], job: tuple[Sequence[str], Sequence[str]]
) -> list[tuple[object, ...]]:
    paths, names = job
    engine, cnn = engines
    out: list[tuple[object, ...]] = []
    for path, name in zip(paths, names, strict=True):
        rgb = engine.load_image(path)
        box, _ = lfw_face(engine, cnn, rgb)
        assert box is not None
        bare = engine.embed(rgb, boxes=[box])[0]
        masked_rgb = draw_mask(rgb, bare.landmarks, mask_for(name, 0))
        mbox, _ = lfw_face(engine, cnn, masked_rgb)
        assert mbox is not None
        masked = engine.embed(masked_rgb, boxes=[mbox])[0]
        assert bare.template is not None and masked.template is not None
        out.append(
            (
                face_chip(rgb, bare.landmarks, size=150, padding=0.25),
                face_chip(masked_rgb, masked.landmarks, size=150, padding=0.25),
                bare.template.vector,
                masked.template.vector,
                face_chip(rgb, eye_landmarks(bare.landmarks), size=150, padding=0.25),
                face_chip(masked_rgb, eye_landmarks(masked.landmarks), size=150, padding=0.25),
                face_chip(masked_rgb, bare.landmarks, size=150, padding=0.25),
                bare.landmarks,
                masked.landmarks,
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("lfw")
    ap.add_argument("out")
    ap.add_argument("--folds", type=int, default=10, help="only the images of the first N folds' pairs")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    root = Path(args.lfw)
    pairs = [p for p in read_lfw_pairs(root / "pairs.txt") if p.fold < args.folds]
    files = sorted({p.a for p in pairs} | {p.b for p in pairs})
    settings = one_thread_each(Settings.from_env(), args.workers)
    jobs = [
        ([str(root / f) for f in files[i : i + CHUNK]], files[i : i + CHUNK])
        for i in range(0, len(files), CHUNK)
    ]
    rows: list[tuple[object, ...]] = []
    started = time.perf_counter()
    with WorkerPool(lfw_engines, (settings,), args.workers, died="a worker died") as pool:
        for part in pool.map(chunk, jobs):
            rows += part
            if len(rows) % 512 < CHUNK:
                print(
                    f"{len(rows)}/{len(files)} {time.perf_counter() - started:.0f}s",
                    file=sys.stderr,
                    flush=True,
                )
    cols = list(zip(*rows, strict=True))
    np.savez(
        args.out,
        files=np.array(files),
        bare_chip=np.stack(cols[0]).astype(np.uint8),
        masked_chip=np.stack(cols[1]).astype(np.uint8),
        bare=np.stack(cols[2]).astype(np.float32),
        masked=np.stack(cols[3]).astype(np.float32),
        bare_eye_chip=np.stack(cols[4]).astype(np.uint8),
        masked_eye_chip=np.stack(cols[5]).astype(np.uint8),
        masked_oracle_chip=np.stack(cols[6]).astype(np.uint8),
        bare_landmarks=np.stack(cols[7]),
        masked_landmarks=np.stack(cols[8]),
    )
    print(f"{len(files)} images in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
