"""Alignment to any model's reference points: a similarity-transform chip cutter.

An operator's recogniser states where named landmarks must land in its input chip (ArcFace's
112x112 template, dlib's mean face, or its own). :func:`template_chip` finds the least-squares
similarity transform (rotation, uniform scale, translation; Umeyama) from those reference points
to the face's landmarks and samples the chip bilinearly through it. Coordinates are pixel
centres: chip pixel ``(u, v)`` is sampled at ``M @ (u, v) + t`` in the image. When the face is
more than 1.5 times larger than the chip, the image is first reduced by averaging ``k x k``
blocks (``k`` = the whole part of the scale), so the chip is not aliased. Pixels outside the
image are black.

The landmark names are those faceprint places (its 5-point predictor, dlib's order, and the eye
centres) and, for faces found by a detector with keypoints (BlazeFace), the detector's own points
(:data:`KEYPOINTS`: nose tip, mouth centre, ...), with ``left``/``right`` as seen in the image
(``left`` has the smaller x in an upright face). A face's points come as one array: the 5
predictor points, then the detector's 6 keypoints when it has them (:func:`landmark_points`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from .errors import InvalidInput
from .imageio import RGBImage
from .models.landmarks import similarity_transform

__all__ = [
    "ARCFACE_112",
    "ARCFACE_112_KEYPOINTS",
    "KEYPOINTS",
    "LANDMARKS",
    "landmark_points",
    "template_chip",
]

#: The landmarks faceprint places on every face: the 5-point predictor's points (dlib's order)
#: and the eye centres (the mean of each eye's two corners).
LANDMARKS: Final = (
    "right_eye_outer",
    "right_eye_inner",
    "left_eye_outer",
    "left_eye_inner",
    "nose_base",
    "left_eye",
    "right_eye",
)

#: The detector's keypoints, in the order a face's points array holds them after the predictor's 5
#: (BlazeFace's 6, renamed as seen in an upright image: its "right eye" is the image's left one).
KEYPOINTS: Final = (
    "detector_left_eye",
    "detector_right_eye",
    "nose_tip",
    "mouth_centre",
    "left_ear",
    "right_ear",
)

#: ArcFace's (InsightFace's) 112x112 reference points: left eye, right eye, nose tip, left and
#: right mouth corners, as seen in the image.
ARCFACE_112: Final = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
)

#: ArcFace's template for the points a face found by BlazeFace has: the eye centres, the nose tip
#: and the mouth centre (the midpoint of ArcFace's two mouth corners; BlazeFace places no corners).
ARCFACE_112_KEYPOINTS: Final = (
    ("left_eye", ARCFACE_112[0]),
    ("right_eye", ARCFACE_112[1]),
    ("nose_tip", ARCFACE_112[2]),
    (
        "mouth_centre",
        ((ARCFACE_112[3][0] + ARCFACE_112[4][0]) / 2, (ARCFACE_112[3][1] + ARCFACE_112[4][1]) / 2),
    ),
)

#: Blocks are averaged before sampling when the image has more than this many pixels per chip pixel.
_REDUCE_ABOVE = 1.5


def landmark_points(points: NDArray[np.float64], names: Sequence[str]) -> NDArray[np.float64]:
    """The named landmarks of a face, an ``(len(names), 2)`` array, from its points: the 5 predictor
    points, followed by the detector's :data:`KEYPOINTS` (``(11, 2)``) when it has them."""
    p = np.asarray(points, dtype=np.float64)
    if p.shape not in ((5, 2), (5 + len(KEYPOINTS), 2)):
        raise InvalidInput(f"expected (5, 2) or ({5 + len(KEYPOINTS)}, 2) landmarks, got shape {p.shape}")
    out = []
    for name in names:
        if name in KEYPOINTS:
            if len(p) == 5:
                raise InvalidInput(
                    f"aligning by {name!r} needs the detector's keypoints, and this face has none "
                    "(found by a detector without keypoints, or at a given box): detect with blazeface"
                )
            out.append(p[5 + KEYPOINTS.index(name)])
        elif name == "left_eye":
            out.append((p[2] + p[3]) / 2)
        elif name == "right_eye":
            out.append((p[0] + p[1]) / 2)
        elif name in LANDMARKS:
            out.append(p[LANDMARKS.index(name)])
        else:
            raise InvalidInput(
                f"faceprint does not place a landmark called {name!r}; it places: "
                f"{', '.join(LANDMARKS + KEYPOINTS)}"
            )
    return np.array(out, dtype=np.float64)


def template_chip(
    image: RGBImage,
    points: NDArray[np.float64],
    reference: NDArray[np.float64],
    *,
    width: int,
    height: int,
) -> RGBImage:
    """The ``height`` x ``width`` RGB chip that puts the face's ``points`` (image pixels) onto
    ``reference`` (chip pixels) by the best similarity transform."""
    src = np.asarray(points, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if src.shape != ref.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise InvalidInput(
            f"need matching (n >= 2, 2) points and reference points, got {src.shape} and {ref.shape}"
        )
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInput(f"expected an RGB image, got shape {image.shape}")
    m, t = similarity_transform(ref, src)  # chip -> image
    corners = np.array([[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1]], dtype=np.float64)
    mapped = corners @ m.T + t
    x0, y0 = (max(0, math.floor(v) - 2) for v in mapped.min(axis=0))
    x1 = min(image.shape[1], math.ceil(mapped[:, 0].max()) + 3)
    y1 = min(image.shape[0], math.ceil(mapped[:, 1].max()) + 3)
    if x0 >= x1 or y0 >= y1:  # the face lies entirely outside the image
        return np.zeros((height, width, 3), dtype=np.uint8)
    source = np.asarray(image[y0:y1, x0:x1], dtype=np.uint8)
    t = t - (x0, y0)
    k = math.floor(math.hypot(m[0, 0], m[1, 0])) if math.hypot(m[0, 0], m[1, 0]) > _REDUCE_ABOVE else 1
    if k > 1 and min(source.shape[:2]) >= k:
        source = np.asarray(Image.fromarray(source).reduce(k))
        # block i of the reduced image averages pixels i*k .. i*k + k-1: its centre is i*k + (k-1)/2
        m, t = m / k, (t - (k - 1) / 2) / k
    return _sample(source, m, t, width, height)


def _sample(
    src: NDArray[np.uint8], m: NDArray[np.float64], t: NDArray[np.float64], width: int, height: int
) -> RGBImage:
    """Bilinear samples of ``src`` at ``m @ (u, v) + t`` for every chip pixel, rounded; black outside."""
    uu, vv = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    x = m[0, 0] * uu + m[0, 1] * vv + t[0]
    y = m[1, 0] * uu + m[1, 1] * vv + t[1]
    nr, nc = src.shape[:2]
    inside = (x >= 0) & (y >= 0) & (x <= nc - 1) & (y <= nr - 1)
    left = np.clip(np.floor(x), 0, max(nc - 2, 0)).astype(np.intp)
    top = np.clip(np.floor(y), 0, max(nr - 2, 0)).astype(np.intp)
    right, bottom = np.minimum(left + 1, nc - 1), np.minimum(top + 1, nr - 1)
    fx = np.clip(x - left, 0.0, 1.0)[..., None]
    fy = np.clip(y - top, 0.0, 1.0)[..., None]
    img = src.astype(np.float64)
    value = (1 - fy) * ((1 - fx) * img[top, left] + fx * img[top, right]) + fy * (
        (1 - fx) * img[bottom, left] + fx * img[bottom, right]
    )
    out = np.where(inside[..., None], np.rint(value), 0.0)
    return np.ascontiguousarray(np.clip(out, 0, 255).astype(np.uint8))
