"""MediaPipe's BlazeFace (full-range model) on onnxruntime, as a detector for whole photos.

The network was trained on 192x192 images; it is fully convolutional up to its last reshape, so
the graph built by :mod:`.tflite_graph` runs on a whole image at once and gives one anchor per
4x4 cell. It finds faces of about 16 to 100 pixels, so the image is searched as a pyramid: the
working image, then each level a third of the previous one's size, down to about 48 px, which
covers faces from ~16 px up to the whole image. Hits of all levels are merged by MediaPipe's
weighted non-maximum suppression (overlapping hits are averaged, weighted by score).

Boxes are BlazeFace's own; the engine maps them to the boxes dlib's 5-point predictor expects
(see :func:`faceprint.models.landmarks.NumpyShapePredictor.refine`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from ..imageio import RGBImage
from ..samples import sample_photo
from .base import Detection
from .manifest import Manifest
from .onnx_graph import cache_dir, cached_file, file_sha256, open_session
from .quantize import quantize_int8
from .tflite_graph import build_onnx_from_tflite

__all__ = ["BlazeFaceDetector", "calibration_feeds", "weighted_nms"]

#: Bump when :func:`calibration_feeds` changes: the int8 graph is cached under this version.
_CALIBRATION_VERSION = "c1"


def calibration_feeds(multiple: int) -> list[dict[str, NDArray[np.float32]]]:
    """Inputs that set the int8 graph's activation ranges: the public-domain photos faceprint ships
    (:mod:`faceprint.samples`: the astronaut, a cat, a coffee cup, Grace Hopper), whole and with
    their faces shrunk onto flat and noisy canvases at the sizes the pyramid sees (16-100 px).
    Deterministic."""
    photos = [
        Image.fromarray(sample_photo(name)) for name in ("astronaut", "chelsea", "coffee", "grace_hopper")
    ]
    hopper = photos[-1]
    rng = np.random.default_rng(0)
    images: list[RGBImage] = [np.asarray(p) for p in photos]
    for side in (48, 96, 160, 256):  # a photo of width ``side`` has a face of about side/3
        canvas = rng.normal(128, 40, (384, 512, 3)).clip(0, 255).astype(np.uint8)
        flat = np.full((384, 512, 3), int(rng.integers(60, 200)), dtype=np.uint8)
        for target in (canvas, flat):
            im = Image.fromarray(target)
            for i, photo in enumerate((photos[0], hopper)):
                small = photo.resize(
                    (side, round(side * photo.height / photo.width)), Image.Resampling.LANCZOS
                )
                im.paste(small, (20 + i * 256, 20))
            images.append(np.asarray(im))
    feeds = []
    for image in images:
        h, w = image.shape[:2]
        tensor = np.full(
            (1, 3, -(-h // multiple) * multiple, -(-w // multiple) * multiple), 127.5, dtype=np.float32
        )
        tensor[0, :, :h, :w] = image.transpose(2, 0, 1)
        feeds.append({"input": tensor})
    return feeds


def _resize(image: RGBImage, width: int, height: int) -> RGBImage:
    if (width, height) == (image.shape[1], image.shape[0]):
        return image
    pil = Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(pil)


def _iou(box: NDArray[np.float64], boxes: NDArray[np.float64]) -> NDArray[np.float64]:
    left = np.maximum(box[0], boxes[:, 0])
    top = np.maximum(box[1], boxes[:, 1])
    right = np.minimum(box[2], boxes[:, 2])
    bottom = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    out: NDArray[np.float64] = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    return out


def weighted_nms(
    boxes: NDArray[np.float64], points: NDArray[np.float64], scores: NDArray[np.float64], iou: float
) -> list[tuple[NDArray[np.float64], NDArray[np.float64], float]]:
    """MediaPipe's weighted suppression: best hit first, every hit overlapping it by more than
    ``iou`` joins its cluster, the cluster's box and points are the score-weighted mean, its score
    the best one's. ``boxes`` (n, 4), ``points`` (n, k, 2), ``scores`` (n,)."""
    order = np.argsort(-scores, kind="stable")
    boxes, points, scores = boxes[order], points[order], scores[order]
    alive = np.ones(len(scores), dtype=bool)
    out = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        members = alive & (_iou(boxes[i], boxes) > iou)
        members[i] = True
        alive &= ~members
        w = scores[members] / scores[members].sum()
        box = (boxes[members] * w[:, None]).sum(axis=0)
        pts = (points[members] * w[:, None, None]).sum(axis=0)
        out.append((box, pts, float(scores[i])))
    return out


class BlazeFaceDetector:
    """BlazeFace full-range on a pyramid of the image; boxes, scores (0-1) and 6 keypoints."""

    name = "blazeface"

    def __init__(self, manifest: Manifest, *, threads: int = 0, cache: str = "") -> None:
        d = manifest.defaults
        self.min_score = float(d["min_score"])
        self._scale = float(d["input_scale"])
        self._offset = float(d["input_offset"])
        self._multiple = int(d["size_multiple"])
        self._stride = int(d["anchor_stride"])
        self._step = float(d["level_step"])
        self._nms_iou = float(d["nms_iou"])
        self.precision = str(d.get("precision", "float32"))
        path = manifest.verified_path()
        directory, stem = cache_dir(cache), f"{path.stem}-{file_sha256(path)[:16]}"
        sessions: list[Any] = []

        def valid(p: Path) -> bool:
            sessions.append(open_session(p, threads))
            return True

        def build_float() -> bytes:
            return build_onnx_from_tflite(path, scale=self._scale, offset=self._offset)

        float_graph = cached_file(directory, f"{stem}.onnx", build_float, lambda p: p.stat().st_size > 0)
        if self.precision == "int8":

            def build_int8() -> bytes:
                return quantize_int8(float_graph.read_bytes(), calibration_feeds(self._multiple))

            target = cached_file(directory, f"{stem}-int8-{_CALIBRATION_VERSION}.onnx", build_int8, valid)
        else:
            target = float_graph
        self._session: Any = sessions[-1] if sessions else open_session(target, threads)

    def levels(self, height: int, width: int) -> list[float]:
        """Scales of the pyramid levels for an image of this size (1 first)."""
        scales = [1.0]
        while min(height, width) * scales[-1] / self._step >= 48:
            scales.append(scales[-1] / self._step)
        return scales

    def raw(self, image: RGBImage) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Hits of one level above ``min_score``: boxes (n, 4), keypoints (n, 6, 2), scores (n,)."""
        height, width = image.shape[:2]
        m = self._multiple
        padded_h, padded_w = -(-height // m) * m, -(-width // m) * m
        tensor = np.zeros((1, 3, padded_h, padded_w), dtype=np.float32)
        # padding with mid-grey (normalised 0), the network's neutral input
        tensor[0] = -self._offset / self._scale
        tensor[0, :, :height, :width] = image.transpose(2, 0, 1)
        regressors, logits = self._session.run(None, {"input": tensor})
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[0, :, 0].astype(np.float64), -100, 100)))
        keep = np.nonzero(scores >= self.min_score)[0]
        cols = padded_w // self._stride
        cy, cx = np.divmod(keep, cols)
        anchor_x = (cx + 0.5) * self._stride
        anchor_y = (cy + 0.5) * self._stride
        r = regressors[0, keep].astype(np.float64)
        centre_x, centre_y = anchor_x + r[:, 0], anchor_y + r[:, 1]
        half_w, half_h = r[:, 2] / 2, r[:, 3] / 2
        boxes = np.stack([centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h], axis=1)
        points = r[:, 4:16].reshape(-1, 6, 2) + np.stack([anchor_x, anchor_y], axis=1)[:, None, :]
        return boxes, points, scores[keep]

    def detect(self, image: RGBImage, upsample: int) -> list[Detection]:
        if upsample:
            factor = 2**upsample
            image = _resize(image, image.shape[1] * factor, image.shape[0] * factor)
        else:
            factor = 1
        height, width = image.shape[:2]
        all_boxes, all_points, all_scores = [], [], []
        for scale in self.levels(height, width):
            w, h = max(1, round(width * scale)), max(1, round(height * scale))
            boxes, points, scores = self.raw(_resize(image, w, h))
            sx, sy = width / w / factor, height / h / factor
            all_boxes.append(boxes * np.array([sx, sy, sx, sy]))
            all_points.append(points * np.array([sx, sy]))
            all_scores.append(scores)
        boxes = np.concatenate(all_boxes)
        if len(boxes) == 0:
            return []
        merged = weighted_nms(boxes, np.concatenate(all_points), np.concatenate(all_scores), self._nms_iou)
        return [
            Detection(
                float(box[0]),
                float(box[1]),
                float(box[2]),
                float(box[3]),
                score,
                tuple((float(x), float(y)) for x, y in pts),
            )
            for box, pts, score in merged
        ]
