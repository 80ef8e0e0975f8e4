"""Masked enrolment copies: a masked photo matches its person; erasure leaves none of the copies."""

from __future__ import annotations

from pathlib import Path

import faceprint
from faceprint.imageio import load_image
from faceprint.masked_enrol import is_masked_source, masked_samples
from faceprint.masked_lfw import ENROL_STYLES
from faceprint.masks import draw_mask, mask_for
from tests.store.test_erasure import assert_absent, ciphertexts, files_under, plaintexts


def test_a_masked_photo_enrols_matches_and_its_copies_are_erased(
    tmp_path: Path, engine: faceprint.Engine, faces_dir: Path
) -> None:
    obama = [load_image(faces_dir / f"barack_obama_{i}.jpg") for i in (1, 2)]
    other = load_image(faces_dir / "chris_pratt_1.jpg")
    probe_face = engine.detect(obama[1])[0]
    probe = draw_mask(obama[1], probe_face.landmarks, mask_for("probe", 0, "surgical"))
    assert engine.detect(probe)[0].masked
    with faceprint.open_store(tmp_path / "g.db", engine=engine) as store:
        samples = masked_samples(store, obama[0])
        assert len(samples) == 1 + len(ENROL_STYLES)
        assert [is_masked_source(s.source) for s in samples] == [False] + [True] * len(ENROL_STYLES)
        store.enroll("obama", samples, purpose="door")
        masked_photo = draw_mask(other, engine.detect(other)[0].landmarks, mask_for("pratt", 0, "cloth"))
        store.enroll("pratt", masked_samples(store, masked_photo), purpose="door")  # a masked photo enrols
        assert store.enroll("obama", masked_samples(store, obama[0]), purpose="door").skipped == len(samples)

        found = store.search(probe, purpose="door")
        assert [m.subject for m in found.faces[0].matches] == ["obama"]

        store.db.checkpoint()
        sealed = ciphertexts(store, "obama")
        assert len(sealed) == len(samples)
        result = store.erase("obama")
        assert result.templates == len(samples)
        files = files_under(tmp_path)
        assert_absent(files, sealed, "an erased template's ciphertext")
        for sample in samples:
            assert_absent(files, plaintexts(store, sample), "a plaintext template")
        assert not store.search(probe, purpose="door").matched
