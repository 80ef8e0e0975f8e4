from __future__ import annotations

import numpy as np
import pytest

from faceprint.calibrate import Calibration
from faceprint.errors import InvalidInput
from faceprint.faces import Template
from faceprint.match import compare, distance_from_similarity, similarities

RNG = np.random.default_rng(2)
TABLE = Calibration.from_scores(RNG.normal(0.0, 0.1, 100_000), model="m")


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_templates_are_unit_and_read_only() -> None:
    t = Template(np.array([3.0, 4.0]), "m")
    np.testing.assert_allclose(t.vector, [0.6, 0.8], rtol=1e-6)
    with pytest.raises(ValueError):
        t.vector[0] = 1.0
    for bad in (np.zeros(3), np.array([np.nan, 1.0]), np.zeros((2, 2)), np.array([])):
        with pytest.raises(InvalidInput):
            Template(bad, "m")


def test_compare_decides_at_the_calibrated_threshold() -> None:
    a = unit(RNG.normal(size=8))
    same = compare(Template(a, "m"), Template(a, "m"), TABLE, fmr=1e-3)
    assert (
        same.is_match
        and same.similarity == pytest.approx(1.0)
        and same.distance == pytest.approx(0.0, abs=1e-3)
    )
    assert same.fmr == TABLE.min_fmr
    other = compare(Template(a, "m"), Template(-a, "m"), TABLE, fmr=1e-3)
    assert not other.is_match and other.distance == pytest.approx(2.0) and other.fmr == 1.0
    assert same.threshold == other.threshold == TABLE.threshold(1e-3)


def test_compare_refuses_mixed_models() -> None:
    with pytest.raises(InvalidInput, match="different models"):
        compare(Template(np.ones(4), "m"), Template(np.ones(4), "x"), TABLE)


def test_similarities_vectorised() -> None:
    gallery = np.stack([unit(RNG.normal(size=8)) for _ in range(5)]).astype(np.float32)
    q = Template(gallery[3], "m")
    scores = similarities(q, gallery)
    assert scores.shape == (5,) and int(np.argmax(scores)) == 3
    assert similarities(q, np.zeros((0, 8), np.float32)).shape == (0,)
    with pytest.raises(InvalidInput):
        similarities(q, np.zeros((3, 7), np.float32))


def test_distance_from_similarity() -> None:
    assert distance_from_similarity(1.0) == 0.0
    assert distance_from_similarity(0.0) == pytest.approx(np.sqrt(2))
