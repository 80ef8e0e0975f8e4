"""Test doubles for the backend protocols: deterministic, instant, no model files.

    engine = Engine(Settings(), backends=fake_backends([Detection(10, 10, 60, 60, 1.0)]))

They exercise the engine's own logic (ordering, scaling, batching, mirror averaging) in unit
tests; behaviour on real faces is tested with the real models.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ..align import face_chip
from ..imageio import RGBImage
from .base import Backends, Detection

__all__ = ["FakeDetector", "FakeEmbedder", "FakeLandmarker", "fake_backends"]

# 5 points in dlib's order, as fractions of the box: eye corners, then the nose
_POINTS = np.array([[0.75, 0.35], [0.6, 0.36], [0.25, 0.35], [0.4, 0.36], [0.5, 0.65]])


class FakeDetector:
    """Returns the given detections for every image; records the shape of each image it saw."""

    name = "fake"

    def __init__(self, detections: Sequence[Detection]) -> None:
        self.detections = list(detections)
        self.seen: list[tuple[int, ...]] = []

    def detect(self, image: RGBImage, upsample: int) -> list[Detection]:
        self.seen.append(image.shape)
        return list(self.detections)


class FakeLandmarker:
    """Places the 5 points at fixed fractions of the box."""

    name = "fake-5pt"
    mean_shape = _POINTS

    def locate_many(
        self, image: RGBImage, boxes: Sequence[tuple[float, float, float, float]]
    ) -> NDArray[np.float64]:
        return np.array([self.locate(image, box) for box in boxes], dtype=np.float64).reshape(-1, 5, 2)

    def locate(self, image: RGBImage, box: tuple[float, float, float, float]) -> NDArray[np.float64]:
        left, top, right, bottom = box
        return np.column_stack(
            [left + _POINTS[:, 0] * (right - left), top + _POINTS[:, 1] * (bottom - top)]
        ).astype(np.float64)


class FakeEmbedder:
    """An 8-d "embedding": the mean brightness of 8 vertical stripes of the chip, plus one."""

    model_id = "fake"
    dim = 8
    chip_size = 40
    keypoints_needed: tuple[str, ...] = ()
    chip_padding = 0.25

    def __init__(self) -> None:
        self.batches: list[int] = []

    def cut(self, image: RGBImage, landmarks: NDArray[np.float64]) -> RGBImage:
        """dlib's chip (get_face_chip) at :attr:`chip_size` and :attr:`chip_padding`."""
        return face_chip(image, landmarks, size=self.chip_size, padding=self.chip_padding)

    def embed_chips(self, chips: Sequence[RGBImage]) -> NDArray[np.float32]:
        self.batches.append(len(chips))
        out = np.zeros((len(chips), self.dim), dtype=np.float32)
        for i, chip in enumerate(chips):
            stripes = np.array_split(chip.astype(np.float32).mean(axis=2), self.dim, axis=1)
            out[i] = [1.0 + s.mean() for s in stripes]
        return out


def fake_backends(detections: Sequence[Detection]) -> Backends:
    return Backends(FakeDetector(detections), FakeLandmarker(), FakeEmbedder())
