"""Masked enrolment copies: a masked photo matches its person; erasure leaves none of the copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import faceprint
from faceprint.imageio import load_image
from faceprint.masked_enrol import is_masked_source, is_occluded_source, masked_samples, verify_masked
from faceprint.masked_lfw import ENROL_STYLES
from faceprint.masks import draw_mask, mask_for
from tests.store.test_erasure import assert_absent, ciphertexts, files_under, plaintexts


@pytest.fixture(scope="module")
def plain_engine() -> faceprint.Engine:
    """Plain templates: the masked and occluded tables ship for them."""
    return faceprint.Engine(faceprint.Settings(mirror=False, recogniser="resnet")).load()


def test_a_masked_photo_enrols_matches_and_its_copies_are_erased(
    tmp_path: Path, dlib_engine: faceprint.Engine, faces_dir: Path
) -> None:
    engine = dlib_engine  # the masked-face tables are dlib's ResNet's (docs/masks.md)
    obama = [load_image(faces_dir / f"barack_obama_{i}.jpg") for i in (1, 2)]
    other = load_image(faces_dir / "chris_pratt_1.jpg")
    probe_face = engine.detect(obama[1])[0]
    probe = draw_mask(obama[1], probe_face.landmarks, mask_for("probe", 0, "surgical"))
    assert engine.detect(probe)[0].masked
    with faceprint.open_store(tmp_path / "g.db", engine=engine) as store:
        samples = masked_samples(store, obama[0])
        assert len(samples) == 1 + len(ENROL_STYLES) + 1  # bare, masked copies, occluded
        assert [is_masked_source(s.source) for s in samples] == [False] + [True] * (len(ENROL_STYLES) + 1)
        assert [is_occluded_source(s.source) for s in samples] == [False] * (1 + len(ENROL_STYLES)) + [True]
        store.enroll("obama", samples, purpose="door")
        masked_photo = draw_mask(other, engine.detect(other)[0].landmarks, mask_for("pratt", 0, "cloth"))
        store.enroll("pratt", masked_samples(store, masked_photo), purpose="door")  # a masked photo enrols
        assert store.enroll("obama", masked_samples(store, obama[0]), purpose="door").skipped == len(samples)

        found = store.search(probe, purpose="door")
        assert [m.subject for m in found.faces[0].matches] == ["obama"]

        store.db.checkpoint()
        sealed = ciphertexts(store, "obama")
        assert len(sealed) == len(samples)  # the occluded template is stored like the copies
        result = store.erase("obama")
        assert result.templates == len(samples)
        files = files_under(tmp_path)
        assert_absent(files, sealed, "an erased template's ciphertext")
        for sample in samples:  # the occluded template's plaintext included
            assert_absent(files, plaintexts(store, sample), "a plaintext template")
        assert not store.search(probe, purpose="door").matched


def test_a_masked_probe_matches_its_person_by_the_routed_rule(
    tmp_path: Path, plain_engine: faceprint.Engine, faces_dir: Path
) -> None:
    engine = plain_engine
    obama = [load_image(faces_dir / f"barack_obama_{i}.jpg") for i in (1, 2)]
    pratt = load_image(faces_dir / "chris_pratt_1.jpg")
    face = engine.detect(obama[1])[0]
    probe = draw_mask(obama[1], face.landmarks, mask_for("probe", 0, "cloth"))
    with faceprint.open_store(tmp_path / "g.db", engine=engine) as store:
        photos = {
            name: [(s.source, s.template) for s in masked_samples(store, image)]
            for name, image in (("obama", obama[0]), ("pratt", pratt))
        }
    same = verify_masked(engine, probe, photos["obama"])
    assert same.masked and same.is_match and same.fmr <= 1e-3
    assert not verify_masked(engine, probe, photos["pratt"]).is_match
    bare = verify_masked(engine, obama[1], photos["obama"])  # a bare probe: compared as Engine.verify does
    assert not bare.masked and bare.is_match
    assert bare.fmr == pytest.approx(engine.verify(obama[1], obama[0]).fmr, rel=1e-3)


def test_verify_images_routes_a_masked_selfie_against_a_bare_photo(
    dlib_engine: faceprint.Engine, faces_dir: Path
) -> None:
    from faceprint.masked_enrol import verify_images

    engine = dlib_engine  # the masked-face tables are dlib's ResNet's (docs/masks.md)

    obama = [load_image(faces_dir / f"barack_obama_{i}.jpg") for i in (1, 2)]
    pratt = load_image(faces_dir / "chris_pratt_1.jpg")
    selfie = draw_mask(obama[1], engine.detect(obama[1])[0].landmarks, mask_for("selfie", 0, "surgical"))

    def face(rgb: np.ndarray) -> faceprint.Face:
        return engine.embed_main(rgb)[0]

    same = verify_images(engine, (selfie, face(selfie)), (obama[0], face(obama[0])))
    assert same.comparison in {"bare", "masked", "occluded"} and same.is_match and same.fmr <= 1e-3
    other = verify_images(engine, (pratt, face(pratt)), (selfie, face(selfie)))  # the masked face second
    assert other.comparison is not None and not other.is_match
    bare = verify_images(engine, (obama[1], face(obama[1])), (obama[0], face(obama[0])))
    assert bare.comparison is None and bare == engine.verify(obama[1], obama[0])
    both = verify_images(engine, (selfie, face(selfie)), (selfie, face(selfie)))  # two masked faces
    assert both.comparison in {"bare", "occluded"} and both.is_match
