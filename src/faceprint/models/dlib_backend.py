"""dlib's own Python bindings (the ``dlib-bin`` wheel) running dlib's CC0 models.

dlib is imported lazily, on first use, and its errors are translated into
:class:`~faceprint.errors.ModelError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..align import face_chip
from ..errors import ModelError
from ..imageio import RGBImage
from .base import Detection

__all__ = ["CnnDetector", "HogDetector", "ResNetEmbedder", "ShapePredictor5", "import_dlib"]


def import_dlib() -> ModuleType:
    try:
        import dlib
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ModelError(
            f"dlib is not importable ({exc}): the HOG detector and the dlib backend need it; "
            "install it with 'pip install faceprint[dlib]' or use the CNN detector"
        ) from None
    module: ModuleType = dlib
    return module


def _load(factory: Any, path: Path) -> Any:
    try:
        return factory(str(path))
    except RuntimeError as exc:
        raise ModelError(f"cannot load model {path.name}: {exc}") from None


class HogDetector:
    """dlib's frontal face detector: HOG features and a sliding-window linear SVM."""

    name = "hog"

    def __init__(self) -> None:
        self._detector = import_dlib().get_frontal_face_detector()

    def detect(self, image: RGBImage, upsample: int) -> list[Detection]:
        rects, scores, _ = self._detector.run(image, upsample, 0.0)
        return [
            Detection(r.left(), r.top(), r.right() + 1, r.bottom() + 1, float(s))
            for r, s in zip(rects, scores, strict=True)
        ]


class CnnDetector:
    """dlib's MMOD CNN face detector (``mmod_human_face_detector.dat``)."""

    name = "cnn"

    def __init__(self, path: Path) -> None:
        self._detector = _load(import_dlib().cnn_face_detection_model_v1, path)

    def detect(self, image: RGBImage, upsample: int) -> list[Detection]:
        hits = self._detector(image, upsample)
        return [
            Detection(
                h.rect.left(), h.rect.top(), h.rect.right() + 1, h.rect.bottom() + 1, float(h.confidence)
            )
            for h in hits
        ]


class ShapePredictor5:
    """dlib's 5-point shape predictor (an ensemble of regression trees)."""

    name = "dlib-5pt"

    def __init__(self, path: Path) -> None:
        from .dlib_shape_predictor import read_shape_predictor

        self._dlib = import_dlib()
        self._predictor = _load(self._dlib.shape_predictor, path)
        self.mean_shape = read_shape_predictor(path).initial_shape.reshape(-1, 2).astype(np.float64)

    def locate_many(
        self, image: RGBImage, boxes: Sequence[tuple[float, float, float, float]]
    ) -> NDArray[np.float64]:
        return np.array([self.locate(image, box) for box in boxes], dtype=np.float64).reshape(-1, 5, 2)

    def locate(self, image: RGBImage, box: tuple[float, float, float, float]) -> NDArray[np.float64]:
        left, top, right, bottom = (round(v) for v in box)
        shape = self._predictor(image, self._dlib.rectangle(left, top, right - 1, bottom - 1))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


class ResNetEmbedder:
    """dlib's ResNet-29 metric network: a 150x150 chip in, a 128-d embedding out."""

    model_id = "dlib-resnet-v1"
    dim = 128
    chip_size = 150
    keypoints_needed: tuple[str, ...] = ()
    chip_padding = 0.25

    def __init__(self, path: Path) -> None:
        self._model = _load(import_dlib().face_recognition_model_v1, path)

    def cut(self, image: RGBImage, landmarks: NDArray[np.float64]) -> RGBImage:
        """dlib's chip (get_face_chip) at :attr:`chip_size` and :attr:`chip_padding`."""
        return face_chip(image, landmarks, size=self.chip_size, padding=self.chip_padding)

    def embed_chips(self, chips: Sequence[RGBImage]) -> NDArray[np.float32]:
        if not chips:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.compute_face_descriptor(list(chips), 0)
        return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32).reshape(len(chips), self.dim)
