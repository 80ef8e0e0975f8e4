"""How a masked probe is scored against an enrolment photo (the routed rule of docs/masks.md).

Any probe is compared with the photo's bare template, at that similarity's FMR in the model's
table (as every comparison is). A probe the mask test calls masked is also compared two more ways:

- **masked comparison** (:func:`masked_comparison`): the mean similarity to the photo's bare
  template and its masked copies (:mod:`faceprint.masked_enrol`), at the FMR of the
  ``+masked`` table (measured on masked impostor pairs scored the same way);
- **occluded comparison** (:mod:`faceprint.occlusion`): the probe's occluded template (lower
  face painted over on its eye-aligned chip) against the photo's occluded template, at the FMR
  of the ``+occluded`` table (measured on occluded impostor pairs).

It is accepted on any of them: its FMR is the number of comparisons times the smallest of their
FMRs (a union bound, so the FMR stays honest; a bare face the test wrongly calls masked keeps its
bare score).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .calibrate import Calibration, load_calibration
from .errors import ModelError

__all__ = [
    "MASKED_SUFFIX",
    "OCCLUDED_SUFFIX",
    "MaskedTables",
    "Occluded",
    "Routed",
    "cross_identity_scores",
    "gallery_side",
    "masked_comparison",
    "masked_tables",
    "routed",
    "routed_fmr",
    "routed_scores",
    "two_way_scores",
]


#: The model id suffixes of the masked and the occluded comparisons' calibration tables.
MASKED_SUFFIX = "+masked"
OCCLUDED_SUFFIX = "+occluded"


@dataclass(frozen=True, eq=False)
class MaskedTables:
    """The tables of a masked probe's comparisons for one template space."""

    plain: Calibration
    masked: Calibration
    occluded: Calibration


def masked_tables(plain: Calibration) -> MaskedTables | None:
    """The routed rule's tables for ``plain``'s templates, or ``None`` when no ``+masked`` and
    ``+occluded`` tables ship for that model (masked-looking faces are then compared as bare ones).
    The shipped tables are read once per process."""
    shipped = _shipped(plain.model)
    return None if shipped is None else MaskedTables(plain, *shipped)


@functools.cache
def _shipped(model: str) -> tuple[Calibration, Calibration] | None:
    try:
        return load_calibration(model + MASKED_SUFFIX), load_calibration(model + OCCLUDED_SUFFIX)
    except ModelError:
        return None


@dataclass(frozen=True)
class Routed:
    """A masked face's decision by the routed rule: its FMR and the comparison with the smallest."""

    fmr: float
    comparison: str  # "bare", "masked" or "occluded"


def routed(fmrs: dict[str, float]) -> Routed:
    """The routed rule over the comparisons made, named: their union bound (:func:`routed_fmr`)."""
    return Routed(routed_fmr(list(fmrs.values())), min(fmrs, key=lambda k: fmrs[k]))


def gallery_side(bare: NDArray[np.float32], copies: NDArray[np.float32]) -> NDArray[np.float32]:
    """Per image, what masked enrolment stores: the bare template and its masked copies, (n, 1 + k, dim)."""
    return np.concatenate([bare[:, None], copies], axis=1)


def masked_comparison(side: NDArray[np.float32], probe: NDArray[np.float32]) -> NDArray[np.float64]:
    """A masked probe's score against one enrolment side per row: the mean similarity to its bare
    template and masked copies (``side`` (n, 1 + k, dim), ``probe`` (n, dim))."""
    out: NDArray[np.float64] = np.einsum("ikj,ij->ik", side, probe).mean(axis=1).astype(np.float64)
    return out


@dataclass(frozen=True, eq=False)
class Occluded:
    """The occluded comparison's inputs, row for row with the pairs: gallery and probe occluded
    templates, and the ``+occluded`` table."""

    gallery: NDArray[np.float32]  # (n, dim)
    probe: NDArray[np.float32]  # (n, dim)
    table: Calibration


def routed_fmr(fmrs: list[float]) -> float:
    """The FMR of accepting on any of these comparisons: their number times the smallest (at most 1)."""
    return min(1.0, len(fmrs) * min(fmrs))


def routed_scores(
    gallery: NDArray[np.float32],
    gallery_copies: NDArray[np.float32],
    probe: NDArray[np.float32],
    probe_masked: NDArray[np.bool_],
    plain: Calibration,
    masked: Calibration,
    occluded: Occluded | None = None,
) -> NDArray[np.float64]:
    """Pair scores on the FMR scale (-log10 FMR), by the module's rule (``occluded`` None: the
    bare and masked comparisons only, at twice the smaller FMR)."""
    bare = np.einsum("ij,ij->i", gallery, probe).astype(np.float64)
    fmr = np.array([plain.fmr(float(s)) for s in bare])
    rows = np.flatnonzero(probe_masked)
    if rows.size:
        side = gallery_side(gallery, gallery_copies)[rows]
        score = masked_comparison(side, probe[rows])
        occ = None
        if occluded is not None:
            occ = np.einsum("ij,ij->i", occluded.gallery[rows], occluded.probe[rows])
        for n, row in enumerate(rows):
            parts = [float(fmr[row]), masked.fmr(float(score[n]))]
            if occ is not None and occluded is not None:
                parts.append(occluded.table.fmr(float(occ[n])))
            fmr[row] = routed_fmr(parts)
    out: NDArray[np.float64] = -np.log10(fmr)
    return out


def two_way_scores(
    bare: NDArray[np.float64],
    occluded: NDArray[np.float64],
    probe_masked: NDArray[np.bool_],
    plain: Calibration,
    table: Calibration,
) -> NDArray[np.float64]:
    """Pairs of two masked faces on the FMR scale: bare similarity, and for a masked-looking probe
    also the occluded similarity (both sides occluded), accepted on either at twice the smaller
    FMR (no bare photo to make masked copies of)."""
    fmr = [
        routed_fmr([plain.fmr(float(s)), table.fmr(float(o))]) if m else plain.fmr(float(s))
        for s, o, m in zip(bare, occluded, probe_masked, strict=True)
    ]
    out: NDArray[np.float64] = -np.log10(np.array(fmr))
    return out


def cross_identity_scores(
    gallery: NDArray[np.float32], probe: NDArray[np.float32], labels: NDArray[np.str_], *, block: int = 512
) -> NDArray[np.float32]:
    """Every cross-identity (gallery row, probe row) pair's score: a table's impostors.

    ``gallery`` (n, dim) scores by similarity; (n, k, dim) by the mean similarity over ``k``
    templates (:func:`masked_comparison`).
    """
    side = gallery if gallery.ndim == 3 else gallery[:, None]
    parts = []
    for start in range(0, len(side), block):
        scores = np.einsum("ikd,jd->ijk", side[start : start + block], probe).mean(axis=2)
        parts.append(scores[labels[start : start + block, None] != labels[None, :]].astype(np.float32))
    return np.concatenate(parts)
