from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import faceprint
from faceprint.align import face_chip
from faceprint.errors import InvalidInput, NoFace
from faceprint.faces import Box
from faceprint.imageio import RGBImage
from faceprint.models import Backends, Detection
from faceprint.models.fake import FakeEmbedder, fake_backends
from tests.conftest import encode, same_and_different_pairs, shared_dir


@pytest.fixture(scope="module")
def exact() -> faceprint.Engine:
    """dlib's MMOD CNN with dlib's pipeline: boxes and landmarks as dlib gives them."""
    return faceprint.Engine(faceprint.Settings(detector="cnn", refine_landmarks=False))


def test_the_cnn_detector_finds_the_astronaut_at_dlibs_box(
    exact: faceprint.Engine, samples: dict[str, RGBImage]
) -> None:
    faces = exact.detect(samples["astronaut"])
    # dlib's MMOD CNN (dlib's HOG also fires weakly on her mission patch)
    assert faces[0].box == Box(165.0, 73.0, 264.0, 172.0)
    assert faces[0].score == pytest.approx(1.067, abs=0.01)
    assert faces[0].template is None and faces[0].detector == "cnn"


def test_the_default_detector_finds_the_astronaut_with_a_box_of_dlibs_kind(
    engine: faceprint.Engine, samples: dict[str, RGBImage]
) -> None:
    (face,) = engine.detect(samples["astronaut"])  # BlazeFace does not fire on the patch
    assert face.detector == "blazeface" and 0.5 <= face.score <= 1.0
    # the box the 5-point predictor expects: of HOG's kind, inside MMOD's looser box
    assert face.box.iou(Box(165.0, 73.0, 264.0, 172.0)) > 0.6
    assert 0.75 < face.box.width / 99 < 1.25


def test_refined_landmarks_sit_where_dlibs_do(
    engine: faceprint.Engine, exact: faceprint.Engine, samples: dict[str, RGBImage]
) -> None:
    for name in ("astronaut", "hopper"):
        ours, theirs = engine.detect(samples[name])[0], exact.detect(samples[name])[0]
        eyes = np.linalg.norm(theirs.landmarks[0] - theirs.landmarks[2])
        assert np.abs(ours.landmarks - theirs.landmarks).max() < 0.1 * eyes


def test_detect_grace_hopper(exact: faceprint.Engine, samples: dict[str, RGBImage]) -> None:
    (face,) = exact.detect(samples["hopper"])
    assert face.box == Box(187.0, 145.0, 358.0, 316.0)
    points = face.landmarks
    assert points.shape == (5, 2)
    b = face.box
    assert np.all((points[:, 0] > b.left) & (points[:, 0] < b.right))
    assert np.all((points[:, 1] > b.top) & (points[:, 1] < b.bottom))
    # dlib order: two points of the eye on the image's right, two of the other eye, then the nose
    assert points[0, 0] > points[2, 0] and points[4, 1] > points[:4, 1].max()


def test_no_face_gives_empty_list_and_verify_raises(engine: faceprint.Engine, no_face_png: Path) -> None:
    assert engine.detect(no_face_png) == []
    assert engine.embed(no_face_png) == []
    with pytest.raises(NoFace, match=r"coffee\.png: no face found"):
        engine.verify(no_face_png, no_face_png)


def test_templates_are_128_d_unit_vectors(engine: faceprint.Engine, samples: dict[str, RGBImage]) -> None:
    (face,) = engine.embed(samples["astronaut"], largest_only=True)
    assert face.template is not None
    assert face.template.vector.shape == (128,) and face.template.vector.dtype == np.float32
    assert np.linalg.norm(face.template.vector) == pytest.approx(1.0, abs=1e-5)
    assert face.template.model == engine.model_id == "sface-2021dec"  # SFace: plain by default


def test_paths_bytes_and_arrays_give_the_same_template(
    engine: faceprint.Engine, samples: dict[str, RGBImage], tmp_path: Path
) -> None:
    rgb = samples["hopper"]
    data = encode(rgb, "PNG")
    path = tmp_path / "hopper.png"
    path.write_bytes(data)
    vectors = [engine.template(src).vector for src in (rgb, data, path, str(path))]
    for v in vectors[1:]:
        np.testing.assert_array_equal(v, vectors[0])


def test_verify_same_and_different(engine: faceprint.Engine, samples: dict[str, RGBImage]) -> None:
    same = engine.verify(samples["astronaut"], samples["astronaut_copy"], fmr=1e-3)
    different = engine.verify(samples["astronaut"], samples["hopper"], fmr=1e-3)
    assert same.is_match and same.similarity > same.threshold and same.fmr < 1e-3
    assert not different.is_match and different.fmr > 1e-3
    assert same.threshold == different.threshold == engine.calibration.threshold(1e-3)
    assert same.distance == pytest.approx(np.sqrt(2 - 2 * same.similarity))


def test_verify_takes_faces_and_templates(engine: faceprint.Engine, samples: dict[str, RGBImage]) -> None:
    (a,) = engine.embed(samples["astronaut"], largest_only=True)
    (b,) = engine.embed(samples["hopper"])
    assert a.template is not None
    by_face = engine.verify(a, b)
    by_template = engine.verify(a.template, samples["hopper"])
    assert by_face.similarity == pytest.approx(by_template.similarity, abs=1e-6)
    with pytest.raises(InvalidInput, match="no template"):
        engine.verify(engine.detect(samples["hopper"])[0], a)


def test_bad_fmr_is_refused_before_any_image_work(engine: faceprint.Engine) -> None:
    with pytest.raises(InvalidInput, match="fmr"):
        engine.verify(b"not even an image", b"", fmr=0.0)


def test_embed_at_given_boxes(engine: faceprint.Engine, samples: dict[str, RGBImage]) -> None:
    detected = engine.embed(samples["hopper"])[0]
    (given,) = engine.embed(samples["hopper"], boxes=[detected.box])
    assert given.template is not None and detected.template is not None
    np.testing.assert_allclose(given.template.vector, detected.template.vector, atol=1e-6)
    with pytest.raises(InvalidInput, match="empty"):
        engine.embed(samples["hopper"], boxes=[Box(10, 10, 10, 10)])


def test_large_images_are_downscaled_for_detection(samples: dict[str, RGBImage]) -> None:
    small_limit = faceprint.Engine(detect_max_side=300)
    (face,) = small_limit.detect(samples["hopper"])  # 600 px high, detected at half size
    # boxes come back in full-resolution pixels, where full-resolution detection put them
    assert face.box.iou(Box(180.0, 139.0, 367.0, 326.0)) > 0.6
    assert face.box.area > 150 * 150


def test_cnn_detector_agrees_with_hog(samples: dict[str, RGBImage]) -> None:
    cnn = faceprint.Engine(detector="cnn", upsample=0)
    (face,) = cnn.detect(samples["astronaut_copy"])
    assert face.detector == "cnn"
    assert face.box.center[0] == pytest.approx(201, abs=10) and face.box.center[1] == pytest.approx(
        85, abs=10
    )


def test_verify_on_openly_licensed_photos(
    engine: faceprint.Engine, faces_dir: Path, face_labels: dict[str, str]
) -> None:
    """Every same-person pair matches and every different-person pair does not, at FMR 1e-3."""
    templates = {name: engine.template(faces_dir / name) for name in face_labels}
    same, different = same_and_different_pairs(face_labels)
    assert len(same) == 13 and len(different) == 65
    missed = [(a, b) for a, b in same if not engine.verify(templates[a], templates[b], fmr=1e-3).is_match]
    false = [(a, b) for a, b in different if engine.verify(templates[a], templates[b], fmr=1e-3).is_match]
    assert missed == [] and false == []


def test_mirror_averaged_templates_are_their_own_space(
    engine: faceprint.Engine, samples: dict[str, RGBImage]
) -> None:
    mirror, unmirrored = faceprint.Engine(mirror=True), engine  # SFace: plain by default
    assert mirror.model_id == "sface-2021dec+mirror" and unmirrored.model_id == "sface-2021dec"
    plain = unmirrored.template(samples["hopper"])
    averaged = mirror.template(samples["hopper"])
    assert averaged.model == "sface-2021dec+mirror"
    assert 0.95 < float(plain.vector @ averaged.vector) < 0.9999  # close, but not the same vector
    # a mirrored photo gives (nearly) the same mirror-averaged template
    flipped = mirror.template(np.ascontiguousarray(samples["hopper"][:, ::-1]))
    assert float(flipped.vector @ averaged.vector) > 0.98  # other people: about 0.1
    with pytest.raises(InvalidInput, match="different models"):
        unmirrored.verify(plain, averaged)
    assert unmirrored.verify(samples["astronaut"], samples["astronaut_copy"]).model == "sface-2021dec"
    match = mirror.verify(samples["astronaut"], samples["astronaut_copy"])
    assert match.is_match and match.model == "sface-2021dec+mirror"
    assert not mirror.verify(samples["astronaut"], samples["hopper"]).is_match


# -- engine logic with the fake backends (no model files) ---------------------------------------


def _fake_engine(detections: list[Detection], **settings: object) -> tuple[faceprint.Engine, Backends]:
    backends = fake_backends(detections)
    return faceprint.Engine(faceprint.Settings(**settings), backends=backends), backends  # type: ignore[arg-type]


def test_faces_come_largest_first_ties_by_score() -> None:
    engine, _ = _fake_engine(
        [Detection(0, 0, 20, 20, 3.0), Detection(30, 30, 80, 80, 0.5), Detection(100, 0, 150, 50, 0.9)]
    )
    faces = engine.detect(np.zeros((200, 200, 3), np.uint8))
    assert [f.score for f in faces] == [0.9, 0.5, 3.0]
    assert faces[0].box == Box(100, 0, 150, 50) and faces[0].detector == "fake"


def test_detection_runs_downscaled_and_boxes_come_back_in_full_resolution() -> None:
    engine, backends = _fake_engine([Detection(10, 20, 110, 120, 1.0)], detect_max_side=300)
    (face,) = engine.detect(np.zeros((600, 512, 3), np.uint8))
    assert backends.detector.seen == [(300, 256, 3)]  # type: ignore[attr-defined]
    assert face.box == Box(20, 40, 220, 240)
    assert face.landmarks[4] == pytest.approx([120, 170])  # located on the full-resolution box


def test_all_faces_of_an_image_are_embedded_in_one_batch() -> None:
    dets = [Detection(10, 10, 60, 60, 1.0), Detection(80, 10, 130, 60, 1.0), Detection(10, 80, 60, 130, 1.0)]
    engine, backends = _fake_engine(dets, mirror=False)
    faces = engine.embed(RNG_IMAGE)
    assert len(faces) == 3 and backends.embedder.batches == [3]  # type: ignore[attr-defined]
    assert all(f.template is not None and f.template.model == "fake" for f in faces)


def test_mirror_averages_unit_embeddings_of_the_chip_and_its_mirror_image() -> None:
    det = [Detection(40, 40, 120, 120, 1.0)]
    plain, _ = _fake_engine(det, mirror=False)
    mirror, backends = _fake_engine(det)  # mirrored by default
    (face,) = mirror.embed(RNG_IMAGE)
    assert backends.embedder.batches == [2]  # type: ignore[attr-defined]
    assert face.template is not None and face.template.model == "fake+mirror"
    (p,) = plain.embed(RNG_IMAGE)
    assert p.template is not None
    chip = face_chip(RNG_IMAGE, p.landmarks, size=40, padding=0.25)
    v, w = FakeEmbedder().embed_chips([chip, np.ascontiguousarray(chip[:, ::-1])])
    expected = v / np.linalg.norm(v) + w / np.linalg.norm(w)
    np.testing.assert_allclose(face.template.vector, expected / np.linalg.norm(expected), rtol=1e-5)
    np.testing.assert_allclose(p.template.vector, v / np.linalg.norm(v), rtol=1e-5)


RNG_IMAGE = np.random.default_rng(5).integers(0, 256, size=(160, 160, 3), dtype=np.uint8)


def test_one_engine_is_safe_to_share_between_threads(samples: dict[str, RGBImage]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    shared = faceprint.Engine()  # models load lazily, under the lock, from several threads at once
    pairs = [(samples["astronaut"], samples["astronaut_copy"]), (samples["astronaut"], samples["hopper"])] * 4
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda ab: shared.verify(*ab), pairs))
    assert [m.is_match for m in results] == [True, False] * 4
    assert len({round(m.similarity, 6) for m in results[::2]}) == 1


@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (4, 500), (500, 4), (39, 39), (60, 300)])
def test_tiny_images_have_no_face_and_no_error(engine: faceprint.Engine, shape: tuple[int, int]) -> None:
    """Found by fuzzing the service: the CNN must not be run on inputs smaller than its window."""
    assert engine.detect(np.full((*shape, 3), 128, np.uint8)) == []


# -- phone-sized photos ---------------------------------------------------------------------------


class _CountingPhoto(faceprint.Photo):
    """A photo that records which reductions the engine decoded."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.asked: list[int] = []

    def at(self, reduce: int) -> RGBImage:
        self.asked.append(reduce)
        return super().at(reduce)


def test_a_12_mp_photo_is_searched_at_reduced_size_and_every_face_found(engine: faceprint.Engine) -> None:
    from tests.compose import compose_photo, lfw_files

    lfw = shared_dir("lfw")
    files = lfw_files(lfw)
    photo = compose_photo(lfw, 7, faces=(4, 4), sizes=(220.0, 600.0), files=files)
    counting = _CountingPhoto(photo.jpeg)
    faces = engine.embed(counting)
    assert 1 not in counting.asked  # never decoded in full: faces >= 200 px are chipped from a half
    assert len(faces) == 4
    for truth, person in zip(photo.boxes, photo.people, strict=True):
        (face,) = [f for f in faces if f.box.iou(Box(*truth)) > 0.5]
        original = engine.template(lfw / next(s for s in photo.sources if s.startswith(person + "/")))
        assert face.template is not None
        assert engine.verify(face.template, original, fmr=1e-4).is_match  # the same person, recognised


def test_small_faces_in_a_12_mp_photo_are_found(engine: faceprint.Engine) -> None:
    from tests.compose import compose_photo, lfw_files

    lfw = shared_dir("lfw")
    photo = compose_photo(lfw, 11, faces=(6, 6), sizes=(64.0, 120.0), files=lfw_files(lfw))
    faces = engine.detect(photo.jpeg)
    found = [any(f.box.iou(Box(*truth)) > 0.4 for f in faces) for truth in photo.boxes]
    assert sum(found) >= 5 and len(faces) <= 7


def test_refinement_moves_boxes_to_the_predictors_mean_shape_and_is_reproducible(
    samples: dict[str, RGBImage],
) -> None:
    refined = faceprint.Engine(faceprint.Settings(refine_landmarks=True))
    for name in ("astronaut", "hopper"):
        (face,) = refined.embed(samples[name])
        (again,) = refined.embed(samples[name], boxes=[face.box])  # a settled box gives the same points
        np.testing.assert_array_equal(face.landmarks, again.landmarks)
        assert face.template is not None and again.template is not None
        np.testing.assert_allclose(face.template.vector, again.template.vector, atol=1e-6)
