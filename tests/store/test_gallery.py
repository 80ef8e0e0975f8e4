from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import faceprint
from faceprint import Store
from faceprint.errors import ConsentRequired, InvalidInput, ManyFaces, NoFace, NotFound, StoreError
from faceprint.faces import Template
from faceprint.imageio import RGBImage
from faceprint.store import Sample
from faceprint.store.gallery import default_store_path
from faceprint.store.openset import decision_rule


def test_enrol_then_search_finds_the_person_and_not_a_stranger(
    store: Store, samples: dict[str, RGBImage]
) -> None:
    result = store.enroll("eileen", [samples["astronaut"]], purpose="demo", evidence="signed form 7")
    assert (result.created, result.added, result.skipped) == (True, 1, 0)
    store.enroll("grace", [samples["hopper"]], purpose="demo")

    found = store.search(samples["astronaut_copy"], purpose="demo")
    assert found.matched
    (face,) = found.faces
    assert face.box is not None and face.box.area > 1000
    assert [m.subject for m in face.matches] == ["eileen"]
    assert face.matches[0].similarity >= found.threshold
    assert 0 < face.matches[0].fmr <= 1e-3

    store.erase("eileen")
    again = store.search(samples["astronaut_copy"], purpose="demo")
    assert not again.matched  # open set: the nearest stranger is not an answer


def test_scores_are_per_subject_not_per_template(store: Store, face_samples: dict[str, Sample]) -> None:
    store.enroll(
        "obama", [face_samples["barack_obama_1.jpg"], face_samples["barack_obama_2.jpg"]], purpose="p"
    )
    store.enroll("chirac", [face_samples["jacques_chirac_1.jpg"]], purpose="p")
    result = store.search(face_samples["barack_obama_3.jpg"].template, purpose="p", top_k=5, fmr=0.5)
    names = [m.subject for m in result.faces[0].matches]
    assert names[0] == "obama" and names.count("obama") == 1
    sims = [m.similarity for m in result.faces[0].matches]
    assert sims == sorted(sims, reverse=True)
    best = max(
        float(face_samples[f].template.vector @ face_samples["barack_obama_3.jpg"].template.vector)
        for f in ("barack_obama_1.jpg", "barack_obama_2.jpg")
    )
    assert sims[0] == pytest.approx(best, abs=1e-6)


def test_identification_on_the_shared_faces(
    store: Store, face_samples: dict[str, Sample], face_labels: dict[str, str]
) -> None:
    """First photo of each person enrolled; every other photo finds its person at FMR 1e-3."""
    enrolled: set[str] = set()
    probes = []
    for file, person in sorted(face_labels.items()):
        if person in enrolled:
            probes.append((file, person))
        else:
            store.enroll(person, [face_samples[file]], purpose="kyc")
            enrolled.add(person)
    assert probes
    correct = sum(
        1
        for file, person in probes
        if [m.subject for m in store.search(face_samples[file].template, purpose="kyc").faces[0].matches][:1]
        == [person]
    )
    assert correct / len(probes) >= 0.85


def test_all_faces_searches_every_face(
    store: Store, face_samples: dict[str, Sample], faces_dir: Path
) -> None:
    store.enroll("chirac", [face_samples["jacques_chirac_1.jpg"]], purpose="p")
    crowd = faces_dir / "jacques_chirac_3.jpg"
    largest = store.search(crowd, purpose="p")
    every = store.search(crowd, purpose="p", all_faces=True)
    assert len(largest.faces) == 1 and len(every.faces) >= 2
    assert [m.subject for m in every.faces[0].matches] == ["chirac"]
    assert not any(f.matches for f in every.faces[1:])


def test_consent_is_required_and_purpose_bound(store: Store, package_samples: dict[str, Sample]) -> None:
    eileen = package_samples["astronaut"]
    for purpose in ("", "   "):
        with pytest.raises(ConsentRequired):
            store.enroll("eileen", [eileen], purpose=purpose)
    assert store.subjects() == []
    store.enroll("eileen", [eileen], purpose="access control")
    with pytest.raises(ConsentRequired, match="access control"):
        store.enroll("eileen", [package_samples["astronaut_copy"]], purpose="marketing")
    with pytest.raises(ConsentRequired, match="purposes held"):
        store.search(eileen.template, purpose="marketing")
    assert store.search(eileen.template, purpose="access control").matched


def test_expired_consent_never_matches(
    tmp_path: Path, engine: faceprint.Engine, package_samples: dict[str, Sample]
) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    with Store(tmp_path / "g.db", engine=engine, clock=lambda: now[0]) as store:
        with pytest.raises(InvalidInput, match="not in the future"):
            store.enroll("eileen", [package_samples["astronaut"]], purpose="p", expires_at=now[0])
        store.enroll(
            "eileen", [package_samples["astronaut"]], purpose="p", expires_at=now[0] + timedelta(days=30)
        )
        probe = package_samples["astronaut_copy"].template
        assert store.search(probe, purpose="p").matched
        now[0] += timedelta(days=31)
        assert not store.search(probe, purpose="p").matched
        with pytest.raises(ConsentRequired, match="expired"):
            store.enroll("eileen", [package_samples["astronaut_copy"]], purpose="p")


def test_reenrolling_the_same_photo_is_skipped(store: Store, samples: dict[str, RGBImage]) -> None:
    store.enroll("eileen", [samples["astronaut"]], purpose="p")
    again = store.enroll("eileen", [samples["astronaut"], samples["astronaut_copy"]], purpose="p")
    assert (again.created, again.added, again.skipped) == (False, 1, 1)
    assert store.subject("eileen").templates == 2


def test_enrolment_is_all_or_nothing(store: Store, samples: dict[str, RGBImage], no_face_png: Path) -> None:
    with pytest.raises(NoFace):
        store.enroll("eileen", [samples["astronaut"], no_face_png], purpose="p")
    assert store.subjects() == [] and store.audit() == []


def two_people(samples: dict[str, RGBImage]) -> RGBImage:
    """Eileen Collins (512 px) beside Grace Hopper scaled so both faces are about the same size."""
    hopper = np.asarray(Image.fromarray(samples["hopper"]).resize((256, 300)))
    canvas = np.full((512, 512 + 256, 3), 255, np.uint8)
    canvas[:, :512] = samples["astronaut"]
    canvas[:300, 512:] = hopper
    return canvas


def test_a_photo_of_two_people_is_refused_for_enrolment(store: Store, samples: dict[str, RGBImage]) -> None:
    group = two_people(samples)
    assert len(store.engine.detect(group)) >= 2
    with pytest.raises(ManyFaces, match="2 faces of similar size found"):
        store.enroll("someone", [group], purpose="p")
    assert store.subjects() == []
    # the astronaut photo's weak second detection (score 0.1) is no rival: it enrols
    assert store.enroll("eileen", [samples["astronaut"]], purpose="p").added == 1
    assert store.enroll("grace", [group], purpose="p", largest_face=True).added == 1


def off_centre_pair(samples: dict[str, RGBImage]) -> RGBImage:
    """Grace Hopper at the left edge, her face slightly larger than Eileen Collins' in the middle."""
    # her face ~107 px wide in the default detector's boxes (Eileen's: 103)
    hopper = np.asarray(Image.fromarray(samples["hopper"]).resize((275, 322)))
    canvas = np.full((512, 1200, 3), 255, np.uint8)
    canvas[:322, :275] = hopper
    canvas[:, 400:912] = samples["astronaut"]
    return canvas


def test_the_main_face_is_the_central_one_among_faces_of_about_a_size(
    store: Store, samples: dict[str, RGBImage], package_samples: dict[str, Sample]
) -> None:
    pair = off_centre_pair(samples)
    faces = store.engine.detect(pair)
    assert len(faces) == 2 and faces[0].box.center[0] < 300  # the largest is Grace, at the edge
    with pytest.raises(ManyFaces, match=r"2 faces of similar size.*--largest-face.*largest_face"):
        store.sample(pair)
    chosen = store.sample(pair, largest_face=True)
    eileen = package_samples["astronaut"].template.vector
    assert chosen.box is not None and chosen.box.center[0] > 500
    assert float(chosen.template.vector @ eileen) > 0.95
    store.enroll("eileen", [package_samples["astronaut"]], purpose="p")
    store.enroll("grace", [package_samples["hopper"]], purpose="p")
    (face,) = store.search(pair, purpose="p").faces  # a search takes the same face
    assert [m.subject for m in face.matches] == ["eileen"]


def test_bad_arguments_are_typed_errors(store: Store, package_samples: dict[str, Sample]) -> None:
    eileen = package_samples["astronaut"]
    store.enroll("eileen", [eileen], purpose="p")
    with pytest.raises(InvalidInput):
        store.enroll("", [eileen], purpose="p")
    with pytest.raises(InvalidInput):
        store.enroll("a\x00b", [eileen], purpose="p")
    with pytest.raises(InvalidInput):
        store.enroll("nobody", [], purpose="p")
    with pytest.raises(InvalidInput):
        store.search(eileen.template, purpose="p", fmr=2.0)
    with pytest.raises(InvalidInput):
        store.search(eileen.template, purpose="p", top_k=0)
    with pytest.raises(NotFound):
        store.erase("nobody")
    with pytest.raises(NotFound):
        store.subject("nobody")


def test_templates_of_another_model_are_refused(store: Store, package_samples: dict[str, Sample]) -> None:
    store.enroll("eileen", [package_samples["astronaut"]], purpose="p")
    vector = package_samples["hopper"].template.vector
    other = Template(vector, "dlib-resnet-v1")  # another model's: the store holds SFace's
    with pytest.raises(StoreError, match="dlib-resnet-v1"):
        store.enroll("grace", [Sample(other, "x")], purpose="p")
    with pytest.raises(StoreError):
        store.search(other, purpose="p")


def test_a_store_of_plain_dlib_templates_stays_plain_and_dlib(
    tmp_path: Path, samples: dict[str, RGBImage]
) -> None:
    """Mirroring, then SFace, became the default after stores of plain dlib templates existed: those
    keep working, with dlib's network and plain templates."""
    path = tmp_path / "old.db"
    with faceprint.open_store(path, settings=faceprint.Settings(mirror=False, recogniser="resnet")) as old:
        old.enroll("eileen", [samples["astronaut"]], purpose="p")
        assert old.model_id == "dlib-resnet-v1"
    with faceprint.open_store(path, settings=faceprint.Settings()) as reopened:  # today's default
        assert reopened.engine.model_id == "dlib-resnet-v1"
        assert reopened.search(samples["astronaut_copy"], purpose="p").matched
    with faceprint.open_store(path, engine=faceprint.Engine()) as shared:  # an engine passed in
        assert shared.engine.model_id == "dlib-resnet-v1"
        assert shared.search(samples["astronaut_copy"], purpose="p").matched
    with faceprint.open_store(tmp_path / "new.db", settings=faceprint.Settings()) as new:
        new.enroll("eileen", [samples["astronaut"]], purpose="p")
        assert new.model_id == new.engine.model_id == "sface-2021dec"
    mirrored = tmp_path / "mirrored.db"  # a store of mirror-averaged dlib templates keeps dlib too
    with faceprint.open_store(mirrored, settings=faceprint.Settings(recogniser="resnet")) as old:
        old.enroll("eileen", [samples["astronaut"]], purpose="p")
    with faceprint.open_store(mirrored, settings=faceprint.Settings()) as reopened:
        assert reopened.engine.model_id == "dlib-resnet-v1+mirror"
        assert reopened.search(samples["astronaut_copy"], purpose="p").matched
    asked = faceprint.Settings(recogniser="sface")  # SFace asked for: refused, never compared
    with faceprint.open_store(mirrored, settings=asked) as store, pytest.raises(StoreError, match="holds"):
        store.enroll("grace", [samples["hopper"]], purpose="p")
    explicit = faceprint.Settings(mirror=True)
    with faceprint.open_store(path, settings=explicit) as asked, pytest.raises(StoreError, match="holds"):
        asked.enroll("grace", [samples["hopper"]], purpose="p")


def test_every_operation_is_audited_without_biometric_data(
    store: Store, package_samples: dict[str, Sample]
) -> None:
    store.enroll("eileen", [package_samples["astronaut"]], purpose="p", actor="alice")
    store.search(package_samples["astronaut_copy"].template, purpose="p", actor="bob")
    store.search(package_samples["hopper"].template, purpose="p", actor="bob")
    store.erase("eileen", actor="carol", reason="subject request")
    entries = store.audit()
    assert [(e.operation, e.actor, e.subjects, e.results) for e in entries] == [
        ("erase", "carol", ("eileen",), 1),
        ("search", "bob", (), 0),
        ("search", "bob", ("eileen",), 1),
        ("enroll", "alice", ("eileen",), 1),
    ]
    assert entries[0].detail == "subject request" and entries[1].purpose == "p"
    assert [e.operation for e in store.audit(subject="eileen")] == ["erase", "search", "enroll"]
    assert len(store.audit(limit=2)) == 2
    with store.db.read() as conn:
        cells = [c for row in conn.execute("SELECT * FROM audit") for c in row]
    assert not any(isinstance(c, bytes) for c in cells)
    assert not any(isinstance(c, float) for c in cells)


def test_empty_gallery_searches_find_no_one(store: Store, package_samples: dict[str, Sample]) -> None:
    result = store.search(package_samples["astronaut"].template, purpose="p")
    assert not result.matched and len(result.faces) == 1
    assert store.check().ok


def test_search_many_candidates_still_returns_top_k_subjects(
    store: Store, package_samples: dict[str, Sample]
) -> None:
    """One subject with many near-identical templates must not crowd the others out of the top k."""
    rng = np.random.default_rng(0)
    base = package_samples["astronaut"].template.vector

    def near(i: int, scale: float) -> Sample:
        v = base + rng.normal(0, scale, base.shape).astype(np.float32)
        return Sample(Template(v / np.linalg.norm(v), base_model(package_samples)), f"s{i}")

    store.enroll("crowd", [near(i, 0.001) for i in range(120)], purpose="p")
    for i in range(3):
        store.enroll(f"other{i}", [near(1000 + i, 0.01)], purpose="p")
    matches = store.search(package_samples["astronaut"].template, purpose="p", top_k=4).faces[0].matches
    assert matches[0].subject == "crowd"
    assert sorted(m.subject for m in matches[1:]) == ["other0", "other1", "other2"]


def base_model(package_samples: dict[str, Sample]) -> str:
    return package_samples["astronaut"].template.model


def test_default_path_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_store_path() == tmp_path / "faceprint" / "faceprint.db"
    monkeypatch.setenv("FACEPRINT_STORE", str(tmp_path / "x.db"))
    with faceprint.open_store() as store:
        assert store.path == tmp_path / "x.db"


def test_subjects_lists_consent(store: Store, package_samples: dict[str, Sample]) -> None:
    expires = datetime.now(UTC) + timedelta(days=365)
    store.enroll("eileen", [package_samples["astronaut"]], purpose="p", evidence="form", expires_at=expires)
    (subject,) = store.subjects()
    assert subject.name == "eileen" and subject.templates == 1
    assert subject.consent.evidence == "form" and subject.consent.expires_at == expires
    assert subject.to_json()["consent"]["purpose"] == "p"
    assert len(store) == 1


def test_the_default_threshold_bounds_fpir_over_the_eligible_subjects(
    store: Store, package_samples: dict[str, Sample]
) -> None:
    calibration = store.engine.calibration
    for i in range(5):
        store.enroll(f"s{i}", [package_samples["hopper"]], purpose="p")
    store.create_subject("no-templates-yet", purpose="p")  # cannot match: not counted
    store.enroll("elsewhere", [package_samples["hopper"]], purpose="q")  # not compared: not counted
    probe = package_samples["astronaut"].template
    result = store.search(probe, purpose="p")
    assert (result.rule, result.eligible, result.fpir) == ("fpir 0.01 over 5 subjects", 5, 0.01)
    assert result.fmr == pytest.approx(0.002) and result.threshold == calibration.threshold(0.002)
    assert result.to_json()["rule"] == result.rule and result.to_json()["threshold"] == pytest.approx(
        result.threshold, abs=1e-6
    )  # six decimals in JSON
    store.enroll("s5", [package_samples["hopper"]], purpose="p")  # the count follows enrolment ...
    assert store.search(probe, purpose="p").rule == "fpir 0.01 over 6 subjects"
    store.erase("s0")  # ... and erasure
    assert store.search(probe, purpose="p").rule == "fpir 0.01 over 5 subjects"
    per = store.search(probe, purpose="p", fmr=1e-3)  # the per-comparison rule stays
    assert (per.rule, per.fpir, per.threshold) == (
        "fmr 0.001 per comparison",
        None,
        calibration.threshold(1e-3),
    )
    with pytest.raises(InvalidInput, match="not both"):
        store.search(probe, purpose="p", fmr=1e-3, fpir=0.01)


def test_large_galleries_use_the_cohort_normalised_rule(tmp_path: Path, engine: faceprint.Engine) -> None:
    """300 subjects: past the cohort table's smallest gallery, a name also needs to stand out of the crowd."""
    rng = np.random.default_rng(0)
    model = engine.model_id
    vectors = rng.normal(size=(301, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with faceprint.open_store(tmp_path / "g.db", engine=engine) as store:
        store.enroll_many(
            [(f"s{i}", [Sample(Template(v, model), f"h{i}")]) for i, v in enumerate(vectors[:300])],
            purpose="p",
        )
        near = vectors[7] + 0.05 * vectors[300]  # a mate of s7: similarity ~0.999, alone above the crowd
        found = store.search(Template(near, model), purpose="p")
        assert found.rule.startswith("fpir 0.01 over 300 subjects, cohort-normalised (z >= ")
        decision = decision_rule(engine.calibration, 300)
        assert decision.z is not None and found.threshold == decision.threshold
        assert [m.subject for m in found.faces[0].matches] == ["s7"]
        # two subjects equally close: each is only as far above the crowd as the other, still named
        twin = vectors[7] + vectors[8]
        both = store.search(Template(twin, model), purpose="p").faces[0].matches
        assert {m.subject for m in both} <= {"s7", "s8"}
        stranger = store.search(Template(vectors[300], model), purpose="p")
        assert stranger.faces[0].matches == ()
        # the per-comparison rule ignores the cohort
        assert store.search(Template(near, model), purpose="p", fmr=1e-3).rule == "fmr 0.001 per comparison"


def test_the_eligible_count_follows_consent_expiry(tmp_path: Path, engine: faceprint.Engine) -> None:
    moment = [datetime(2030, 1, 1, tzinfo=UTC)]
    with Store(tmp_path / "g.db", engine=engine, clock=lambda: moment[0]) as store:
        template = Template(np.ones(128, np.float32), engine.model_id)
        store.enroll("short", [Sample(template, "a")], purpose="p", expires_at=moment[0] + timedelta(days=1))
        store.enroll("long", [Sample(template, "b")], purpose="p")
        assert store.search(template, purpose="p").eligible == 2
        moment[0] += timedelta(days=2)  # "short" expired: no longer compared, not counted
        assert store.search(template, purpose="p").eligible == 1


def test_fpir_sets_the_threshold_from_the_gallery_size(
    store: Store, package_samples: dict[str, Sample]
) -> None:
    for i in range(4):
        store.enroll(f"s{i}", [package_samples["hopper"]], purpose="p")
    store.enroll("other-purpose", [package_samples["hopper"]], purpose="q")  # not compared: not counted
    probe = package_samples["hopper"].template
    result = store.search(probe, purpose="p", fpir=0.004)
    assert result.fmr == pytest.approx(0.001) and result.fpir == 0.004
    assert result.threshold == store.engine.calibration.threshold(0.001)
    assert len(result.faces[0].matches) == 4
    with pytest.raises(InvalidInput):
        store.search(probe, purpose="p", fpir=1.5)
    with pytest.raises(InvalidInput, match="resolves"):
        store.search(probe, purpose="p", fpir=1e-9)


def test_enroll_many_is_one_all_or_nothing_batch(store: Store, package_samples: dict[str, Sample]) -> None:
    eileen, grace = package_samples["astronaut"], package_samples["hopper"]
    wrong = Sample(Template(grace.template.vector, "dlib-resnet-v1"), "w")
    with pytest.raises(StoreError):
        store.enroll_many([("a", [eileen]), ("b", [grace]), ("c", [wrong])], purpose="p")
    assert store.subjects() == []
    results = store.enroll_many([("a", [eileen]), ("b", [grace])], purpose="p")
    assert [(r.subject, r.created, r.added) for r in results] == [("a", True, 1), ("b", True, 1)]
    assert [m.subject for m in store.search(eileen.template, purpose="p").faces[0].matches] == ["a"]
    with pytest.raises(InvalidInput):
        store.enroll_many([("d", [])], purpose="p")


def test_create_subject_then_add_faces_under_its_consent(
    store: Store, package_samples: dict[str, Sample]
) -> None:
    created = store.create_subject("ada", purpose="door", evidence="form 9")
    assert created.templates == 0 and created.consent.evidence == "form 9"
    with pytest.raises(InvalidInput, match="exists"):
        store.create_subject("ada", purpose="door")
    with pytest.raises(ConsentRequired):
        store.create_subject("bob", purpose="  ")
    assert store.search(package_samples["astronaut"].template, purpose="door").faces[0].matches == ()
    result = store.add_faces("ada", [package_samples["astronaut"]])
    assert (result.created, result.added) == (False, 1)
    assert store.subject("ada").consent.evidence == "form 9"
    hit = store.search(package_samples["astronaut_copy"].template, purpose="door")
    assert [m.subject for m in hit.faces[0].matches] == ["ada"]
    with pytest.raises(NotFound):
        store.add_faces("nobody", [package_samples["hopper"]])
    assert [e.operation for e in store.audit(subject="ada")][-1] == "consent"


def test_add_faces_refuses_an_expired_consent(tmp_path: Path, package_samples: dict[str, Sample]) -> None:
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    with Store(tmp_path / "g.db", clock=lambda: now[0]) as store:
        store.create_subject("ada", purpose="door", expires_at=now[0] + timedelta(days=1))
        now[0] += timedelta(days=2)
        with pytest.raises(ConsentRequired, match="expired"):
            store.add_faces("ada", [package_samples["astronaut"]])
