"""tests/compose.py: the same seed gives the same photo, and its boxes are where the faces are."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

import faceprint
from tests.compose import ComposedPhoto, compose_photo, lfw_files
from tests.conftest import shared_dir

SMALL = {"width": 1600, "height": 1200, "faces": (2, 3), "sizes": (120.0, 260.0)}


@pytest.fixture(scope="module")
def lfw() -> tuple[Path, list[Path]]:
    folder = shared_dir("lfw")
    return folder, lfw_files(folder)


def _small(lfw: tuple[Path, list[Path]], seed: int) -> ComposedPhoto:
    return compose_photo(lfw[0], seed, files=lfw[1], **SMALL)  # type: ignore[arg-type]


def test_same_seed_same_photo(lfw: tuple[Path, list[Path]]) -> None:
    a, b, other = _small(lfw, 7), _small(lfw, 7), _small(lfw, 8)
    assert a == b  # bytes, boxes, people, sources and tiles
    assert a.jpeg != other.jpeg
    assert 2 <= len(a.boxes) <= 3 and len(set(a.people)) == len(a.people)
    assert all(120 <= s <= 260 for s in a.sizes)
    for (left, top, right, bottom), tile in zip(a.boxes, a.tiles, strict=True):
        assert 0 <= tile[0] < left < right < tile[2] <= a.width
        assert 0 <= tile[1] < top < bottom < tile[3] <= a.height
    assert a.rgb().shape == (1200, 1600, 3)


def test_boxes_are_where_the_faces_are(lfw: tuple[Path, list[Path]]) -> None:
    """A detector finds a face at every ground-truth box, and nothing else.

    HOG (dlib extra) at upsample 0 when dlib is installed, else the CNN at upsample 0: faces of
    120 px or more need no upsampling. Matching: the rule of bench/bench_detect.py.
    """
    detector = "hog" if importlib.util.find_spec("dlib") else "cnn"
    engine = faceprint.Engine(faceprint.Settings(detector=detector, upsample=0))
    for seed in (1, 2):
        photo = _small(lfw, seed)
        found = [f.box for f in engine.detect(photo.jpeg)]
        assert len(found) == len(photo.boxes), (seed, found, photo.boxes)
        for left, top, right, bottom in photo.boxes:
            width, cx, cy = right - left, (left + right) / 2, (top + bottom) / 2
            assert any(
                math.hypot(b.left / 2 + b.right / 2 - cx, b.top / 2 + b.bottom / 2 - cy) <= 0.35 * width
                and 0.5 <= (b.right - b.left) / width <= 2
                for b in found
            ), (seed, (left, top, right, bottom), found)
