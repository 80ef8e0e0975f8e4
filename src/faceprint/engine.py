"""The engine: image -> faces -> templates -> calibrated decisions. The CLI and service wrap it."""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Iterable, Sequence
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

from .calibrate import Calibration
from .choice import ChosenFace, choose
from .config import MIRROR_SUFFIX, Settings
from .errors import InvalidInput, ModelError, NoFace
from .faces import Box, Face, Template
from .imageio import ImageSource, Photo, RGBImage, load_image
from .locate import Located, Locator
from .maskscore import CHIP_PADDING, CHIP_SIZE
from .match import Match, compare
from .models import Backends, Detector, Embedder, Landmarker
from .models.operator import recogniser_calibration
from .models.registry import detector_defaults, load_detector, load_landmarker, load_recogniser

__all__ = ["Engine", "FaceInput"]

#: What verify accepts on either side: an image (path, bytes, array), a face, or a template.
FaceInput: TypeAlias = ImageSource | Photo | Face | Template


def _default(detector: str, key: str) -> int:
    value = detector_defaults(detector)[key]
    assert isinstance(value, int)
    return value


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
                embedder = load_recogniser(s)
                needed = embedder.keypoints_needed
                places = detector_defaults(s.detector).get("keypoints") if needed else ()
                missing = [k for k in needed if not isinstance(places, list) or k not in places]
                if missing:
                    raise ModelError(
                        f"recogniser {s.recogniser!r} aligns by {', '.join(missing)}, which the detector "
                        f"{s.detector!r} does not place; use a detector that does (blazeface)"
                    )
                self._embedder = embedder
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
        return self._embedder_model().model_id + (MIRROR_SUFFIX if self.mirror else "")

    @property
    def mirror(self) -> bool:
        """Whether templates are mirror-averaged: ``Settings.mirror``, else the recogniser's own
        default (its manifest's ``mirror``: dlib's ResNet yes, +2.7 points of 1:N rank-1; SFace no,
        +0.2 for twice the embedding; an operator's model yes)."""
        if self.settings.mirror is not None:
            return self.settings.mirror
        return bool(getattr(self._embedder_model(), "mirror_default", True))

    @property
    def dim(self) -> int:
        """Length of this engine's templates."""
        return self._embedder_model().dim

    @property
    def calibration(self) -> Calibration:
        """The score <-> FMR table of this engine's embedding model."""
        if self._calibration is None:
            self._calibration = recogniser_calibration(self.settings, self.model_id)
        return self._calibration

    def following(self, models: Iterable[str]) -> Engine:
        """This engine, or a twin sharing its loaded models, whose templates match those on record.

        Only unset settings follow (:meth:`Settings.following`): a store of plain templates (made
        before mirroring was the default) gets a plain twin, and a store of dlib's ResNet's
        templates (made before SFace was the default) a twin running dlib's network.
        """
        settings = self.settings.following(models)
        if settings == self.settings:
            return self
        twin = copy.copy(self)
        twin.settings = settings
        twin._load_lock = threading.Lock()
        if settings.recogniser != self.settings.recogniser:
            twin._embedder = None  # a store of dlib's templates: its twin loads dlib's network
        if twin._embedder is None or (
            self._calibration is not None and self._calibration.model != twin.model_id
        ):
            twin._calibration = None
        return twin

    def load(self) -> Engine:
        """Load the detector, landmark and embedding models now, not on first use; returns the engine."""
        self._models(embed=True)
        return self

    # -- the front end: photo -> boxes -> landmarks ----------------------------------------------

    @property
    def working_side(self) -> int:
        """The longer side detection works at (0 = the photo's own size)."""
        side = self.settings.detect_max_side
        return _default(self.settings.detector, "working_side") if side is None else side

    @property
    def upsample(self) -> int:
        """How many times the working image is doubled before detection."""
        up = self.settings.upsample
        return _default(self.settings.detector, "upsample") if up is None else up

    def photo(self, image: ImageSource | Photo) -> Photo:
        """``image`` as a :class:`Photo` under this engine's byte and pixel limits: decoded on demand,
        at the sizes detection and alignment need (a JPEG is never fully decoded when its faces are
        large enough at a half, a quarter or an eighth of its size)."""
        if isinstance(image, Photo):
            return image
        return Photo(image, max_bytes=self.settings.max_bytes, max_pixels=self.settings.max_pixels)

    def detect(self, image: ImageSource | Photo) -> list[Face]:
        """Every face in ``image`` with box, score and 5 landmarks, largest first (no templates)."""
        return [found.face for found in self._analyse(self.photo(image))]

    def detect_many(self, images: Iterable[ImageSource | Photo]) -> list[list[Face]]:
        return [self.detect(image) for image in images]

    def load_image(self, image: ImageSource) -> RGBImage:
        """``image`` decoded to RGB under this engine's byte and pixel limits (arrays pass through).

        Decode once and pass the array to several calls to avoid decoding the same file again
        (passing the path or bytes instead lets the engine decode a JPEG at a reduced size).
        """
        return load_image(image, max_bytes=self.settings.max_bytes, max_pixels=self.settings.max_pixels)

    def _analyse(
        self, photo: Photo, limit: int | None = None, boxes: Sequence[Box] | None = None
    ) -> list[Located]:
        """The faces of ``photo`` located by the front end (:meth:`faceprint.locate.Locator.locate`)."""
        locator = Locator(
            lambda: self._models(embed=False)[:2],
            self.working_side,
            self.upsample,
            self.settings.refine_landmarks,
            self._run_lock,
        )
        return locator.locate(photo, limit, boxes)

    # -- embedding -----------------------------------------------------------------------------

    def embed(
        self,
        image: ImageSource | Photo,
        *,
        largest_only: bool = False,
        boxes: Sequence[Box] | None = None,
        quality: bool = False,
    ) -> list[Face]:
        """Faces in ``image`` with their templates, largest first.

        ``largest_only`` embeds only the largest face. ``boxes`` skips detection and embeds the
        faces in the given boxes (landmarks are still located inside each box). ``quality`` also
        assesses each face (:attr:`Face.quality`: size, sharpness, pose, exposure).
        """
        photo = self.photo(image)
        found = self._analyse(photo, limit=1 if largest_only else None, boxes=boxes)
        return self._embed_batch([found], quality=quality)[0]

    def embed_many(
        self,
        images: Iterable[ImageSource | Photo],
        *,
        largest_only: bool = False,
        boxes: Sequence[Sequence[Box]] | None = None,
        quality: bool = False,
    ) -> list[list[Face]]:
        """:meth:`embed` for many images, with every face of every image embedded in one batch.

        ``boxes``, when given, holds the boxes to embed for each image (no detection).
        """
        items: list[list[Located]] = []
        for i, image in enumerate(images):
            if boxes is not None and i >= len(boxes):
                raise InvalidInput(f"got {len(boxes)} box lists for more images")
            given = None if boxes is None else boxes[i]
            items.append(self._analyse(self.photo(image), limit=1 if largest_only else None, boxes=given))
        if boxes is not None and len(boxes) != len(items):
            raise InvalidInput(f"got {len(boxes)} box lists for {len(items)} images")
        return self._embed_batch(items, quality=quality)

    def _embed_batch(self, items: list[list[Located]], *, quality: bool = False) -> list[list[Face]]:
        """Templates for the faces of several images, through one embedder call."""
        n = sum(len(found) for found in items)
        if n == 0:
            return [[] for _ in items]
        located = [f for found in items for f in found]
        vectors = self._vectors([(f.image, f.all_points) for f in located], chips=[f.chip for f in located])
        model = self.model_id
        out: list[list[Face]] = []
        start = 0
        for found in items:
            faces = []
            for f, vec in zip(found, vectors[start : start + len(found)], strict=True):
                extra: dict[str, object] = {"template": Template(vec, model)}
                if quality:
                    q = f.quality()
                    if f.face.masked:  # a masked face's template is less reliable: say so
                        q = dataclasses.replace(q, reasons=(*q.reasons, "masked"))
                    extra["quality"] = q
                faces.append(dataclasses.replace(f.face, **extra))  # type: ignore[arg-type]
            out.append(faces)
            start += len(found)
        return out

    def templates_at(self, faces: Sequence[tuple[RGBImage, NDArray[np.float64]]]) -> list[Template]:
        """Templates of faces given as (image, points in its pixels: :attr:`Face.points`), no detection.

        Used where the face's place is known from another copy of the photo (e.g. a synthetic
        mask drawn on an enrolment photo, :mod:`faceprint.masks`).
        """
        if not faces:
            return []
        return [Template(vec, self.model_id) for vec in self._vectors(faces)]

    def chip_templates(self, chips: Sequence[RGBImage]) -> list[Template]:
        """Templates of faces given as the embedder's own aligned chips (:meth:`chip`), no cut.

        For chips edited before embedding (e.g. an occluded lower face,
        :mod:`faceprint.occlusion`); mirror-averaged when the engine mirrors.
        """
        if not chips:
            return []
        return [Template(vec, self.model_id) for vec in self._chip_vectors(list(chips))]

    def chip(self, image: RGBImage, landmarks: NDArray[np.float64]) -> RGBImage:
        """The embedder's aligned chip of the face with these 5 landmarks in ``image``."""
        return self._embedder_model().cut(image, landmarks)

    def _vectors(
        self,
        faces: Sequence[tuple[RGBImage, NDArray[np.float64]]],
        *,
        chips: Sequence[RGBImage] | None = None,
    ) -> NDArray[np.float32]:
        """Embeddings of faces given as (image, landmarks), in one embedder call; mirror-averaged
        when the engine mirrors (unit length is left to :class:`Template`). ``chips``: the faces'
        dlib chips, already cut for the mask test, used when the embedder's chip is that very one
        (:attr:`faceprint.models.Embedder.chip_padding`)."""
        embedder = self._embedder_model()
        if chips is not None and (embedder.chip_size, embedder.chip_padding) == (CHIP_SIZE, CHIP_PADDING):
            chips = list(chips)  # the embedder cuts the mask test's very chip: no second cut
        else:
            chips = [embedder.cut(image, pts) for image, pts in faces]
        return self._chip_vectors(chips)

    def _chip_vectors(self, chips: list[RGBImage]) -> NDArray[np.float32]:
        embedder = self._embedder_model()
        n = len(chips)
        if self.mirror:
            chips += [np.ascontiguousarray(chip[:, ::-1]) for chip in chips]
        with self._run_lock:
            vectors = embedder.embed_chips(chips)
        if self.mirror:
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors[:n] + vectors[n:]
        return vectors

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

    def similarity(self, a: FaceInput, b: FaceInput) -> float:
        """The raw cosine similarity of two faces' templates: no calibration table, no decision.

        For a model that has no table yet (an operator's, before ``faceprint calibrate``); what a
        similarity means for false matches is only known once the model is calibrated.
        """
        ta, tb = self.template(a), self.template(b)
        if ta.model != tb.model:
            raise InvalidInput(
                f"cannot compare templates of different models ({ta.model!r} and {tb.model!r})"
            )
        return float(np.clip(np.dot(ta.vector, tb.vector), -1.0, 1.0))

    def verify_many(self, pairs: Iterable[tuple[FaceInput, FaceInput]], *, fmr: float = 1e-3) -> list[Match]:
        return [self.verify(a, b, fmr=fmr) for a, b in pairs]

    # -- face choice ---------------------------------------------------------------------------

    def embed_main(self, image: ImageSource | Photo) -> tuple[Face, tuple[Face, ...]]:
        """The main face of ``image`` with its template, and the faces that rival it (no templates).

        The main face is the largest, or among faces of about the same size the one nearest the
        centre (:func:`faceprint.choice.main_face`); a rival is at least half as large and as
        clearly detected (:func:`faceprint.choice.rivals`). Raises :class:`NoFace` when there is none.
        """
        chosen = self.choose_face(image)
        return chosen.face, chosen.rivals

    def choose_face(self, image: ImageSource | Photo, *, index: int | None = None) -> ChosenFace:
        """Face number ``index`` of ``image`` (0 = the largest), or its main face, embedded, with
        the faces that rival the main one (none when chosen by index) and how many were found.

        The one way every interface picks a face (:func:`faceprint.choice.choose`). Raises
        :class:`NoFace` when there is none, :class:`InvalidInput` for an index out of range.
        """
        photo = self.photo(image)
        faces = self.detect(photo)
        if not faces:
            raise NoFace(f"{photo.name}: no face found")
        boxes = [f.box for f in faces]
        choice = choose(
            boxes, [f.score for f in faces], photo.width, photo.height, index=index, name=photo.name
        )
        face = self.embed(photo, boxes=[faces[choice.index].box])[0]
        return ChosenFace(face, choice.index, choice.count, tuple(faces[i] for i in choice.rivals))
