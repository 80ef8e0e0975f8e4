"""Masked enrolment copies: the enrolment photo with synthetic masks, as extra templates of the subject.

A masked probe looks more like a masked photo of the same person than like the bare one: for
each enrolment photo, :func:`masked_samples` also returns the photo with a mask of each style in
:data:`faceprint.masked_lfw.ENROL_STYLES` drawn on the face (:mod:`faceprint.masks`, seeded by
the photo's content hash) and embedded at the bare face's landmarks. The copies are ordinary
templates of the subject, told apart by their ``source`` (the photo's hash plus
``+masked-<style>``, :func:`is_masked_source`): consent covers them, erasure deletes them with the
subject's other templates, and re-enrolling the same photo skips them like any duplicate.

The store's search does not yet tell them apart: it scores each subject by its best template
with the bare table, and measured on LFW (docs/masks.md) that names more strangers, bare or
masked, than a gallery without copies. The masked comparison that keeps the FMR honest (its own
table, :func:`faceprint.masked_lfw.routed_scores`) is measured by the protocols only.
"""

from __future__ import annotations

from .gallery import Gallery
from .imageio import ImageSource
from .masked_lfw import ENROL_STYLES
from .masks import draw_mask, mask_for
from .store import Sample

__all__ = ["MASKED_SOURCE", "is_masked_source", "masked_samples"]

#: What a masked copy's ``source`` carries after the photo's hash.
MASKED_SOURCE = "+masked-"


def is_masked_source(source: str) -> bool:
    """Whether a template's ``source`` marks it as a masked copy."""
    return MASKED_SOURCE in source


def masked_samples(
    store: Gallery, image: ImageSource, *, largest_face: bool = False, styles: tuple[str, ...] = ENROL_STYLES
) -> list[Sample]:
    """The photo's sample (:meth:`Gallery.sample`, with its checks) and one masked copy per style."""
    bare = store.sample(image, largest_face=largest_face)
    engine = store.engine
    rgb = engine.load_image(image)
    face = engine.embed(rgb, boxes=[bare.box])[0] if bare.box is not None else None
    if face is None:
        return [bare]
    copies = [
        draw_mask(rgb, face.landmarks, mask_for(bare.source, i, style)) for i, style in enumerate(styles)
    ]
    templates = engine.templates_at([(copy, face.points) for copy in copies])
    return [bare] + [
        Sample(template=t, source=f"{bare.source}{MASKED_SOURCE}{style}", box=bare.box)
        for t, style in zip(templates, styles, strict=True)
    ]
