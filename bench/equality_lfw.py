"""Equality of the onnx backend with dlib's wheel on LFW images (run by hand; needs dlib).

    .venv/bin/python bench/equality_lfw.py [--lfw ../shared/data/lfw] [--images 500]

For each image: CNN detector boxes and scores (upsample 0), 5-point landmarks and face chips at
dlib's HOG box, and embeddings, ours vs dlib; prints the largest differences.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

from faceprint.align import face_chip
from faceprint.imageio import load_image
from faceprint.models import dlib_backend
from faceprint.models.detector import OnnxCnnDetector
from faceprint.models.embedder import OnnxResNetEmbedder
from faceprint.models.landmarks import NumpyShapePredictor
from faceprint.models.registry import model_path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lfw", type=Path, default=ROOT.parent / "shared/data/lfw")
    parser.add_argument("--images", type=int, default=500)
    args = parser.parse_args()
    import dlib

    files = sorted(args.lfw.glob("*/*.jpg"))
    random.Random(0).shuffle(files)
    files = files[: args.images]
    det, lm, emb = (
        OnnxCnnDetector(model_path("cnn")),
        NumpyShapePredictor(model_path("landmarks5")),
        OnnxResNetEmbedder(model_path("resnet")),
    )
    ref_det = dlib_backend.CnnDetector(model_path("cnn"))
    ref_lm = dlib_backend.ShapePredictor5(model_path("landmarks5"))
    ref_emb = dlib_backend.ResNetEmbedder(model_path("resnet"))
    hog = dlib.get_frontal_face_detector()
    worst = {"box": 0.0, "score": 0.0, "landmarks": 0.0, "chip": 0.0, "embedding": 0.0}
    count = {"images": 0, "detections": 0, "faces": 0, "detection count mismatch": 0}
    for path in files:
        rgb = load_image(path)
        count["images"] += 1
        a, b = ref_det.detect(rgb, 0), det.detect(rgb, 0)
        if len(a) != len(b):
            count["detection count mismatch"] += 1
        for x, y in zip(a, b, strict=False):
            worst["box"] = max(worst["box"], float(np.abs(np.array(x[:4]) - np.array(y[:4])).max()))
            worst["score"] = max(worst["score"], abs(x.score - y.score))
            count["detections"] += 1
        boxes = [(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in hog(rgb, 1)]
        boxes += [(d.left, d.top, d.right, d.bottom) for d in a]
        chips, ref_chips = [], []
        for box in boxes:
            p, q = ref_lm.locate(rgb, box), lm.locate(rgb, box)
            worst["landmarks"] = max(worst["landmarks"], float(np.abs(p - q).max()))
            parts = [dlib.point(int(u), int(v)) for u, v in p]
            ref = np.asarray(
                dlib.get_face_chip(rgb, dlib.full_object_detection(dlib.rectangle(0, 0, 1, 1), parts))
            )
            ours = face_chip(rgb, q)
            worst["chip"] = max(worst["chip"], float(np.abs(ref.astype(int) - ours.astype(int)).max()))
            chips.append(ours)
            ref_chips.append(ref)
        if chips:
            diff = np.abs(emb.embed_chips(chips) - ref_emb.embed_chips(ref_chips)).max()
            worst["embedding"] = max(worst["embedding"], float(diff))
            count["faces"] += len(chips)
    print(", ".join(f"{k}: {v}" for k, v in count.items()))
    print("max abs differences: " + ", ".join(f"{k} {v:.3g}" for k, v in worst.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
