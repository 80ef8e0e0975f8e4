"""Result types: frozen dataclasses holding numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .errors import InvalidInput

if TYPE_CHECKING:
    from .quality import Quality

__all__ = ["Box", "Face", "Template"]


@dataclass(frozen=True)
class Box:
    """A face box in pixels of the (EXIF-rotated) image; ``right``/``bottom`` are exclusive.

    Boxes can reach past the image border when a face is cut off by it.
    """

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2, (self.top + self.bottom) / 2)

    def iou(self, other: Box) -> float:
        """Intersection over union with ``other`` (0 when they do not overlap)."""
        inter = Box(
            max(self.left, other.left),
            max(self.top, other.top),
            min(self.right, other.right),
            min(self.bottom, other.bottom),
        ).area
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def as_list(self) -> list[float]:
        """``[left, top, right, bottom]`` as plain floats (for JSON)."""
        return [float(self.left), float(self.top), float(self.right), float(self.bottom)]


@dataclass(frozen=True, eq=False)
class Template:
    """A face template: a unit-length embedding and the id of the model that produced it.

    Templates of different models live in different spaces and are never compared.
    """

    vector: NDArray[np.float32]
    model: str

    def __post_init__(self) -> None:
        vec = np.asarray(self.vector, dtype=np.float32)
        if vec.ndim != 1 or vec.size == 0 or not np.all(np.isfinite(vec)):
            raise InvalidInput("a template vector must be a non-empty, finite 1-d array")
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:
            raise InvalidInput("a template vector must not be all zeros")
        vec = vec / norm
        vec.setflags(write=False)
        object.__setattr__(self, "vector", vec)

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])

    def to_list(self) -> list[float]:
        return [float(x) for x in self.vector]

    @classmethod
    def from_list(cls, values: list[float], model: str) -> Template:
        return cls(np.asarray(values, dtype=np.float32), model)


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face: where it is, how sure the detector was, its landmarks and template.

    ``score`` is the detector's own confidence (probability for ``blazeface``, SVM margin for ``hog``, MMOD
    score for ``cnn``).
    ``landmarks`` is a (5, 2) array of (x, y) points: right eye outer and inner corner (as seen
    in the image: the subject's left eye is on the image's right), left eye outer and inner
    corner, base of the nose — dlib's 5-point order. ``template`` is ``None`` until embedded;
    ``quality`` is ``None`` unless asked for (``Engine.embed(..., quality=True)``).
    ``mask_score`` says how much the face looks masked (:mod:`faceprint.maskscore`; ``None`` when
    not assessed); :attr:`masked` is its decision. ``keypoints`` is a (6, 2) array of the detector's
    own points when it places them (BlazeFace: :data:`faceprint.align_template.KEYPOINTS`, eyes,
    nose tip, mouth centre, ears), else ``None``.
    """

    box: Box
    score: float
    landmarks: NDArray[np.float64]
    template: Template | None = None
    detector: str = ""
    quality: Quality | None = None
    mask_score: float | None = None
    keypoints: NDArray[np.float64] | None = None

    @property
    def points(self) -> NDArray[np.float64]:
        """Every point of the face as one array: the 5 landmarks, then the keypoints if any (what
        a recogniser's :meth:`~faceprint.models.Embedder.cut` takes)."""
        return self.landmarks if self.keypoints is None else np.vstack([self.landmarks, self.keypoints])

    @property
    def masked(self) -> bool:
        """Whether the face appears to wear a mask (``mask_score`` at least 0.5)."""
        return self.mask_score is not None and self.mask_score >= 0.5

    def to_json(self, *, with_template: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; the template only when asked for (it is biometric data)."""
        out: dict[str, Any] = {
            "box": self.box.as_list(),
            "score": round(float(self.score), 6),
            "landmarks": [[float(x), float(y)] for x, y in self.landmarks],
        }
        if self.keypoints is not None:
            out["keypoints"] = [[round(float(x), 2), round(float(y), 2)] for x, y in self.keypoints]
        if self.mask_score is not None:
            out["masked"] = self.masked
            out["mask_score"] = round(float(self.mask_score), 4)
        if with_template and self.template is not None:
            out["template"] = self.template.to_list()
            out["model"] = self.template.model
        return out
