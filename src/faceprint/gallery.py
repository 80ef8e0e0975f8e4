"""The gallery as users call it: the template store with the engine in front, in one place.

:class:`Gallery` is a :class:`faceprint.store.Store` whose verbs also take images: enrolment embeds
the one face of each image (:meth:`sample`), search embeds the probe's main face or every face.
The store below never runs a model; this is the only module that joins the two.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from .calibrate import Calibration
from .config import Settings
from .engine import Engine
from .errors import ManyFaces, NoFace
from .faces import Face, Template
from .imageio import ImageSource, RGBImage, describe, load_image_and_digest
from .masked_photos import masked_samples_of
from .models.operator import templates_calibration
from .occlusion import occluded_templates
from .store.gallery import Clock, Probe, Store, default_store_path, now_utc
from .store.records import Sample

__all__ = ["EnrolmentPhoto", "Gallery", "embed_sample", "embed_samples", "enrolment_photo", "open_store"]


class Gallery(Store):
    """A gallery store that embeds images with its engine (the settings' engine unless one is given).

    Open with :func:`open_store`; close with :meth:`close` or a ``with`` block (saves the index).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        engine: Engine | None = None,
        settings: Settings | None = None,
        actor: str | None = None,
        clock: Clock = now_utc,
    ) -> None:
        super().__init__(
            path, settings=settings or (engine.settings if engine else None), actor=actor, clock=clock
        )
        # an unset Settings.mirror follows the templates on record: a store of plain templates
        # (made before mirroring was the default) stays plain
        recorded = self.template_models()
        self.settings = self.settings.following(recorded)
        self._engine = None if engine is None else engine.following(recorded)
        self._engine_lock = threading.Lock()
        self._tables: dict[str, Calibration] = {}

    def __enter__(self) -> Gallery:
        return self

    @property
    def engine(self) -> Engine:
        with self._engine_lock:
            if self._engine is None:
                self._engine = Engine(self.settings)
            return self._engine

    def calibration_for(self, model: str) -> Calibration:
        """The engine's calibration when it makes ``model``'s templates, else the shipped table, else
        the table stored with the operator's model that makes them (a store migrated to it)."""
        engine = self._engine
        if engine is not None and engine.model_id == model:
            return engine.calibration
        with self._engine_lock:
            if model not in self._tables:
                self._tables[model] = templates_calibration(self.settings, model)
            return self._tables[model]

    def photo_samples(
        self, image: ImageSource, *, largest_face: bool = False, masked_copies: bool = False
    ) -> list[Sample]:
        """The photo's sample, and with ``masked_copies`` its masked copies and occluded template."""
        return embed_samples(self.engine, image, largest_face=largest_face, masked_copies=masked_copies)

    def probe_occluded(self, probe: Probe, face: Face) -> Template | None:
        """The occluded template of a face found in the image ``probe`` (:mod:`faceprint.occlusion`:
        its eye-aligned chip with the lower face painted over); ``None`` for a face or template probe."""
        if isinstance(probe, Face | Template):
            return None
        engine = self.engine
        if face.template is None or face.template.model != engine.model_id:
            return None
        return occluded_templates(engine, [(engine.load_image(probe), face.landmarks)])[0]

    def default_model_id(self, probes: Sequence[Probe]) -> str:
        """An empty gallery is searched in the engine's template space."""
        return self.engine.model_id

    def sample(self, image: ImageSource, *, largest_face: bool = False) -> Sample:
        """Embed the one face in ``image`` for enrolment (:func:`embed_sample` with this engine)."""
        return embed_sample(self.engine, image, largest_face=largest_face)

    def probe_faces(self, probe: Probe, *, all_faces: bool) -> list[Face]:
        """A template or a face as the store takes them; an image by its main face, or every face."""
        if isinstance(probe, Face | Template):
            return super().probe_faces(probe, all_faces=all_faces)
        if not all_faces:
            try:
                return [self.engine.embed_main(probe)[0]]
            except NoFace:
                raise NoFace(f"{describe(probe)}: no face found") from None
        faces = self.engine.embed(probe)
        if not faces:
            raise NoFace(f"{describe(probe)}: no face found")
        return faces


def open_store(
    path: str | os.PathLike[str] | None = None,
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    actor: str | None = None,
) -> Gallery:
    """Open (creating if needed) the gallery at ``path``: ``settings.store``, else the default path.

    ``path`` is a SQLite file, or a PostgreSQL URL (``postgresql://user@host:5432/dbname``) to
    share one gallery between several processes and hosts.
    """
    settings = settings or (engine.settings if engine else Settings.from_env())
    if path is None:
        path = settings.store or default_store_path()
    return Gallery(path, engine=engine, settings=settings, actor=actor)


@dataclass(frozen=True, eq=False)
class EnrolmentPhoto:
    """A photo decoded for enrolment: its pixels, its one face (with landmarks) and that face's sample."""

    rgb: RGBImage
    face: Face
    sample: Sample


def enrolment_photo(engine: Engine, image: ImageSource, *, largest_face: bool = False) -> EnrolmentPhoto:
    """Embed the one face in ``image`` for enrolment with ``engine``.

    Raises :class:`NoFace` when there is none and :class:`ManyFaces` when another face rivals
    the main one (at least half as large and as clearly detected: enrolling a bystander by
    mistake is worse than asking), unless ``largest_face``: then the main face is taken, the
    largest or, among faces of about the same size, the one nearest the centre
    (:meth:`Engine.embed_main`).
    """
    rgb, digest = load_image_and_digest(
        image, max_bytes=engine.settings.max_bytes, max_pixels=engine.settings.max_pixels
    )
    try:
        face, others = engine.embed_main(rgb)
    except NoFace:
        raise NoFace(f"{describe(image)}: no face found") from None
    if others and not largest_face:
        raise ManyFaces(
            f"{describe(image)}: {len(others) + 1} faces of similar size found; enrol a photo of one "
            "person, or take the main face (the largest; among faces of about the same size, the one "
            "nearest the centre) with --largest-face (HTTP: largest_face, library: largest_face=True)"
        )
    assert face.template is not None
    return EnrolmentPhoto(rgb, face, Sample(template=face.template, source=digest, box=face.box))


def embed_sample(engine: Engine, image: ImageSource, *, largest_face: bool = False) -> Sample:
    """The enrolment sample of the one face in ``image`` (:func:`enrolment_photo`)."""
    return enrolment_photo(engine, image, largest_face=largest_face).sample


def embed_samples(
    engine: Engine, image: ImageSource, *, largest_face: bool = False, masked_copies: bool = False
) -> list[Sample]:
    """:func:`embed_sample`, and with ``masked_copies`` the photo's masked copies and occluded
    template too (:func:`faceprint.masked_photos.masked_samples_of`), from the same decode."""
    photo = enrolment_photo(engine, image, largest_face=largest_face)
    if not masked_copies:
        return [photo.sample]
    return masked_samples_of(engine, photo.rgb, photo.face, photo.sample)
