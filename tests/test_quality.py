"""faceprint.quality on real faces: good photos pass; blur, darkness, small size and a turned head are named."""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageFilter

import faceprint
from faceprint.imageio import RGBImage
from faceprint.quality import assess


def only_face(engine: faceprint.Engine, rgb: RGBImage) -> faceprint.Face:
    faces = engine.detect(rgb)
    assert faces
    return faces[0]


def test_good_photos_are_ok(engine: faceprint.Engine, samples: dict[str, RGBImage]) -> None:
    for name in ("hopper", "astronaut"):
        quality = assess(samples[name], only_face(engine, samples[name]))
        assert quality.ok, (name, quality)
        assert 0.5 < quality.score <= 1.0
        assert quality.to_json()["reasons"] == []


def test_blur_is_named(engine: faceprint.Engine, samples: dict[str, RGBImage]) -> None:
    rgb = samples["hopper"]
    face = only_face(engine, rgb)  # the box of the sharp photo; blur does not move the face
    blurred = np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(8)))
    quality = assess(blurred, face)
    assert "blurred" in quality.reasons and not quality.ok
    assert quality.sharpness < assess(rgb, face).sharpness


def test_dark_photo_is_named(engine: faceprint.Engine, samples: dict[str, RGBImage]) -> None:
    rgb = samples["hopper"]
    dark = (rgb.astype(np.float64) * 0.1).astype(np.uint8)
    assert "exposure" in assess(dark, only_face(engine, rgb)).reasons
    bright = np.clip(rgb.astype(np.float64) * 3.0, 0, 255).astype(np.uint8)
    assert "exposure" in assess(bright, only_face(engine, rgb)).reasons


def test_small_face_is_named(engine: faceprint.Engine, samples: dict[str, RGBImage]) -> None:
    small = np.asarray(Image.fromarray(samples["hopper"]).resize((64, 75), Image.Resampling.LANCZOS))
    face = faceprint.Face(
        box=faceprint.Box(20, 12, 48, 44),
        score=1.0,
        landmarks=np.array([[40, 24], [36, 24], [25, 24], [29, 24], [33, 33]], dtype=np.float64),
    )
    quality = assess(small, face)
    assert "small" in quality.reasons and quality.eye_distance < 20


def test_turned_head_is_named(engine: faceprint.Engine, samples: dict[str, RGBImage]) -> None:
    rgb = samples["hopper"]
    face = only_face(engine, rgb)
    points = np.array(face.landmarks, dtype=np.float64)
    eyes = float(np.linalg.norm(points[0:2].mean(0) - points[2:4].mean(0)))
    points[4, 0] += 0.45 * eyes  # the nose far to one side of the eyes: a head turned in profile
    turned = assess(rgb, dataclasses.replace(face, landmarks=points))
    assert "turned" in turned.reasons and turned.pose < assess(rgb, face).pose
