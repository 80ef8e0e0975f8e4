"""Synthetic masks drawn from the 5 landmarks, on real faces."""

from __future__ import annotations

import numpy as np
import pytest

import faceprint
from faceprint.errors import InvalidInput
from faceprint.imageio import RGBImage
from faceprint.masks import MASK_STYLES, MaskSpec, draw_mask, mask_for, mask_outline


def test_masks_cover_the_lower_face_only_and_are_reproducible(
    engine: faceprint.Engine, samples: dict[str, RGBImage]
) -> None:
    rgb = samples["hopper"]
    face = engine.detect(rgb)[0]
    eyes_y = float(face.landmarks[:4, 1].mean())
    nose_y = float(face.landmarks[4, 1])
    for i, style in enumerate(MASK_STYLES):
        spec = mask_for("hopper", i, style)
        masked = draw_mask(rgb, face.landmarks, spec)
        assert masked.shape == rgb.shape and masked.dtype == np.uint8
        assert np.array_equal(masked, draw_mask(rgb, face.landmarks, mask_for("hopper", i, style)))
        changed = np.any(masked != rgb, axis=2)
        rows = np.flatnonzero(changed.any(axis=1))
        assert rows.min() > eyes_y  # the eyes stay visible
        assert rows.max() > nose_y + (nose_y - eyes_y)  # down past the mouth
        outline = mask_outline(face.landmarks, spec)
        assert outline[:, 1].min() > eyes_y
    assert mask_for("a", 0) == mask_for("a", 0) and mask_for("a", 0) != mask_for("a", 1)


def test_unknown_styles_and_bad_landmarks_are_typed_errors(samples: dict[str, RGBImage]) -> None:
    with pytest.raises(InvalidInput, match="mask style"):
        MaskSpec(style="fancy")
    with pytest.raises(InvalidInput, match="landmarks"):
        draw_mask(samples["hopper"], np.zeros((3, 2)), MaskSpec())
    with pytest.raises(InvalidInput, match="too close"):
        draw_mask(samples["hopper"], np.zeros((5, 2)), MaskSpec())
