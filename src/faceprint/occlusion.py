"""Occlusion-consistent comparison: the lower face of the aligned chip painted over, on both sides.

A mask hides the nose-to-chin region, and dlib's chip is aligned on the eyes and the nose, so
the masked region sits at nearly fixed rows of the 150 px chip. A masked probe compared with a
bare photo is compared with something it does not show; painting the same rows of *both* chips
with the same flat fill (:func:`occlude_chip`) makes the two templates describe the same visible
part of the face. The chip is cut at :func:`faceprint.align.eye_landmarks` (aligned on the eye
corners alone: the nose-base point slides on a mask, by a median 0.16 eye distances on LFW),
and the occluded template is the mean of the embeddings of :data:`OCCLUSIONS`.

Enrolment keeps such an "occluded" template of each photo (:mod:`faceprint.masked_enrol`); a
probe the mask test calls masked is occluded the same way and compared with it, at the FMR of its
own table (``calibration-<model>+occluded``, measured on occluded impostor pairs of LFW;
:mod:`faceprint.masked_scores`). The occlusions were chosen on LFW folds 1-5 among painted rows
62/70/78/86, grey or the upper chip's mean colour, with and without mirroring (docs/masks.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .align import eye_landmarks
from .engine import Engine
from .errors import InvalidInput
from .faces import Template
from .imageio import RGBImage
from .masked_scores import OCCLUDED_SUFFIX

__all__ = ["OCCLUDED_SUFFIX", "OCCLUSIONS", "occlude_chip", "occluded_templates"]

#: (first painted row of the 150 px chip, fill) of each occlusion averaged into a template; the
#: chip (padding 0.25) has the eyes at row ~47 and the nose base at ~88; fill "upper" is the
#: mean colour of the chip above the line, "grey" is 128.
OCCLUSIONS: tuple[tuple[int, str], ...] = ((70, "upper"), (70, "grey"), (78, "upper"))


def occlude_chip(chip: RGBImage, row: int, fill: str) -> RGBImage:
    """A copy of ``chip`` with every row from ``row`` down painted one flat colour."""
    out = np.array(chip, dtype=np.uint8, copy=True)
    if not 0 < row < out.shape[0]:
        raise InvalidInput(f"occlusion row {row} is outside the {out.shape[0]} px chip")
    if fill == "grey":
        colour: NDArray[np.float64] = np.full(3, 128.0)
    elif fill == "upper":
        colour = out[:row].reshape(-1, 3).mean(axis=0)
    else:
        raise InvalidInput(f"unknown occlusion fill {fill!r} (grey or upper)")
    out[row:] = np.rint(colour).astype(np.uint8)
    return out


def occluded_templates(
    engine: Engine,
    faces: Sequence[tuple[RGBImage, NDArray[np.float64]]],
    occlusions: Sequence[tuple[int, str]] = OCCLUSIONS,
) -> list[Template]:
    """The occluded template of each face given as (image, 5 landmarks): the mean of its
    eye-aligned chip's embeddings under each occlusion, in one embedder call."""
    if not faces:
        return []
    chips = [engine.chip(image, eye_landmarks(points)) for image, points in faces]
    edited = [occlude_chip(chip, row, fill) for chip in chips for row, fill in occlusions]
    vectors = np.stack([t.vector for t in engine.chip_templates(edited)])  # unit length each
    k = len(occlusions)
    return [Template(vectors[i * k : (i + 1) * k].sum(axis=0), engine.model_id) for i in range(len(faces))]
