"""The engine: image -> faces -> templates -> calibrated decisions. The CLI and service wrap it."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence
from typing import TypeAlias

import numpy as np
from PIL import Image

from .align import face_chip
from .calibrate import Calibration, load_calibration
from .choice import main_face, rivals
from .config import Settings
from .errors import InvalidInput, NoFace
from .faces import Box, Face, Template
from .imageio import ImageSource, RGBImage, describe, load_image
from .match import Match, compare
from .models import Backends, Detector, Embedder, Landmarker
from .models.registry import load_detector, load_embedder, load_landmarker

__all__ = ["Engine", "FaceInput"]

#: What verify accepts on either side: an image (path, bytes, array), a face, or a template.
FaceInput: TypeAlias = ImageSource | Face | Template


class Engine:
    """Detects, aligns and embeds faces, and verifies them with calibrated thresholds.

    Models load lazily on first use, under a lock; one engine can be shared between threads
    (inference on each model is serialised). Results are frozen dataclasses; faces come
    largest first.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        backends: Backends | None = None,
        calibration: Calibration | None = None,
        **overrides: object,
    ) -> None:
        """``settings`` default to the environment's; ``overrides`` replace single fields.

        ``backends`` and ``calibration`` replace what the registry would load (test doubles from
        :mod:`faceprint.models.fake`, or an operator's own table).
        """
        if settings is None:
            settings = Settings.from_env(None, **overrides)
        elif overrides:
            settings = dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]
        self.settings = settings
        self._load_lock = threading.Lock()
        self._run_lock = threading.RLock()
        self._detector: Detector | None = backends.detector if backends else None
        self._landmarker: Landmarker | None = backends.landmarker if backends else None
        self._embedder: Embedder | None = backends.embedder if backends else None
        self._calibration: Calibration | None = calibration

    # -- model loading -------------------------------------------------------------------------

    def _models(self, *, embed: bool) -> tuple[Detector, Landmarker, Embedder | None]:
        with self._load_lock:
            s = self.settings
            if self._detector is None:
                self._detector = load_detector(
                    s.detector, backend=s.backend, threads=s.threads, cache=s.cache_dir
                )
            if self._landmarker is None:
                self._landmarker = load_landmarker(backend=s.backend, cache=s.cache_dir)
            if embed and self._embedder is None:
                self._embedder = load_embedder(backend=s.backend, threads=s.threads, cache=s.cache_dir)
            return self._detector, self._landmarker, self._embedder

    def _embedder_model(self) -> Embedder:
        embedder = self._models(embed=True)[2]
        assert embedder is not None
        return embedder

    @property
    def model_id(self) -> str:
        """Id of the template space (network, plus ``+mirror`` when mirror-averaged).

        Templates of different ids are never compared; each id has its own calibration table.
        """
        return self._embedder_model().model_id + ("+mirror" if self.settings.mirror else "")

    @property
    def dim(self) -> int:
        """Length of this engine's templates."""
        return self._embedder_model().dim

    @property
    def calibration(self) -> Calibration:
        """The score <-> FMR table of this engine's embedding model."""
        if self._calibration is None:
            self._calibration = load_calibration(self.model_id)
        return self._calibration

    def load(self) -> Engine:
        """Load the detector, landmark and embedding models now, not on first use; returns the engine."""
        self._models(embed=True)
        return self

    # -- detection -----------------------------------------------------------------------------

    def detect(self, image: ImageSource) -> list[Face]:
        """Every face in ``image`` with box, score and 5 landmarks, largest first (no templates)."""
        return self._detect(self.load_image(image))

    def detect_many(self, images: Iterable[ImageSource]) -> list[list[Face]]:
        return [self.detect(image) for image in images]

    def load_image(self, image: ImageSource) -> RGBImage:
        """``image`` decoded to RGB under this engine's byte and pixel limits (arrays pass through).

        Decode once and pass the array to several calls to avoid decoding the same file again.
        """
        return load_image(image, max_bytes=self.settings.max_bytes, max_pixels=self.settings.max_pixels)

    def _detect(self, rgb: RGBImage, limit: int | None = None) -> list[Face]:
        """Faces largest first (ties: higher score first); landmarks for the first ``limit`` only."""
        detector, _, _ = self._models(embed=False)
        small, scale = self._detection_input(rgb)
        with self._run_lock:
            hits = detector.detect(small, self.settings.upsample)
        boxes = [
            (Box(h.left / scale, h.top / scale, h.right / scale, h.bottom / scale), h.score) for h in hits
        ]
        boxes.sort(key=lambda bs: (bs[0].area, bs[1]), reverse=True)
        return [self._locate(rgb, box, score, detector.name) for box, score in boxes[:limit]]

    def _locate(self, rgb: RGBImage, box: Box, score: float, detector: str) -> Face:
        """The face in ``box`` with its 5 landmarks (read-only)."""
        _, landmarker, _ = self._models(embed=False)
        with self._run_lock:
            points = landmarker.locate(rgb, (box.left, box.top, box.right, box.bottom))
        points.setflags(write=False)
        return Face(box=box, score=score, landmarks=points, detector=detector)

    def _detection_input(self, rgb: RGBImage) -> tuple[RGBImage, float]:
        limit = self.settings.detect_max_side
        height, width = rgb.shape[:2]
        if limit == 0 or max(height, width) <= limit:
            return rgb, 1.0
        scale = limit / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))
        return np.ascontiguousarray(small), scale

    # -- embedding -----------------------------------------------------------------------------

    def embed(
        self,
        image: ImageSource,
        *,
        largest_only: bool = False,
        boxes: Sequence[Box] | None = None,
    ) -> list[Face]:
        """Faces in ``image`` with their templates, largest first.

        ``largest_only`` embeds only the largest face. ``boxes`` skips detection and embeds the
        faces in the given boxes (landmarks are still located inside each box).
        """
        rgb = self.load_image(image)
        faces = (
            self._detect(rgb, limit=1 if largest_only else None) if boxes is None else self._given(rgb, boxes)
        )
        return self._embed_faces(rgb, faces)

    def embed_many(
        self,
        images: Iterable[ImageSource],
        *,
        largest_only: bool = False,
        boxes: Sequence[Sequence[Box]] | None = None,
    ) -> list[list[Face]]:
        """:meth:`embed` for many images, with every face of every image embedded in one batch.

        ``boxes``, when given, holds the boxes to embed for each image (no detection).
        """
        items: list[tuple[RGBImage, list[Face]]] = []
        for i, image in enumerate(images):
            rgb = self.load_image(image)
            if boxes is None:
                faces = self._detect(rgb, limit=1 if largest_only else None)
            else:
                faces = self._given(rgb, boxes[i])
            items.append((rgb, faces))
        if boxes is not None and len(boxes) != len(items):
            raise InvalidInput(f"got {len(boxes)} box lists for {len(items)} images")
        return self._embed_batch(items)

    def _given(self, rgb: RGBImage, boxes: Sequence[Box]) -> list[Face]:
        for box in boxes:
            if box.width <= 1 or box.height <= 1:
                raise InvalidInput(f"box {box.as_list()} is empty")
        return [self._locate(rgb, box, float("nan"), "given") for box in boxes]

    def _embed_faces(self, rgb: RGBImage, faces: list[Face]) -> list[Face]:
        return self._embed_batch([(rgb, faces)])[0]

    def _embed_batch(self, items: list[tuple[RGBImage, list[Face]]]) -> list[list[Face]]:
        """Templates for the faces of several images, through one embedder call."""
        n = sum(len(faces) for _, faces in items)
        if n == 0:
            return [[] for _ in items]
        embedder = self._embedder_model()
        chips = [
            face_chip(rgb, f.landmarks, size=embedder.chip_size, padding=embedder.chip_padding)
            for rgb, faces in items
            for f in faces
        ]
        if self.settings.mirror:
            chips += [np.ascontiguousarray(chip[:, ::-1]) for chip in chips]
        with self._run_lock:
            vectors = embedder.embed_chips(chips)
        if self.settings.mirror:
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors[:n] + vectors[n:]
        model = self.model_id
        out: list[list[Face]] = []
        start = 0
        for _, faces in items:
            out.append(
                [
                    dataclasses.replace(face, template=Template(vec, model))
                    for face, vec in zip(faces, vectors[start : start + len(faces)], strict=True)
                ]
            )
            start += len(faces)
        return out

    def template(self, source: FaceInput) -> Template:
        """The template of a face, a template itself, or of the main face in an image (:meth:`embed_main`)."""
        if isinstance(source, Template):
            return source
        if isinstance(source, Face):
            if source.template is None:
                raise InvalidInput("this face has no template; get it from Engine.embed")
            return source.template
        template = self.embed_main(source)[0].template
        assert template is not None
        return template

    # -- verification --------------------------------------------------------------------------

    def verify(self, a: FaceInput, b: FaceInput, *, fmr: float = 1e-3) -> Match:
        """Is the face in ``a`` the same person as the face in ``b``, at false match rate ``fmr``?

        Images use their largest face (raise :class:`NoFace` if there is none). The decision's
        threshold comes from the model's calibration table; ``Match.fmr`` is the FMR measured at
        the actual similarity.
        """
        calibration = self.calibration
        calibration.threshold(fmr)  # validate fmr before any image work
        return compare(self.template(a), self.template(b), calibration, fmr=fmr)

    def verify_many(self, pairs: Iterable[tuple[FaceInput, FaceInput]], *, fmr: float = 1e-3) -> list[Match]:
        return [self.verify(a, b, fmr=fmr) for a, b in pairs]

    # -- face choice ---------------------------------------------------------------------------

    def embed_main(self, image: ImageSource) -> tuple[Face, tuple[Face, ...]]:
        """The main face of ``image`` with its template, and the faces that rival it (no templates).

        The main face is the largest, or among faces of about the same size the one nearest the
        centre (:func:`faceprint.choice.main_face`); a rival is at least half as large and as
        clearly detected (:func:`faceprint.choice.rivals`). Raises :class:`NoFace` when there is none.
        """
        rgb = self.load_image(image)
        faces = self.detect(rgb)
        if not faces:
            raise NoFace(f"{describe(image)}: no face found")
        boxes = [f.box for f in faces]
        chosen = main_face(boxes, int(rgb.shape[1]), int(rgb.shape[0]))
        others = tuple(faces[i] for i in rivals(boxes, [f.score for f in faces], chosen))
        return self._embed_faces(rgb, [faces[chosen]])[0], others
