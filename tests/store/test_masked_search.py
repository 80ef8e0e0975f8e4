"""1:N search of masked probes: the store's routed rule agrees with the 1:1 rule, bare searches skip copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import faceprint
from faceprint.imageio import load_image
from faceprint.masked_enrol import masked_samples, verify_masked
from faceprint.masked_scores import masked_tables
from faceprint.masks import draw_mask, mask_for
from faceprint.store import Store as TemplateStore

ENROLLED = (
    "barack_obama_1",
    "jacques_chirac_1",
    "paul_rudd_1",
    "chris_pratt_1",
    "codait_bryan_1",
    "codait_luciano_1",
)
PROBES = ("barack_obama_2", "barack_obama_4", "jacques_chirac_2", "paul_rudd_2", "jacques_chirac_4")


def _image(faces_dir: Path, stem: str) -> np.ndarray:
    return load_image(next(faces_dir.glob(stem + ".*")))


@pytest.fixture(scope="module")
def plain_engine() -> faceprint.Engine:
    """Plain templates: their masked and occluded tables ship."""
    return faceprint.Engine(faceprint.Settings(mirror=False, recogniser="resnet")).load()


def _masked(engine: faceprint.Engine, image: np.ndarray, stem: str, style: str) -> np.ndarray:
    return draw_mask(image, engine.detect(image)[0].landmarks, mask_for(stem, 0, style))


def test_a_masked_probe_is_named_by_the_routed_rule_as_verify_masked_scores_it(
    tmp_path: Path, plain_engine: faceprint.Engine, faces_dir: Path
) -> None:
    engine = plain_engine
    with faceprint.open_store(tmp_path / "g.db", engine=engine) as store:
        photos = {}
        for stem in ENROLLED:
            samples = masked_samples(store, _image(faces_dir, stem))
            store.enroll(stem, samples, purpose="door")
            photos[stem] = [(s.source, s.template) for s in samples]
        assert masked_tables(store.calibration_for(engine.model_id)) is not None
        routed = named = 0
        for n, stem in enumerate(PROBES):
            probe = _masked(engine, _image(faces_dir, stem), stem, ("surgical", "cloth", "white")[n % 3])
            found = store.search(probe, purpose="door", fmr=0.05, top_k=10).faces[0]
            verdicts = {s: verify_masked(engine, probe, photos[s], fmr=0.05) for s in ENROLLED}
            expected = sorted((v.fmr, s) for s, v in verdicts.items() if v.is_match)
            assert [m.subject for m in found.matches] == [s for _, s in expected]
            for match in found.matches:
                assert match.fmr == pytest.approx(verdicts[match.subject].fmr, rel=1e-4, abs=1e-12)
            if found.masked:
                assert found.rule is not None and found.rule.startswith("masked probe, routed (bare, masked")
                assert found.rule.endswith("fmr <= 0.05 (fmr 0.05 per comparison)")
                routed += 1
                assert all(m.comparison in {"bare", "masked", "occluded"} for m in found.matches)
                named += (
                    bool(found.matches) and found.matches[0].subject.split("_")[:2] == stem.split("_")[:2]
                )
        assert routed >= 4  # the mask test calls the drawn masks masked
        assert named >= 3  # masked photos of enrolled people are named first


def test_a_bare_probe_is_compared_with_bare_templates_only(
    tmp_path: Path, plain_engine: faceprint.Engine, faces_dir: Path
) -> None:
    engine = plain_engine
    enrolled, probe = _image(faces_dir, "barack_obama_1"), _image(faces_dir, "barack_obama_2")
    with faceprint.open_store(tmp_path / "g.db", engine=engine) as store:
        samples = masked_samples(store, enrolled)
        store.enroll("obama", samples, purpose="door")
        match = store.search(probe, purpose="door", fmr=0.5).faces[0].matches[0]
        template = engine.embed_main(probe)[0].template
        assert template is not None
        assert match.similarity == pytest.approx(
            float(samples[0].template.vector @ template.vector), abs=1e-5
        )
        assert match.comparison is None and store.search(probe, purpose="door").faces[0].rule is None
        # the copies alone (their photo's bare template gone) name nobody, bare or masked
        store.erase("obama")
        store.enroll("copies", samples[1:], purpose="door")
        assert not store.search(probe, purpose="door", fmr=0.5).matched
        assert not store.search(_masked(engine, probe, "p", "cloth"), purpose="door", fmr=0.5).matched


def test_a_gallery_without_masked_copies_searches_masked_probes_as_bare_ones(
    tmp_path: Path, plain_engine: faceprint.Engine, faces_dir: Path
) -> None:
    engine = plain_engine
    probe = _masked(engine, _image(faces_dir, "barack_obama_2"), "p", "surgical")
    face = engine.embed_main(probe)[0]
    assert face.masked and face.template is not None
    with faceprint.open_store(tmp_path / "g.db", engine=engine) as store:
        for stem in ENROLLED:
            store.enroll(stem, [_image(faces_dir, stem)], purpose="door")
        found = store.search(probe, purpose="door", fmr=0.05, top_k=10).faces[0]
        as_template = store.search(face.template, purpose="door", fmr=0.05, top_k=10).faces[0]
    assert found.masked and found.matches == as_template.matches  # a template probe is never routed
    assert all(m.comparison is None for m in found.matches) and found.rule is None


def test_a_template_store_refuses_masked_copies_and_writes_nothing(tmp_path: Path, faces_dir: Path) -> None:
    with TemplateStore(tmp_path / "t.db") as store:  # the template store beneath the gallery
        with pytest.raises(faceprint.InvalidInput, match="masked copies are made from images"):
            store.enroll("obama", [faces_dir / "barack_obama_1.jpg"], purpose="door", masked_copies=True)
        assert store.subjects() == []
