"""A photo's masked copies and occluded template: what masked enrolment stores and 1:1 makes on the spot.

For each style in :data:`ENROL_STYLES` the photo with a synthetic mask (:mod:`faceprint.masks`,
seeded by a key such as the photo's hash) embedded at the bare face's landmarks, and its occluded
template (:mod:`faceprint.occlusion`). :func:`masked_samples_of` gives them as enrolment samples,
told apart by their ``source`` (:mod:`faceprint.store.masked_copies`).
"""

from __future__ import annotations

from .engine import Engine
from .faces import Face, Template
from .imageio import RGBImage
from .masks import draw_mask, mask_for
from .occlusion import occluded_templates
from .store.masked_copies import MASKED_SOURCE, OCCLUDED_STYLE
from .store.records import Sample

__all__ = ["ENROL_STYLES", "masked_samples_of", "photo_copies"]

#: Styles of the masked copies made of an enrolment photo (one each).
ENROL_STYLES = ("surgical", "cloth", "white", "patterned")


def photo_copies(
    engine: Engine,
    rgb: RGBImage,
    face: Face,
    key: str,
    *,
    styles: tuple[str, ...] = ENROL_STYLES,
    occluded: bool = True,
) -> list[Template]:
    """A photo's masked copies (one per style, masks seeded by ``key``) and (``occluded``) its
    occluded template, for ``face`` found in ``rgb``."""
    copies = [draw_mask(rgb, face.landmarks, mask_for(key, i, style)) for i, style in enumerate(styles)]
    templates = engine.templates_at([(copy, face.points) for copy in copies])
    if occluded:
        templates += occluded_templates(engine, [(rgb, face.landmarks)])
    return templates


def masked_samples_of(
    engine: Engine,
    rgb: RGBImage,
    face: Face,
    bare: Sample,
    *,
    styles: tuple[str, ...] = ENROL_STYLES,
    occluded: bool = True,
) -> list[Sample]:
    """``bare`` (the enrolment sample of ``face``, found in ``rgb``), its masked copies and
    (``occluded``) its occluded template."""
    templates = photo_copies(engine, rgb, face, bare.source, styles=styles, occluded=occluded)
    names = list(styles) + ([OCCLUDED_STYLE] if occluded else [])
    return [bare] + [
        Sample(template=t, source=f"{bare.source}{MASKED_SOURCE}{style}", box=bare.box)
        for t, style in zip(templates, names, strict=True)
    ]
