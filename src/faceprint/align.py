"""Alignment: five landmarks to the canonical face chip the embedder was trained on.

dlib maps the 5 points onto a mean face by a least-squares similarity transform and samples the
chip bilinearly (``get_face_chip``); this module wraps that so the embedding equals dlib's.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .errors import InvalidInput
from .imageio import RGBImage
from .models.dlib_backend import import_dlib

__all__ = ["face_chip"]


def face_chip(
    image: RGBImage, landmarks: NDArray[np.float64], *, size: int = 150, padding: float = 0.25
) -> RGBImage:
    """The ``size`` x ``size`` RGB chip of the face whose 5 landmarks are given."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2):
        raise InvalidInput(f"expected (5, 2) landmarks, got shape {points.shape}")
    dlib = import_dlib()
    parts = [dlib.point(round(x), round(y)) for x, y in points]
    xs, ys = points[:, 0], points[:, 1]
    rect = dlib.rectangle(round(xs.min()), round(ys.min()), round(xs.max()), round(ys.max()))
    chip = dlib.get_face_chip(image, dlib.full_object_detection(rect, parts), size, padding)
    return np.ascontiguousarray(chip, dtype=np.uint8)
