from __future__ import annotations

import xml.etree.ElementTree as ET

import faceprint
from faceprint.faces import Box
from tests.conftest import shared_dir


def test_hog_finds_every_face_of_dlibs_ground_truth() -> None:
    """dlib's detection ground truth (43 faces, 9 photos): every face found at IoU >= 0.5, no extras."""
    root = shared_dir("detect")
    engine = faceprint.Engine(faceprint.Settings(detector="hog"))
    found, total, extra = 0, 0, 0
    for name in ("testing.xml", "training.xml"):
        for image in ET.parse(root / name).getroot().iter("image"):
            truth = [
                Box(
                    float(b.get("left", 0)),
                    float(b.get("top", 0)),
                    float(b.get("left", 0)) + float(b.get("width", 0)),
                    float(b.get("top", 0)) + float(b.get("height", 0)),
                )
                for b in image.iter("box")
                if b.get("ignore") != "1"
            ]
            faces = engine.detect(root / image.get("file", ""))
            total += len(truth)
            found += sum(any(f.box.iou(t) >= 0.5 for f in faces) for t in truth)
            extra += sum(not any(f.box.iou(t) >= 0.5 for t in truth) for f in faces)
    assert (found, total, extra) == (43, 43, 0)
