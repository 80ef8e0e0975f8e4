"""Alignment: five landmarks to the canonical face chip the embedder was trained on.

A numpy port of dlib's ``get_face_chip`` (``get_face_chip_details`` + ``extract_image_chip``):
the 5 points are mapped onto dlib's mean face by a least-squares similarity transform; when the
chip is much smaller than the face, the image is first reduced by dlib's 5-tap ``pyramid_down<2>``
(as dlib does to avoid aliasing); then the chip is sampled bilinearly, values truncated to uint8,
pixels outside the image black. The chip equals dlib's pixel for pixel, so embeddings do too.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from .errors import InvalidInput
from .imageio import RGBImage
from .models.landmarks import similarity_transform

__all__ = ["eye_landmarks", "face_chip", "pyramid_down2"]

# dlib's mean face for the 5-point model (get_face_chip_details), in the unit square
_MEAN_FACE_5 = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)


def eye_landmarks(landmarks: NDArray[np.float64]) -> NDArray[np.float64]:
    """The 5 points with the nose base replaced by where dlib's mean face puts it given the eyes.

    A mask covers the nose base, and the landmarker's point slides on it; a chip cut at these
    points (:func:`face_chip`) is aligned on the 4 eye corners alone, the same for a masked face
    and a bare one. The 4 corners are fitted to the mean face's by a least-squares similarity.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    src, dst = _MEAN_FACE_5[:4], pts[:4]
    sc, dc = src - src.mean(axis=0), dst - dst.mean(axis=0)
    # similarity (complex multiplication): dst ~ z * src + t
    zs, zd = sc[:, 0] + 1j * sc[:, 1], dc[:, 0] + 1j * dc[:, 1]
    z = np.vdot(zs, zd) / np.vdot(zs, zs)
    nose = _MEAN_FACE_5[4] - src.mean(axis=0)
    mapped = z * (nose[0] + 1j * nose[1])
    out = pts.copy()
    out[4] = dst.mean(axis=0) + np.array([mapped.real, mapped.imag])
    return out


# a dlib drectangle: (left, top, right, bottom), inclusive, float
_Rect = tuple[float, float, float, float]


def _width(r: _Rect) -> float:
    return 0.0 if r[0] > r[2] or r[1] > r[3] else r[2] - r[0] + 1


def _area(r: _Rect) -> float:
    return 0.0 if r[0] > r[2] or r[1] > r[3] else (r[2] - r[0] + 1) * (r[3] - r[1] + 1)


def _rect_down(r: _Rect) -> _Rect:
    """pyramid_down<2>::rect_down: each corner p -> p / 2 - (1.25, 0.75)."""
    return (r[0] / 2 - 1.25, r[1] / 2 - 0.75, r[2] / 2 - 1.25, r[3] / 2 - 0.75)


def _lround(v: float) -> int:
    return math.floor(abs(v) + 0.5) * (1 if v >= 0 else -1)


def pyramid_down2(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """dlib's ``pyramid_down<2>`` on an 8-bit image: a 5-tap [1 4 6 4 1] filter, halving the size."""
    nr, nc = image.shape[:2]
    if nr <= 8 or nc <= 8:
        return np.zeros((0, 0, *image.shape[2:]), dtype=np.uint8)
    img = image.astype(np.uint32)
    out_c = (nc - 3) // 2
    cols = 2 * np.arange(out_c)
    temp = (
        img[:, cols] + 4 * img[:, cols + 1] + 6 * img[:, cols + 2] + 4 * img[:, cols + 3] + img[:, cols + 4]
    )
    rows = np.arange(2, nr - 2, 2)
    down = temp[rows - 2] + 4 * temp[rows - 1] + 6 * temp[rows] + 4 * temp[rows + 1] + temp[rows + 2]
    result: NDArray[np.uint8] = (down // 256).astype(np.uint8)[: (nr - 3) // 2]
    return result


def _bilinear(
    src: NDArray[np.uint8], m: NDArray[np.float64], b: NDArray[np.float64], rows: int, cols: int
) -> RGBImage:
    """dlib's transform_image with interpolate_bilinear: out(r, c) = src(m @ (c, r) + b)."""
    cc, rr = np.meshgrid(np.arange(cols, dtype=np.float64), np.arange(rows, dtype=np.float64))
    x = (m[0, 0] * cc + m[0, 1] * rr) + b[0]
    y = (m[1, 0] * cc + m[1, 1] * rr) + b[1]
    left, top = np.floor(x), np.floor(y)
    nr, nc = src.shape[:2]
    inside = (left >= 0) & (top >= 0) & (left + 1 < nc) & (top + 1 < nr)
    li = np.where(inside, left, 0).astype(np.intp)
    ti = np.where(inside, top, 0).astype(np.intp)
    lr = (x - left)[..., None]
    tb = (y - top)[..., None]
    img = src.astype(np.float64)
    tl, tr = img[ti, li], img[ti, li + 1]
    bl, br = img[ti + 1, li], img[ti + 1, li + 1]
    value = (1 - tb) * ((1 - lr) * tl + lr * tr) + tb * ((1 - lr) * bl + lr * br)
    out = np.where(inside[..., None], value, 0.0)
    return np.ascontiguousarray(out.astype(np.uint8))


def face_chip(
    image: RGBImage, landmarks: NDArray[np.float64], *, size: int = 150, padding: float = 0.25
) -> RGBImage:
    """The ``size`` x ``size`` RGB chip of the face whose 5 landmarks are given (dlib's get_face_chip).

    ``landmarks`` may carry the detector's keypoints after the 5 (a face's whole points array):
    only the 5 are used."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim == 2 and points.shape[0] == 11:
        points = points[:5]
    if points.shape != (5, 2):
        raise InvalidInput(f"expected (5, 2) landmarks, got shape {points.shape}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInput(f"expected an RGB image, got shape {image.shape}")
    points = np.floor(points + 0.5)  # dlib's full_object_detection holds integer points
    chip_points = (padding + _MEAN_FACE_5) / (2 * padding + 1) * size
    m, t = similarity_transform(chip_points, points)
    px, py = m[0, 0], m[1, 0]  # tform.get_m() * (1, 0)
    angle = math.atan2(py, px)
    scale = math.hypot(px, py)
    cx, cy = m @ np.array([size / 2.0, size / 2.0]) + t
    half_w, half_h = (size * scale - 1) / 2, (size * scale - 1) / 2
    rect: _Rect = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    chip_area = size * size

    depth, grow = 0, 2.0
    r = _rect_down(rect)
    while _area(r) > chip_area:
        r = _rect_down(r)
        depth += 1
        grow = grow * 2 + 2
    cos_a, sin_a = math.cos(angle), math.sin(angle)

    def rotate(center: tuple[float, float], p: tuple[float, float]) -> tuple[float, float]:
        dx, dy = p[0] - center[0], p[1] - center[1]
        return (cos_a * dx - sin_a * dy + center[0], sin_a * dx + cos_a * dy + center[1])

    center = ((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2)
    corners = [
        rotate(center, p)
        for p in ((rect[0], rect[1]), (rect[2], rect[1]), (rect[0], rect[3]), (rect[2], rect[3]))
    ]
    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
    height, width = image.shape[:2]
    grown = (
        max(min(xs) - grow, 0.0),
        max(min(ys) - grow, 0.0),
        min(max(xs) + grow, width - 1.0),
        min(max(ys) + grow, height - 1.0),
    )
    if grown[0] > grown[2] or grown[1] > grown[3]:  # the face lies entirely outside the image
        return np.zeros((size, size, 3), dtype=np.uint8)
    bl, bt, br, bb = (_lround(v) for v in grown)
    source: NDArray[np.uint8] = np.asarray(image[bt : bb + 1, bl : br + 1], dtype=np.uint8)
    level = -1
    r = (rect[0] - bl, rect[1] - bt, rect[2] - bl, rect[3] - bt)
    while _area(_rect_down(r)) > chip_area:
        level += 1
        r = _rect_down(r)
    for _ in range(level + 1):
        source = pyramid_down2(source)
    center = ((r[0] + r[2]) / 2, (r[1] + r[3]) / 2)
    to = np.array([rotate(center, p) for p in ((r[0], r[1]), (r[2], r[1]), (r[0], r[3]))])
    frm = np.array([[0.0, 0.0], [size - 1.0, 0.0], [0.0, size - 1.0]])
    # find_affine_transform: the exact affine map of three points (Q * pinv(P) in dlib)
    p_mat = np.vstack([frm.T, np.ones(3)])
    affine = to.T @ np.linalg.pinv(p_mat)
    return _bilinear(source, affine[:, :2], affine[:, 2], size, size)
