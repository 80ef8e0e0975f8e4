"""dlib's MMOD CNN face detector (``mmod_human_face_detector.dat``) on onnxruntime.

The network runs on onnxruntime; everything around it follows dlib (``cnn_face_detection_model_v1``,
``input_rgb_image_pyramid<pyramid_down<6>>`` and ``loss_mmod``), so boxes and scores equal dlib's:

1. ``upsample`` times ``pyramid_up`` (dlib's bilinear ``resize_image`` to (2h+1) x (2w+2));
2. the image, normalised as (pixel - mean) / 256, and its 5/6-scaled pyramid levels (each made from
   the previous one by dlib's bilinear tensor resize) are tiled into one image;
3. every output position scoring above 0 becomes an 80x80 window mapped back through the net's
   strides and the pyramid level it falls in;
4. windows, best first, are kept unless they overlap a kept one (dlib's ``test_box_overlap``);
5. boxes are mapped back through the upsampling.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidInput
from ..imageio import RGBImage
from .base import Detection
from .dlib_net import Conv, read_mmod
from .embedder import load_onnx_session

__all__ = ["OnnxCnnDetector", "pyramid_up", "resize_bilinear", "tiled_pyramid_rects"]

_Rect = tuple[int, int, int, int]  # dlib rectangle: left, top, right, bottom (inclusive)


def resize_bilinear(src: NDArray[Any], out_h: int, out_w: int) -> NDArray[Any]:
    """dlib's SIMD ``resize_image`` with bilinear interpolation, bit for bit.

    ``src`` is (H, W, C) uint8 (RGB images: results truncated) or (C, H, W) float32 (tensor planes).
    """
    is_u8 = src.dtype == np.uint8
    planes = np.moveaxis(src, 2, 0) if is_u8 else src
    n_c, h, w = planes.shape
    xs = (w - 1) / max(out_w - 1, 1)
    ys = (h - 1) / max(out_h - 1, 1)
    y = np.cumsum(np.concatenate([[-ys], np.full(out_h, ys)]))[1:]
    top = np.floor(y).astype(np.intp)
    bottom = np.minimum(top + 1, h - 1)
    tb = y - top
    # SIMD part: four columns at a time, positions accumulated in float32
    x0 = -4 * xs
    start = np.array([x0, x0 + xs, x0 + 2 * xs, x0 + 3 * xs], dtype=np.float32)
    n_blocks_max = out_w // 4 + 2
    steps = np.full((n_blocks_max, 4), np.float32(4 * xs), dtype=np.float32)
    xf = np.add.accumulate(np.vstack([start[None, :], steps]), axis=0, dtype=np.float32)[1:]
    lefts = xf.astype(np.int64)  # truncation (cvttps)
    ok = lefts[:, 3] + 1 < w
    n_blocks = int(np.argmin(ok)) if not ok.all() else n_blocks_max
    n_simd = min(4 * n_blocks, out_w)
    n_blocks = n_simd // 4
    xf = xf[:n_blocks].reshape(-1)
    left = lefts[:n_blocks].reshape(-1)
    out = np.empty((n_c, out_h, out_w), dtype=np.float32 if not is_u8 else np.float64)
    data = planes.astype(np.float32)
    if n_simd:
        lr = xf - left.astype(np.float32)
        inv_lr = np.float32(1) - lr
        tbf = tb.astype(np.float32)[:, None]
        inv_tb = (1 - tb).astype(np.float32)[:, None]
        tlf, trf, blf, brf = inv_tb * inv_lr, inv_tb * lr, tbf * inv_lr, tbf * lr
        tl = data[:, top][:, :, left]
        tr = data[:, top][:, :, left + 1]
        bl = data[:, bottom][:, :, left]
        br = data[:, bottom][:, :, left + 1]
        value = ((tlf * tl + trf * tr) + blf * bl) + brf * br
        out[:, :, :n_simd] = np.trunc(value) if is_u8 else value
    if n_simd < out_w:
        cols = np.arange(n_simd, out_w)
        xd = np.cumsum(np.concatenate([[-xs + n_simd * xs], np.full(len(cols), xs)]))[1:]
        tl_i = np.floor(xd).astype(np.intp)
        tr_i = np.minimum(tl_i + 1, w - 1)
        d64 = planes.astype(np.float64)
        tbc = tb[:, None]
        if is_u8:
            lrd = xd - tl_i
            v = (1 - tbc) * ((1 - lrd) * d64[:, top][:, :, tl_i] + lrd * d64[:, top][:, :, tr_i]) + tbc * (
                (1 - lrd) * d64[:, bottom][:, :, tl_i] + lrd * d64[:, bottom][:, :, tr_i]
            )
            out[:, :, n_simd:] = np.trunc(v)
        else:
            lrf = (xd - tl_i).astype(np.float32)
            one = np.float32(1)
            upper = (one - lrf) * data[:, top][:, :, tl_i] + lrf * data[:, top][:, :, tr_i]
            lower = (one - lrf) * data[:, bottom][:, :, tl_i] + lrf * data[:, bottom][:, :, tr_i]
            out[:, :, n_simd:] = (
                (1 - tbc) * upper.astype(np.float64) + tbc * lower.astype(np.float64)
            ).astype(np.float32)
    if is_u8:
        return np.ascontiguousarray(np.moveaxis(out.astype(np.uint8), 0, 2))
    return out


def _lround(v: float) -> int:
    return math.floor(abs(v) + 0.5) * (1 if v >= 0 else -1)


def pyramid_up(image: RGBImage) -> RGBImage:
    """dlib's ``pyramid_up`` with ``pyramid_down<2>``: bilinear resize to (2h+1) x (2w+2)."""
    h, w = image.shape[:2]
    out_w = _lround((w - 1 + 1.25) * 2) + 1
    out_h = _lround((h - 1 + 0.75) * 2) + 1
    return resize_bilinear(np.ascontiguousarray(image), out_h, out_w)


def tiled_pyramid_rects(nr: int, nc: int, padding: int = 10, outer: int = 11) -> tuple[list[_Rect], int, int]:
    """dlib's ``compute_tiled_image_pyramid_details`` for ``pyramid_down<6>``: tile rects and size."""
    sizes = [(nc, nr)]
    rate = 5.0 / 6.0
    while True:
        nr, nc = math.floor(rate * nr), math.floor(rate * nc)
        if nr * nc == 0 or nr < 5:
            break
        sizes.append((nc, nr))
    total_height = sum(h + padding for _, h in sizes) - padding * 2
    height, prev_width = 0, 0
    w0, h0 = sizes[0]
    for w, h in sizes:
        if w <= w0 - prev_width - padding and (height - h0) * 2 >= (total_height - h0):
            break
        height += h + padding
        prev_width = w
    height -= padding
    rects: list[_Rect] = [(0, 0, w - 1, h - 1) for w, h in sizes]
    y, i = outer, 0
    while y < height + outer and i < len(rects):
        w, h = sizes[i]
        rects[i] = (outer, y, outer + w - 1, y + h - 1)
        y += h + padding
        i += 1
    y -= padding
    first = rects[0]
    while i < len(rects):
        w, h = sizes[i]
        x1, y1 = outer + w0 - 1, y - 1
        rect = (x1 - (w - 1), y1 - (h - 1), x1, y1)
        if not (rect[2] < first[0] or rect[0] > first[2] or rect[3] < first[1] or rect[1] > first[3]):
            break
        rects[i] = rect
        y -= h + padding
        i += 1
    return rects[:i], height + outer * 2, w0 + outer * 2


def _nearest_rect(rects: list[_Rect], x: int, y: int) -> int:
    best, best_dist = 0, math.inf
    for i, (lft, t, r, b) in enumerate(rects):
        if lft <= x <= r and t <= y <= b:
            return i
        dist = math.hypot(min(max(x, lft), r) - x, min(max(y, t), b) - y)
        if dist < best_dist:
            best, best_dist = i, dist
    return best


def _overlaps(a: _Rect, b: _Rect, iou: float, covered: float) -> bool:
    """dlib's test_box_overlap (the 'outer' area is the bounding box of both rectangles)."""

    def area(r: _Rect) -> int:
        return max(0, r[2] - r[0] + 1) * max(0, r[3] - r[1] + 1)

    inner = area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    if inner == 0:
        return False
    outer = area((min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])))
    return inner / outer > iou or inner / area(a) > covered or inner / area(b) > covered


class OnnxCnnDetector:
    """dlib's MMOD CNN face detector; the network on onnxruntime, the rest in numpy."""

    name = "cnn"

    def __init__(self, path: Path, *, threads: int = 0, cache: str = "") -> None:
        net = read_mmod(path)
        self._session = load_onnx_session(path, image_size=None, threads=threads, cache=cache)
        self._mean = np.array(net.mean_rgb, dtype=np.float32).reshape(3, 1, 1)
        windows = net.loss["detector_windows"]
        assert isinstance(windows, list) and len(windows) == 1
        self._window = (float(windows[0][0]), float(windows[0][1]))
        nms = net.loss["overlaps_nms"]
        assert isinstance(nms, tuple)
        self._nms = (float(nms[0]), float(nms[1]))
        # output -> input point mapping through the convolutions: p = p * stride - padding + k // 2
        self._convs = [(c.stride, c.padding, c.weights.shape[2:]) for c in net.layers if isinstance(c, Conv)]

    def _to_input(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
        for (sy, sx), (py, px), (kh, kw) in reversed(self._convs):
            x = x * sx - px + kw // 2
            y = y * sy - py + kh // 2
        return x, y

    def tensor(self, image: RGBImage) -> tuple[NDArray[np.float32], list[_Rect]]:
        """The tiled, normalised pyramid dlib's input layer makes of ``image`` (3, H, W), and its tiles."""
        h, w = image.shape[:2]
        rects, nr, nc = tiled_pyramid_rects(h, w)
        data = np.zeros((3, nr, nc), dtype=np.float32)
        l0, t0, r0, b0 = rects[0]
        data[:, t0 : b0 + 1, l0 : r0 + 1] = (
            np.moveaxis(image, 2, 0).astype(np.float32) - self._mean
        ) / np.float32(256)
        for prev, cur in itertools.pairwise(rects):
            src = data[:, prev[1] : prev[3] + 1, prev[0] : prev[2] + 1]
            data[:, cur[1] : cur[3] + 1, cur[0] : cur[2] + 1] = resize_bilinear(
                src, cur[3] - cur[1] + 1, cur[2] - cur[0] + 1
            )
        return data, rects

    def detect(self, image: RGBImage, upsample: int) -> list[Detection]:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InvalidInput(f"expected an RGB uint8 image, got {image.dtype} {image.shape}")
        for _ in range(upsample):
            image = pyramid_up(image)
        if min(image.shape[:2]) < min(self._window):
            return []  # smaller than the detection window: no face fits (and the net needs the room)
        data, rects = self.tensor(image)
        scores = self._session.run(None, {"input": data[None]})[0][0, 0]
        rows, cols = np.nonzero(scores > 0)
        if rows.size == 0:
            return []
        values = scores[rows, cols].astype(np.float64)
        px, py = self._to_input(cols.astype(np.float64), rows.astype(np.float64))
        half_w, half_h = (self._window[0] - 1) / 2, (self._window[1] - 1) / 2
        candidates = []
        for x, y, score in zip(px, py, values, strict=True):
            level = _nearest_rect(rects, math.floor(x + 0.5), math.floor(y + 0.5))
            ox, oy = rects[level][0], rects[level][1]
            box = [x - half_w - ox, y - half_h - oy, x + half_w - ox, y + half_h - oy]
            for _ in range(level):  # pyramid_down<6>::point_up
                box = [v * 1.2 + 0.3 for v in box]
            candidates.append((score, box))
        candidates.sort(key=lambda c: -c[0])
        kept: list[tuple[float, _Rect]] = []
        for score, box in candidates:
            rect = (_lround(box[0]), _lround(box[1]), _lround(box[2]), _lround(box[3]))
            if any(_overlaps(k, rect, *self._nms) for _, k in kept):
                continue
            kept.append((score, rect))
        out = []
        for score, rect in kept:
            corners = [float(v) for v in rect]
            for _ in range(upsample):  # pyramid_down<2>::point_down
                corners = [
                    corners[0] / 2 - 1.25,
                    corners[1] / 2 - 0.75,
                    corners[2] / 2 - 1.25,
                    corners[3] / 2 - 0.75,
                ]
            l2, t2, r2, b2 = (_lround(v) for v in corners)
            out.append(Detection(l2, t2, r2 + 1, b2 + 1, score))
        return out
