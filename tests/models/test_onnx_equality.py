"""The onnxruntime/numpy backend against dlib's own wheel, on the same images.

Tolerances (issue 3): embeddings max abs difference <= 1e-4, boxes +-1 px, scores +-1e-3,
landmarks +-0.5 px (in practice all three are exact or within float rounding).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceprint.align import face_chip
from faceprint.imageio import RGBImage, load_image
from faceprint.models import dlib_backend
from faceprint.models.detector import OnnxCnnDetector
from faceprint.models.embedder import OnnxResNetEmbedder
from faceprint.models.landmarks import NumpyShapePredictor
from faceprint.models.registry import model_path
from tests.conftest import shared_dir

dlib = pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="module")
def ours(cache: str) -> tuple[OnnxCnnDetector, NumpyShapePredictor, OnnxResNetEmbedder]:
    return (
        OnnxCnnDetector(model_path("cnn"), cache=cache),
        NumpyShapePredictor(model_path("landmarks5"), cache=cache),
        OnnxResNetEmbedder(model_path("resnet"), cache=cache),
    )


@pytest.fixture(scope="module")
def theirs() -> tuple[dlib_backend.CnnDetector, dlib_backend.ShapePredictor5, dlib_backend.ResNetEmbedder]:
    return (
        dlib_backend.CnnDetector(model_path("cnn")),
        dlib_backend.ShapePredictor5(model_path("landmarks5")),
        dlib_backend.ResNetEmbedder(model_path("resnet")),
    )


def _compare(images: list[RGBImage], ours: tuple, theirs: tuple, upsample: int) -> int:  # type: ignore[type-arg]
    """Assert equality on every stage; return the number of faces compared."""
    det, lm, emb = ours
    ref_det, ref_lm, ref_emb = theirs
    faces = 0
    for rgb in images:
        a, b = ref_det.detect(rgb, upsample), det.detect(rgb, upsample)
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert np.abs(np.array(x[:4]) - np.array(y[:4])).max() <= 1
            assert abs(x.score - y.score) <= 1e-3
        boxes = [(d.left, d.top, d.right, d.bottom) for d in a]
        # a box shifted off the detector's grid, too
        boxes += [(d.left + 3, d.top - 2, d.right + 5, d.bottom + 1) for d in a]
        chips, ref_chips = [], []
        for box in boxes:
            p, q = ref_lm.locate(rgb, box), lm.locate(rgb, box)
            assert np.abs(p - q).max() <= 0.5
            ref_chips.append(np.asarray(dlib.get_face_chip(rgb, _detection(p), 150, 0.25)))
            chips.append(face_chip(rgb, q))
            assert np.array_equal(chips[-1], ref_chips[-1])
        if chips:
            diff = np.abs(emb.embed_chips(chips) - ref_emb.embed_chips(ref_chips)).max()
            assert diff <= 1e-4
        faces += len(boxes)
    return faces


def _detection(points: np.ndarray) -> object:  # type: ignore[type-arg]
    parts = [dlib.point(int(x), int(y)) for x, y in points]
    return dlib.full_object_detection(dlib.rectangle(0, 0, 1, 1), parts)


@pytest.mark.slow
def test_sample_images_equal_dlib(samples: dict[str, RGBImage], ours: tuple, theirs: tuple) -> None:  # type: ignore[type-arg]
    images = [samples["astronaut"], samples["hopper"]]
    assert _compare(images, ours, theirs, upsample=1) >= 4


@pytest.mark.slow
def test_shared_faces_equal_dlib(ours: tuple, theirs: tuple) -> None:  # type: ignore[type-arg]
    root = shared_dir("faces")
    images = []
    for path in sorted(root.glob("*.[jp][pn]g")):
        rgb = load_image(path)
        scale = -(-max(rgb.shape[:2]) // 400)  # keep dlib's slow CNN affordable
        images.append(np.ascontiguousarray(rgb[::scale, ::scale]))
    assert _compare(images, ours, theirs, upsample=0) >= 26


@pytest.mark.slow
def test_lfw_subset_equals_dlib(ours: tuple, theirs: tuple) -> None:  # type: ignore[type-arg]
    root = shared_dir("lfw")
    files = sorted(Path(root).glob("*/*_0001.jpg"))[::200][:20]
    assert _compare([load_image(p) for p in files], ours, theirs, upsample=0) >= 20
