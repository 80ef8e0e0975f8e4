"""Synthetic masks drawn from the 5 landmarks, on real faces."""

from __future__ import annotations

from pathlib import Path

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


def test_a_mask_in_a_large_photo_changes_only_the_face(
    engine: faceprint.Engine, samples: dict[str, RGBImage]
) -> None:
    face_photo = samples["hopper"]
    big = np.zeros((2400, 3200, 3), dtype=np.uint8)
    big[1000 : 1000 + face_photo.shape[0], 1500 : 1500 + face_photo.shape[1]] = face_photo
    landmarks = engine.detect(face_photo)[0].landmarks + np.array([1500.0, 1000.0])
    masked = draw_mask(big, landmarks, mask_for("big", 0, "surgical"))
    rows, cols = np.nonzero(np.any(masked != big, axis=2))
    outline = mask_outline(landmarks, mask_for("big", 0, "surgical"))
    eyes = float(np.linalg.norm(landmarks[0:2].mean(axis=0) - landmarks[2:4].mean(axis=0)))
    assert rows.size > 0
    assert outline[:, 0].min() - eyes <= cols.min() and cols.max() <= outline[:, 0].max() + eyes
    assert outline[:, 1].min() - eyes <= rows.min() and rows.max() <= outline[:, 1].max() + eyes


def test_evaluate_lfw_masked_rejects_a_bad_cache(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from faceprint.cli import cli

    lfw = tmp_path / "lfw"
    (lfw / "A").mkdir(parents=True)
    (lfw / "pairs.txt").write_text("2 1\nA 1 2\nA 1 B 1\nA 1 2\nA 1 B 1\n")
    bad = tmp_path / "cache.npz"
    bad.write_bytes(b"not a cache")
    result = CliRunner().invoke(cli, ["evaluate", "lfw", str(lfw), "--masked", "probe", "--cache", str(bad)])
    assert result.exit_code != 0 and "not a masked-LFW cache" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
