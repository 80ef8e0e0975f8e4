"""faceprint vs face_recognition, same images, same dlib models, one run.

    bash bench/run.sh [--lfw ../shared/data/lfw] [--faces ../shared/data/faces] [--images 100]

Prints ms per image for detection (HOG, upsample 1), ms per face for embedding, end-to-end ms
per photo, and the ratio (peer / faceprint: above 1 means faceprint is faster). Both libraries
run in this process on the same decoded images, interleaved image by image, so machine load
affects both alike. Note: importing face_recognition loads dlib's 68-point landmark model (its
import-time side effect); faceprint never opens that file.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import faceprint
from faceprint.imageio import RGBImage, load_image

ROOT = Path(__file__).resolve().parents[1]


def pick_images(lfw: Path | None, faces: Path | None, count: int) -> list[tuple[str, RGBImage]]:
    from faceprint.demo import sample_images

    images = [(name, rgb) for name, rgb in sample_images().items()]
    if faces is not None and faces.is_dir():
        images += [(p.name, load_image(p)) for p in sorted(faces.glob("*.[jp][pn]g"))]
    if lfw is not None and lfw.is_dir():
        files = sorted(lfw.glob("*/*.jpg"))
        random.Random(0).shuffle(files)
        images += [(p.name, load_image(p)) for p in files[: max(0, count - len(images))]]
    return images[:count] if count else images


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return (time.perf_counter() - start) * 1000.0, out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lfw", type=Path, default=ROOT.parent / "shared/data/lfw")
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared/data/faces")
    parser.add_argument("--images", type=int, default=100, help="how many images (0 = all found)")
    args = parser.parse_args()

    try:
        import face_recognition as fr
    except ImportError:
        print("face_recognition is not installed: run this through bench/run.sh", file=sys.stderr)
        return 2

    images = pick_images(args.lfw, args.faces, args.images)
    engine = faceprint.Engine(faceprint.Settings(detector="hog", upsample=1)).load()
    # warm both up once
    engine.embed(images[0][1])
    fr.face_encodings(images[0][1], fr.face_locations(images[0][1], 1, "hog"), 1, "small")

    rows: dict[str, list[float]] = {
        k: [] for k in ("fp_det", "fr_det", "fp_emb", "fr_emb", "fp_e2e", "fr_e2e")
    }
    faces_total = 0
    for _, rgb in images:
        t, faces = timed(lambda rgb=rgb: engine.detect(rgb))
        rows["fp_det"].append(t)
        t, locations = timed(lambda rgb=rgb: fr.face_locations(rgb, 1, "hog"))
        rows["fr_det"].append(t)
        assert isinstance(faces, list) and isinstance(locations, list)
        if faces:
            boxes = [f.box for f in faces]
            t, _ = timed(lambda rgb=rgb, boxes=boxes: engine.embed(rgb, boxes=boxes))
            rows["fp_emb"].append(t / len(boxes))
            t, _ = timed(lambda rgb=rgb, loc=locations: fr.face_encodings(rgb, loc, 1, "small"))
            rows["fr_emb"].append(t / max(1, len(locations)))
            faces_total += len(boxes)
        t, _ = timed(lambda rgb=rgb: engine.embed(rgb))
        rows["fp_e2e"].append(t)
        t, _ = timed(lambda rgb=rgb: fr.face_encodings(rgb, fr.face_locations(rgb, 1, "hog"), 1, "small"))
        rows["fr_e2e"].append(t)

    cpu = os.cpu_count()
    print(f"{len(images)} images ({faces_total} faces), {cpu} cores, dlib {__import__('dlib').__version__}")
    print(f"{'measure':34} {'faceprint':>10} {'face_recognition':>17} {'ratio':>7}")
    for label, key in (
        ("detection, ms/image (mean)", "det"),
        ("embedding, ms/face (mean)", "emb"),
        ("end to end, ms/photo (mean)", "e2e"),
    ):
        ours, peer = statistics.fmean(rows[f"fp_{key}"]), statistics.fmean(rows[f"fr_{key}"])
        print(f"{label:34} {ours:10.1f} {peer:17.1f} {peer / ours:7.2f}")
    for label, key in (("detection, ms/image (median)", "det"), ("end to end, ms/photo (median)", "e2e")):
        ours, peer = float(np.median(rows[f"fp_{key}"])), float(np.median(rows[f"fr_{key}"]))
        print(f"{label:34} {ours:10.1f} {peer:17.1f} {peer / ours:7.2f}")
    print("faceprint's detection includes the 5 landmarks; face_recognition's face_locations does not.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
