"""Which face of a photo is "the" face: the one a search uses and an enrolment takes.

The main face is the largest, except that among faces of about the same size (:data:`TIE`) the
one nearest the photo's centre wins: photographers put their subject in the middle, bystanders at
the edges (measured in docs/identification.md). Another face *rivals* the main one when it is at
least half as large and half as clearly detected: enrolment refuses such photos unless asked to
take the main face anyway (``largest_face``), because enrolling a bystander is worse than asking.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import InvalidInput
from .faces import Box, Face

__all__ = ["RIVAL", "TIE", "Choice", "ChosenFace", "choose", "main_face", "rivals"]

#: Faces at least this share of the largest face's area count as "the same size" for the centre rule
#: (measured on composed LFW photos: 0.8 names 0.5 point more people than the largest alone, 0.5 fewer).
TIE = 0.8
#: A face at least this share of the main face's area and detector score rivals it (enrolment refuses).
RIVAL = 0.5


def main_face(boxes: Sequence[Box], width: int, height: int, *, tie: float = TIE) -> int:
    """Index of the main face among ``boxes`` in a ``width`` x ``height`` photo (-1 when there is none).

    The largest face, or, among faces of at least ``tie`` times its area, the one whose centre is
    nearest the photo's centre (``tie`` = 1 keeps the largest).
    """
    if not boxes:
        return -1
    largest = max(b.area for b in boxes)
    candidates = [i for i, b in enumerate(boxes) if b.area >= tie * largest]
    cx, cy = width / 2, height / 2

    def off_centre(i: int) -> tuple[float, float]:
        x, y = boxes[i].center
        return (math.hypot(x - cx, y - cy), -boxes[i].area)

    return min(candidates, key=off_centre)


def rivals(boxes: Sequence[Box], scores: Sequence[float], chosen: int) -> list[int]:
    """Indices of the faces that could be the intended one as well as face ``chosen``.

    At least :data:`RIVAL` of its area and of its detector score (a missing score — a given box —
    does not make a face less of a rival).
    """
    main, score = boxes[chosen], scores[chosen]
    found = []
    for i, (box, other) in enumerate(zip(boxes, scores, strict=True)):
        if i == chosen or box.area < RIVAL * main.area:
            continue
        if math.isnan(other) or math.isnan(score) or other >= RIVAL * score:
            found.append(i)
    return found


@dataclass(frozen=True)
class Choice:
    """Which face of a photo to use: ``index`` into its faces (largest first), the faces that rival
    it (indices; empty when the caller chose by index), and how many faces there were."""

    index: int
    rivals: tuple[int, ...]
    count: int


def choose(
    boxes: Sequence[Box],
    scores: Sequence[float],
    width: int,
    height: int,
    *,
    index: int | None = None,
    name: str = "",
) -> Choice:
    """The one verb for "which face": face number ``index`` (0 = the largest, as detection lists
    them), or the main face (:func:`main_face`) with its :func:`rivals`. ``boxes`` must not be
    empty; an ``index`` out of range is :class:`InvalidInput` (``name`` says which photo)."""
    if index is None:
        chosen = main_face(boxes, width, height)
        return Choice(chosen, tuple(rivals(boxes, scores, chosen)), len(boxes))
    if not 0 <= index < len(boxes):
        raise InvalidInput(f"{name}: has {len(boxes)} face(s); face index {index} does not exist")
    return Choice(index, (), len(boxes))


@dataclass(frozen=True)
class ChosenFace:
    """The face :meth:`Engine.choose_face` picked, with its template: its index among the photo's
    faces (largest first), how many there were, and the faces that rival it (no templates)."""

    face: Face
    index: int
    count: int
    rivals: tuple[Face, ...]
