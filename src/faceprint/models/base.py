"""The protocols every backend implements: primitive types in, primitive types out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray

from ..imageio import RGBImage

__all__ = ["Backends", "Detection", "Detector", "Embedder", "Landmarker"]


class Detection(NamedTuple):
    """A raw detector hit in image pixel coordinates (right/bottom exclusive) and its score.

    ``keypoints`` are the detector's own (x, y) points where it has them, else ``None``: BlazeFace's
    6, in MediaPipe's order (the subject's right eye, left eye, nose tip, mouth centre, right and
    left ear tragion; the subject's right is the image's left), named as seen in the image by
    :data:`faceprint.align_template.KEYPOINTS`.
    """

    left: float
    top: float
    right: float
    bottom: float
    score: float
    keypoints: tuple[tuple[float, float], ...] | None = None


class Detector(Protocol):
    """Finds face boxes in an RGB image."""

    name: str

    def detect(self, image: RGBImage, upsample: int) -> list[Detection]: ...


class Landmarker(Protocol):
    """Places the 5 landmarks (eye corners and the base of the nose) inside a face box."""

    name: str
    #: The (5, 2) shape the predictor starts from, in units of the box (``fit_box`` uses it).
    mean_shape: NDArray[np.float64]

    def locate(self, image: RGBImage, box: tuple[float, float, float, float]) -> NDArray[np.float64]:
        """Return a (5, 2) array of (x, y) points in dlib's 5-point order."""
        ...

    def locate_many(
        self, image: RGBImage, boxes: Sequence[tuple[float, float, float, float]]
    ) -> NDArray[np.float64]:
        """The points of every box: an (n, 5, 2) array."""
        ...


class Embedder(Protocol):
    """Cuts aligned face chips (:meth:`cut`) and turns them into embedding vectors."""

    model_id: str
    dim: int
    #: The chip's width in pixels.
    chip_size: int
    #: The detector keypoints (:data:`faceprint.align_template.KEYPOINTS`) :meth:`cut` aligns by;
    #: a detector that does not place them cannot feed this model.
    keypoints_needed: tuple[str, ...]

    @property
    def chip_padding(self) -> float | None:
        """The padding of dlib's get_face_chip when :meth:`cut` is exactly
        :func:`faceprint.align.face_chip` at ``chip_size`` with it (then a chip of that size and
        padding cut elsewhere, such as the mask test's, may be passed as it is); ``None`` when the
        model cuts its chips another way."""
        ...

    def cut(self, image: RGBImage, landmarks: NDArray[np.float64]) -> RGBImage:
        """The chip this model embeds of the face whose 5 predictor points (in ``image``'s pixels)
        are ``landmarks``."""
        ...

    def embed_chips(self, chips: Sequence[RGBImage]) -> NDArray[np.float32]:
        """Return an (n, dim) float32 array of raw (unnormalised) embeddings."""
        ...


@dataclass(frozen=True)
class Backends:
    """The three models an engine runs, when given instead of loaded by the registry."""

    detector: Detector
    landmarker: Landmarker
    embedder: Embedder
