"""Geometry of the detection front end: a box moved to the one dlib's 5-point predictor expects
(:func:`dlib_box`, :func:`refine_boxes`) and the working image of a photo (:func:`fit_side`)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from .imageio import RGBImage
from .models import Landmarker
from .models.landmarks import fit_box

__all__ = ["dlib_box", "fit_side", "refine_boxes"]

#: Refinement: a box whose corners move less than this share of its side has settled; at most this
#: many extra predictor runs.
_SETTLED = 0.04
_PASSES = 3
#: dlib's HOG box relative to the box fitted to the predictor's mean shape (see :func:`dlib_box`).
_DLIB_BOX_SHIFT = (-0.007, 0.036)
_DLIB_BOX_SCALE = 1.015


def dlib_box(fitted: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The box of dlib's HOG detector for a face whose mean-shape box is ``fitted``.

    dlib's boxes sit, on average, lower and slightly larger than the box fitted to the predictor's
    mean shape: by :data:`_DLIB_BOX_SHIFT` and :data:`_DLIB_BOX_SCALE` of its side, measured on the
    86 faces that dlib's HOG finds in the test photos of scikit-image, matplotlib,
    ``../shared/data/faces`` and dlib's detection examples (standard errors 0.7-0.9%; LFW, measured
    apart and not used, agrees within 1%). The 5-point predictor and the embedder behind it were
    trained on such boxes.
    """
    left, top, right, bottom = fitted
    side = (right - left) * _DLIB_BOX_SCALE
    cx = (left + right) / 2 + _DLIB_BOX_SHIFT[0] * (right - left)
    cy = (top + bottom) / 2 + _DLIB_BOX_SHIFT[1] * (bottom - top)
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def refine_boxes(
    landmarker: Landmarker,
    image: RGBImage,
    boxes: list[tuple[float, float, float, float]],
    points: NDArray[np.float64],
) -> tuple[list[tuple[float, float, float, float]], NDArray[np.float64]]:
    """Move each box to the one the predictor expects for its points and run it again, until the box
    stays put (its corners move by less than :data:`_SETTLED` of its side; at most
    :data:`_PASSES` more runs). A settled box gives the same points when given back, so embedding
    a detected face at its reported box reproduces its template."""
    boxes, points = list(boxes), points.copy()
    for _ in range(_PASSES):
        moved = []
        for i, (box, pts) in enumerate(zip(boxes, points, strict=True)):
            fitted = dlib_box(fit_box(landmarker.mean_shape, pts))
            side = max(box[2] - box[0], 1.0)
            if max(abs(a - b) for a, b in zip(fitted, box, strict=True)) > _SETTLED * side:
                boxes[i] = fitted
                moved.append(i)
        if not moved:
            break
        points[moved] = landmarker.locate_many(image, [boxes[i] for i in moved])
    return boxes, points


def fit_side(image: RGBImage, side: int) -> RGBImage:
    """``image`` reduced (box filter: antialiased, and half the cost of bilinear here) so that its
    longer side is ``side``."""
    height, width = image.shape[:2]
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(image).resize(size, Image.Resampling.BOX)
    return np.ascontiguousarray(np.asarray(small))
