"""Masked enrolment copies: the enrolment photo with synthetic masks, as extra templates of the subject.

A masked probe looks more like a masked photo of the same person than like the bare one: for
each enrolment photo, :func:`masked_samples` also returns the photo with a mask of each style in
:data:`faceprint.masked_lfw.ENROL_STYLES` drawn on the face (:mod:`faceprint.masks`, seeded by
the photo's content hash) and embedded at the bare face's landmarks. The copies are ordinary
templates of the subject, told apart by their ``source`` (the photo's hash plus
``+masked-<style>``, :func:`is_masked_source`): consent covers them, erasure deletes them with the
subject's other templates, and re-enrolling the same photo skips them like any duplicate.
:func:`masked_samples` also returns the photo's occluded template (:mod:`faceprint.occlusion`:
the lower face of its eye-aligned chip painted over), source ``+masked-occluded``, stored and
erased the same way: a masked probe is compared with it by the occluded comparison of
:mod:`faceprint.masked_scores`.

The store's search tells them apart (:mod:`faceprint.store.masked_copies`): a bare comparison
never uses them, and a probe the mask test calls masked is scored by the routed rule
(:mod:`faceprint.store.masked_search`, the 1:N form of :func:`faceprint.masked_scores.routed_scores`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .engine import Engine
from .errors import InvalidInput, ModelError, NoFace
from .faces import Face, Template
from .gallery import Gallery, enrolment_photo
from .imageio import ImageSource
from .masked_photos import ENROL_STYLES, masked_samples_of, photo_copies
from .masked_scores import Occluded, masked_tables, routed, routed_scores
from .match import Match, compare
from .occlusion import occluded_templates
from .store import Sample
from .store.masked_copies import MASKED_SOURCE, OCCLUDED_STYLE, is_masked_source, is_occluded_source

__all__ = [
    "MASKED_SOURCE",
    "OCCLUDED_STYLE",
    "MaskedVerdict",
    "is_masked_source",
    "is_occluded_source",
    "masked_samples",
    "photo_copies",
    "verify_images",
    "verify_masked",
]


def masked_samples(
    store: Gallery,
    image: ImageSource,
    *,
    largest_face: bool = False,
    styles: tuple[str, ...] = ENROL_STYLES,
    occluded: bool = True,
) -> list[Sample]:
    """The photo's sample (:func:`faceprint.gallery.enrolment_photo`, with its checks), one masked copy per style
    and (``occluded``) its occluded template."""
    photo = enrolment_photo(store.engine, image, largest_face=largest_face)
    return masked_samples_of(
        store.engine, photo.rgb, photo.face, photo.sample, styles=styles, occluded=occluded
    )


def verify_images(
    engine: Engine, a: tuple[ImageSource, Face], b: tuple[ImageSource, Face], *, fmr: float = 1e-3
) -> Match:
    """Are two faces, each given with the image it was found in, the same person? As
    :meth:`Engine.verify`, but a face the mask test calls masked is compared by the routed rule
    (the images are decoded again, whole, only then).

    One masked face (a masked selfie against an ID photo): the other photo's masked copies and
    occluded template are made on the spot and the masked face is compared three ways, as
    :func:`verify_masked` does. Both masked: bare and occluded comparisons (no bare photo to copy),
    at twice the smaller FMR. Neither masked, or no masked tables for the model: :func:`compare`.
    """
    (source_a, face_a), (source_b, face_b) = a, b
    if face_a.template is None or face_b.template is None:
        raise InvalidInput("these faces have no templates; get them from Engine.embed")
    plain = engine.calibration
    bare = compare(face_a.template, face_b.template, plain, fmr=fmr)
    masked_a, masked_b = bool(face_a.masked), bool(face_b.masked)
    if not (masked_a or masked_b):
        return bare
    tables = masked_tables(plain)
    if tables is None:
        return bare
    rgb_a, rgb_b = engine.load_image(source_a), engine.load_image(source_b)
    if masked_a and masked_b:
        occ = occluded_templates(engine, [(rgb_a, face_a.landmarks), (rgb_b, face_b.landmarks)])
        decided = routed(
            {"bare": bare.fmr, "occluded": tables.occluded.fmr(float(occ[0].vector @ occ[1].vector))}
        )
    else:
        pair = ((rgb_a, face_a), (rgb_b, face_b))
        (rgb_p, probe), (rgb_g, photo) = pair if masked_a else pair[::-1]
        assert probe.template is not None and photo.template is not None
        key = hashlib.sha256(np.ascontiguousarray(rgb_g).tobytes()).hexdigest()
        *copies, photo_occluded = photo_copies(engine, rgb_g, photo, key)
        probe_occluded = occluded_templates(engine, [(rgb_p, probe.landmarks)])[0]
        side = np.stack([photo.template.vector, *(t.vector for t in copies)])
        decided = routed(
            {
                "bare": bare.fmr,
                "masked": tables.masked.fmr(float((side @ probe.template.vector).mean())),
                "occluded": tables.occluded.fmr(float(photo_occluded.vector @ probe_occluded.vector)),
            }
        )
    return dataclasses.replace(
        bare, is_match=decided.fmr <= fmr, fmr=decided.fmr, comparison=decided.comparison
    )


@dataclass(frozen=True)
class MaskedVerdict:
    """A probe against one enrolment photo by the routed rule: the FMR it was accepted at."""

    is_match: bool
    fmr: float  # of the routed rule (faceprint.masked_scores): the union bound over its comparisons
    masked: bool  # the probe face was called masked (and compared three ways)
    fmr_target: float


def verify_masked(
    engine: Engine, probe: ImageSource, photo: Sequence[tuple[str, Template]], *, fmr: float = 1e-3
) -> MaskedVerdict:
    """Is the largest face in ``probe`` the person of one enrolment photo, given that photo's
    templates as (source, template) pairs: its bare template, masked copies and occluded template
    (as :func:`masked_samples` makes them)?

    A probe the mask test calls bare is compared with the bare template, as :meth:`Engine.verify`
    does; a masked one also by the masked and the occluded comparisons, each at its own table's
    FMR (:func:`faceprint.masked_scores.routed_scores`). The tables ship for mirror-averaged
    (the default) and plain templates; another model raises :class:`faceprint.errors.ModelError`.
    """
    plain = engine.calibration
    plain.threshold(fmr)  # validate fmr before any image work
    tables = masked_tables(plain)
    if tables is None:
        raise ModelError(f"no masked and occluded calibration tables ship for model {plain.model!r}")
    bare = [t for src, t in photo if not is_masked_source(src)]
    copies = [t for src, t in photo if is_masked_source(src) and not is_occluded_source(src)]
    occluded = [t for src, t in photo if is_occluded_source(src)]
    if len(bare) != 1 or not copies or len(occluded) != 1:
        raise InvalidInput(
            "a photo's templates need one bare template, masked copies and one occluded template"
        )
    rgb = engine.load_image(probe)
    faces = engine.embed(rgb, largest_only=True)
    if not faces or faces[0].template is None:
        raise NoFace("no face in the probe image")
    face = faces[0]
    assert face.template is not None
    probe_occluded = occluded_templates(engine, [(rgb, face.landmarks)])[0] if face.masked else occluded[0]
    score = routed_scores(
        bare[0].vector[None],
        np.stack([t.vector for t in copies])[None],
        face.template.vector[None],
        np.array([face.masked]),
        plain,
        tables.masked,
        Occluded(occluded[0].vector[None], probe_occluded.vector[None], tables.occluded),
    )
    measured = float(10.0 ** -score[0])
    return MaskedVerdict(is_match=measured <= fmr, fmr=measured, masked=bool(face.masked), fmr_target=fmr)
