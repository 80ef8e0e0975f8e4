"""The training-free mask test on real faces, bare and with each style of synthetic mask."""

from __future__ import annotations

from pathlib import Path

import faceprint
from faceprint import maskscore
from faceprint.imageio import RGBImage, load_image
from faceprint.masks import MASK_STYLES, draw_mask, mask_for


def test_bare_faces_are_not_masked_and_masked_ones_are(
    engine: faceprint.Engine, samples: dict[str, RGBImage], faces_dir: Path
) -> None:
    photos = [samples["hopper"], samples["astronaut"]]
    photos += [load_image(p) for p in sorted(faces_dir.glob("*.jpg"))[:6]]
    found = 0
    for k, rgb in enumerate(photos):
        face = engine.detect(rgb)[0]
        assert face.mask_score is not None and not face.masked, k
        assert face.to_json()["masked"] is False
        for i, style in enumerate(MASK_STYLES):
            masked = draw_mask(rgb, face.landmarks, mask_for(str(k), i, style))
            faces = engine.detect(masked)
            if faces:
                found += faces[0].masked
                assert faces[0].masked == (faces[0].mask_score >= maskscore.MASKED_AT)  # type: ignore[operator]
    assert found >= 0.9 * len(photos) * len(MASK_STYLES)


def test_embedded_faces_carry_the_mask_score(engine: faceprint.Engine, samples: dict[str, RGBImage]) -> None:
    face = engine.embed(samples["hopper"])[0]
    assert face.template is not None and face.mask_score is not None and not face.masked


def test_a_masked_face_has_the_quality_reason_masked(
    engine: faceprint.Engine, samples: dict[str, RGBImage]
) -> None:
    rgb = samples["hopper"]
    face = engine.detect(rgb)[0]
    masked = draw_mask(rgb, face.landmarks, mask_for("hopper", 0, "cloth"))
    assert "masked" not in (engine.embed(rgb, quality=True)[0].quality or ()).reasons  # type: ignore[union-attr]
    found = engine.embed(masked, quality=True)[0]
    assert found.masked and found.quality is not None and "masked" in found.quality.reasons
    assert not found.quality.ok
