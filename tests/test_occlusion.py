"""Occluded templates: the same rows of both chips painted over, aligned on the eyes alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import faceprint
from faceprint.align import eye_landmarks
from faceprint.errors import InvalidInput
from faceprint.imageio import load_image
from faceprint.masks import draw_mask, mask_for
from faceprint.occlusion import OCCLUSIONS, occlude_chip, occluded_templates


@pytest.fixture(scope="module")
def plain_engine() -> faceprint.Engine:
    return faceprint.Engine(faceprint.Settings(mirror=False, recogniser="resnet")).load()


def test_eye_landmarks_keep_the_eyes_and_place_the_nose_from_them() -> None:
    eyes = np.array([[110.0, 40.0], [90.0, 41.0], [30.0, 40.0], [50.0, 41.0], [70.0, 90.0]])
    out = eye_landmarks(eyes)
    assert np.array_equal(out[:4], eyes[:4])
    assert 60 < out[4, 0] < 80 and 70 < out[4, 1] < 110  # below the eyes, between them
    moved = eyes.copy()
    moved[4] += (9.0, 12.0)  # the nose point slid on a mask: the eye-aligned points do not move
    assert np.allclose(eye_landmarks(moved), out)


def test_occlude_chip_rejects_a_bad_row_or_fill() -> None:
    chip = np.zeros((150, 150, 3), dtype=np.uint8)
    with pytest.raises(InvalidInput):
        occlude_chip(chip, 150, "grey")
    with pytest.raises(InvalidInput):
        occlude_chip(chip, 70, "pink")


def test_occlusion_paints_the_same_rows_of_both_chips(
    plain_engine: faceprint.Engine, faces_dir: Path
) -> None:
    rgb = load_image(faces_dir / "barack_obama_1.jpg")
    face = plain_engine.detect(rgb)[0]
    chip = plain_engine.chip(rgb, face.landmarks)
    for row, fill in OCCLUSIONS:
        painted = occlude_chip(chip, row, fill)
        assert np.array_equal(painted[:row], chip[:row])
        assert len(np.unique(painted[row:].reshape(-1, 3), axis=0)) == 1
    masked = draw_mask(rgb, face.landmarks, mask_for("obama", 0, "surgical"))
    bare_t, masked_t = occluded_templates(plain_engine, [(rgb, face.landmarks), (masked, face.landmarks)])
    # at the same landmarks the mask is almost entirely painted over: the two templates nearly agree
    assert float(bare_t.vector @ masked_t.vector) > 0.95
    assert float(face_template(plain_engine, rgb) @ face_template(plain_engine, masked)) < float(
        bare_t.vector @ masked_t.vector
    )


def face_template(engine: faceprint.Engine, image: np.ndarray) -> np.ndarray:
    template = engine.embed(image, largest_only=True)[0].template
    assert template is not None
    return template.vector
