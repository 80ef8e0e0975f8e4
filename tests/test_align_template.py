"""The similarity-transform chip cutter, checked against chips computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from faceprint.align import face_chip
from faceprint.align_template import ARCFACE_112, KEYPOINTS, landmark_points, template_chip
from faceprint.errors import InvalidInput

REFERENCE = np.array(ARCFACE_112)


def _ramp() -> NDArray[np.uint8]:
    """R = x, G = y, B = 77: every pixel says where it is."""
    y, x = np.mgrid[0:256, 0:256]
    return np.stack([x, y, np.full_like(x, 77)], axis=-1).astype(np.uint8)


def test_a_shifted_face_gives_the_shifted_crop() -> None:
    image = _ramp()
    chip = template_chip(image, REFERENCE + np.array([30, 40]), REFERENCE, width=112, height=112)
    v, u = np.mgrid[0:112, 0:112]
    assert np.array_equal(chip[..., 0], u + 30) and np.array_equal(chip[..., 1], v + 40)
    assert np.all(chip[..., 2] == 77)


def test_a_face_twice_the_size_is_averaged_then_sampled() -> None:
    image = _ramp()
    chip = template_chip(image, REFERENCE * 2 + (10, 20), REFERENCE, width=112, height=112)
    v, u = np.mgrid[0:112, 0:112]
    # chip pixel (u, v) sits at image (2u + 10, 2v + 20); 2x2 averaging rounds by at most half a level
    assert np.abs(chip[..., 0].astype(int) - (2 * u + 10)).max() <= 1
    assert np.abs(chip[..., 1].astype(int) - (2 * v + 20)).max() <= 1


def test_a_rotated_face_is_turned_upright() -> None:
    image = _ramp()
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])  # 90 degrees: chip (u, v) -> image (150 - v, u + 60)
    points = REFERENCE @ turn.T + (150, 60)
    chip = template_chip(image, points, REFERENCE, width=112, height=112)
    v, u = np.mgrid[0:112, 0:112]
    assert np.array_equal(chip[..., 0], 150 - v) and np.array_equal(chip[..., 1], u + 60)


def test_outside_the_image_is_black_and_a_face_beyond_it_gives_a_black_chip() -> None:
    image = _ramp()
    chip = template_chip(image, REFERENCE - (60, 0), REFERENCE, width=112, height=112)
    assert np.all(chip[:, :50] == 0) and chip[0, 100, 0] == 40
    assert not template_chip(image, REFERENCE + 1000, REFERENCE, width=112, height=112).any()


def test_non_square_chips_and_two_point_alignment() -> None:
    image = _ramp()
    ref = np.array([[20.0, 30.0], [60.0, 30.0]])
    chip = template_chip(image, ref + np.array([5, 7]), ref, width=80, height=96)
    assert chip.shape == (96, 80, 3) and chip[0, 0, 0] == 5 and chip[95, 79, 1] == 95 + 7


def test_bad_points_are_typed_errors() -> None:
    with pytest.raises(InvalidInput):
        template_chip(_ramp(), REFERENCE[:1], REFERENCE[:1], width=112, height=112)
    with pytest.raises(InvalidInput):
        template_chip(_ramp(), REFERENCE, REFERENCE[:4], width=112, height=112)


def test_named_landmarks_come_from_the_five_points() -> None:
    points = np.array([[90.0, 40.0], [70.0, 42.0], [20.0, 40.0], [40.0, 42.0], [55.0, 80.0]])
    got = landmark_points(points, ["left_eye", "right_eye", "nose_base", "left_eye_outer"])
    assert np.allclose(got, [[30, 41], [80, 41], [55, 80], [20, 40]])
    with pytest.raises(InvalidInput, match="mouth_left"):
        landmark_points(points, ["mouth_left"])


def test_detector_keypoints_follow_the_five_points() -> None:
    points = np.array([[90.0, 40.0], [70.0, 42.0], [20.0, 40.0], [40.0, 42.0], [55.0, 80.0]])
    keypoints = np.array([[31.0, 41.0], [79.0, 41.0], [55.0, 75.0], [55.0, 95.0], [5.0, 50.0], [105.0, 50.0]])
    got = landmark_points(
        np.vstack([points, keypoints]), ["left_eye", "nose_tip", "mouth_centre", "right_ear"]
    )
    assert np.allclose(got, [[30, 41], [55, 75], [55, 95], [105, 50]])
    assert KEYPOINTS.index("mouth_centre") == 3  # BlazeFace's order
    with pytest.raises(InvalidInput, match=r"needs the detector's keypoints.*blazeface"):
        landmark_points(points, ["left_eye", "nose_tip"])
    with pytest.raises(InvalidInput, match=r"\(5, 2\) or \(11, 2\)"):
        landmark_points(points[:4], ["left_eye"])


def test_dlibs_own_points_match_dlibs_chip_closely() -> None:
    """The general cutter with dlib's mean face as its reference is dlib's chip, up to dlib's
    rounding of the landmarks to whole pixels."""
    from faceprint.models.operator import parse_manifest

    image = _ramp()
    m = parse_manifest(_dlib_manifest())
    ref = np.array(m.alignment.points)
    points = ref * 1.0 + (70, 80)  # a face exactly the chip's size: no pyramid, no rotation
    ours = template_chip(image, points, ref, width=150, height=150).astype(int)
    dlibs = face_chip(image, points, size=150, padding=0.25).astype(int)
    assert np.abs(ours - dlibs).max() <= 1 and np.abs(ours - dlibs).mean() < 0.5


def _dlib_manifest() -> dict[str, object]:
    from faceprint.models.export_dlib import dlib_manifest

    return dlib_manifest("0" * 64)
