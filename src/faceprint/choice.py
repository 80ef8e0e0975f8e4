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

from .faces import Box

__all__ = ["RIVAL", "TIE", "main_face", "rivals"]

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
