"""The front end: a photo -> detector hits -> dlib-kind boxes -> 5 landmarks -> located faces.

Each face is located on the smallest decode of its photo in which it is still about as wide as
the embedder's chip, and carries dlib's 150 px chip of that decode, cut once for the mask test
(:mod:`faceprint.maskscore`) and reused by the embedder when it takes that very chip.
:class:`faceprint.engine.Engine` runs it with the models it loaded.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

from .errors import InvalidInput
from .faces import Box, Face
from .frontend import fit_side, refine_boxes
from .imageio import REDUCTIONS, Photo, RGBImage
from .maskscore import chip_mask_score, mask_chip
from .models import Detector, Landmarker
from .models.landmarks import fit_box
from .models.registry import detector_defaults, detector_names
from .quality import Quality, assess

__all__ = ["Located", "Locator"]

#: A face is aligned on the smallest decode of its photo in which it is at least this wide: the
#: embedder's 150 px chip holds a face about 100 px wide, so nothing it could use is lost.
_CHIP_FACE = 100
#: The working image may be this much smaller than the working side when that saves a resize
#: (a JPEG decoded at a DCT scale whose longer side is within 10% of the working side is used as
#: it is; otherwise the next larger scale is decoded and resized).
_WORKING_SLACK = 0.9
#: A detection whose two eye keypoints are closer than this share of its box width is dropped.
_EYES = 0.15
#: A detection whose refined box is smaller than this share of the detector's box is dropped: the
#: 5-point predictor's points collapsed onto one spot, as they do on texture that is not a face.
_COLLAPSED = 0.2
#: A hit in original pixels: its box, score, and the detector's keypoints (or None).
_Hit: TypeAlias = tuple[Box, float, "NDArray[np.float64] | None"]
_Corners: TypeAlias = tuple[float, float, float, float]


@dataclasses.dataclass(frozen=True, eq=False)
class Located:
    """A located face, with the decode it was located on and its landmarks in that decode."""

    face: Face
    image: RGBImage
    points: NDArray[np.float64]
    sx: float  # pixels of ``image`` per original pixel, across
    sy: float  # and down
    chip: RGBImage  # dlib's 150 px chip, cut once for the mask test and the embedder
    keypoints: NDArray[np.float64] | None = None  # the detector's, in ``image``'s pixels

    @property
    def all_points(self) -> NDArray[np.float64]:
        """The 5 landmarks and the detector's keypoints (if any) in ``image``'s pixels: what the
        recogniser cuts its chip from."""
        return self.points if self.keypoints is None else np.vstack([self.points, self.keypoints])

    def quality(self) -> Quality:
        b = self.face.box
        box = Box(b.left * self.sx, b.top * self.sy, b.right * self.sx, b.bottom * self.sy)
        local = dataclasses.replace(self.face, box=box, landmarks=self.points)
        return assess(self.image, local, scale=1.0 / math.sqrt(self.sx * self.sy))


def _reduction(box: _Corners) -> int:
    """The largest reduction of the photo in which a face with this box is still :data:`_CHIP_FACE` wide."""
    side = min(box[2] - box[0], box[3] - box[1])
    return max(r for r in REDUCTIONS if r == 1 or side / r >= _CHIP_FACE)


@dataclasses.dataclass(frozen=True)
class Locator:
    """The front end over an engine's models: ``models`` loads (or returns) its detector and
    landmarker on first need; every model call runs under ``lock``."""

    models: Callable[[], tuple[Detector, Landmarker]]
    working_side: int  # the longer side detection works at (0 = the photo's own size)
    upsample: int  # how many times the working image is doubled before detection
    refine: bool  # move each box to the one the predictor expects (``Settings.refine_landmarks``)
    lock: AbstractContextManager[object]

    def locate(
        self, photo: Photo, limit: int | None = None, boxes: Sequence[Box] | None = None
    ) -> list[Located]:
        """Faces largest first (ties: higher score first), located for the first ``limit`` only;
        with ``boxes``, the faces in those boxes (no detection)."""
        if boxes is not None:
            for box in boxes:
                if box.width <= 1 or box.height <= 1:
                    raise InvalidInput(f"box {box.as_list()} is empty")
            return self._locate(photo, [(box, float("nan"), None) for box in boxes], "given")
        detector, _ = self.models()
        hits = self._find(photo, detector)
        hits.sort(key=lambda h: (h[0].area, h[1]), reverse=True)
        return self._locate(photo, hits[:limit], detector.name)

    def _find(self, photo: Photo, detector: Detector) -> list[_Hit]:
        """The detector's hits in original pixel coordinates."""
        side, longest = self.working_side, max(photo.size)
        if side and longest > side:
            image = photo.at(photo.reduction_for(math.ceil(side * _WORKING_SLACK)))
            if max(image.shape[:2]) > side:
                image = fit_side(image, side)
        else:
            image = photo.full()
        sx, sy = photo.width / image.shape[1], photo.height / image.shape[0]
        with self.lock:
            found = detector.detect(image, self.upsample)
        # the mapping of the detector that ran (a test double or an operator's has none)
        known = detector.name in detector_names()
        mapping = detector_defaults(detector.name).get("dlib_box") if known else None
        hits: list[_Hit] = []
        for d in found:
            points = None if d.keypoints is None else np.asarray(d.keypoints, dtype=np.float64) * (sx, sy)
            if points is not None and np.linalg.norm(points[0] - points[1]) < _EYES * (d.right - d.left) * sx:
                continue  # eyes almost on top of each other: not a face (real ones: 0.3-0.5 of the box)
            box = Box(d.left * sx, d.top * sy, d.right * sx, d.bottom * sy)
            if isinstance(mapping, list):  # the detector's box moved and scaled onto dlib's (its manifest)
                dx, dy, scale = (float(v) for v in mapping)
                half = box.width * scale / 2
                cx, cy = box.center[0] + dx * box.width, box.center[1] + dy * box.width
                box = Box(cx - half, cy - half, cx + half, cy + half)
            hits.append((box, d.score, points))
        return hits

    def _locate(self, photo: Photo, hits: Sequence[_Hit], detector: str) -> list[Located]:
        """The 5 landmarks of each hit, from its box (of dlib's kind; refined with ``refine``).

        Each face is located on the smallest decode of the photo in which it is still about as wide
        as the embedder's chip (:func:`_reduction`); a face whose settled box calls for another
        decode is located again there, so that the face at its reported box gives the same points
        (and template) whatever else is in the photo.
        """
        if not hits:
            return []
        starts = [(h[0].left, h[0].top, h[0].right, h[0].bottom) for h in hits]
        found: list[Located | None] = [None] * len(hits)
        todo = list(range(len(hits)))
        for attempt in range(2):
            by_reduction: dict[int, list[int]] = {}
            for i in todo:
                by_reduction.setdefault(_reduction(starts[i]), []).append(i)
            photo.prefetch(by_reduction)
            todo = []
            for reduce, members in sorted(by_reduction.items()):
                image = photo.at(reduce)
                sx, sy = image.shape[1] / photo.width, image.shape[0] / photo.height
                boxes, points = self._landmarks(image, [starts[i] for i in members], sx, sy)
                for i, box, pts in zip(members, boxes, points, strict=True):
                    settled = (box[0] / sx, box[1] / sy, box[2] / sx, box[3] / sy)
                    if attempt == 0 and _reduction(settled) != reduce:
                        starts[i], todo = settled, [*todo, i]
                        continue
                    found[i] = self._found(hits[i], detector, image, settled, pts, sx, sy)
        return [f for f in found if f is not None]

    def _landmarks(
        self, image: RGBImage, starts: Sequence[_Corners], sx: float, sy: float
    ) -> tuple[list[_Corners], NDArray[np.float64]]:
        """The (settled) boxes and points, in ``image``'s pixels, of faces starting from ``starts``
        (original pixels)."""
        _, landmarker = self.models()
        boxes = [(b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy) for b in starts]
        with self.lock:
            points = landmarker.locate_many(image, boxes)
            if self.refine:
                boxes, points = refine_boxes(landmarker, image, boxes, points)
        return boxes, points

    def _found(
        self,
        hit: _Hit,
        detector: str,
        image: RGBImage,
        settled: _Corners,
        pts: NDArray[np.float64],
        sx: float,
        sy: float,
    ) -> Located | None:
        box, score, keypoints = hit
        _, landmarker = self.models()
        fitted = fit_box(landmarker.mean_shape, pts)
        if detector != "given" and fitted[2] - fitted[0] < _COLLAPSED * (settled[2] - settled[0]) * sx:
            return None  # the predictor's points collapsed: nothing it can place a face on
        if keypoints is not None:  # the detector's box is not of dlib's kind: report dlib's kind
            box = Box(*settled)
        landmarks = pts / (sx, sy)
        landmarks.setflags(write=False)
        pts.setflags(write=False)
        chip = mask_chip(image, pts)
        masked = chip_mask_score(chip)
        local = None
        if keypoints is not None:
            keypoints = keypoints.copy()
            keypoints.setflags(write=False)
            local = keypoints * (sx, sy)
        face = Face(
            box=box,
            score=score,
            landmarks=landmarks,
            detector=detector,
            mask_score=masked,
            keypoints=keypoints,
        )
        return Located(face, image, pts, sx, sy, chip, local)
