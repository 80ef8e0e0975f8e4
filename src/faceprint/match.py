"""Comparing templates: vectorised similarities and calibrated 1:1 decisions."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .calibrate import Calibration
from .errors import InvalidInput
from .faces import Template

__all__ = ["Match", "compare", "distance_from_similarity", "similarities"]


@dataclass(frozen=True)
class Match:
    """A calibrated same-person decision between two templates.

    ``similarity`` is the cosine similarity of the unit templates (1 = identical) and ``distance``
    their Euclidean distance, ``sqrt(2 - 2 * similarity)``. ``fmr`` is the false match rate
    measured at this similarity (the share of impostor pairs scoring at least as high);
    ``threshold`` is the similarity needed for a match at the requested ``fmr_target``.
    """

    is_match: bool
    similarity: float
    distance: float
    fmr: float
    threshold: float
    fmr_target: float
    model: str
    #: a masked face compared by the routed rule (faceprint.masked_enrol.verify_images): the
    #: comparison with the smallest FMR (``bare``, ``masked``, ``occluded``); ``fmr`` is then the
    #: rule's union bound and ``is_match`` is ``fmr <= fmr_target``. None: compared as bare faces.
    comparison: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "match": self.is_match,
            "distance": round(self.distance, 6),
            "similarity": round(self.similarity, 6),
            "fmr": float(f"{self.fmr:.3g}"),
            "threshold": round(self.threshold, 6),
            "fmr_target": self.fmr_target,
            "model": self.model,
        }
        if self.comparison is not None:
            out["comparison"] = self.comparison
        return out


def distance_from_similarity(similarity: float) -> float:
    """Euclidean distance of two unit vectors whose cosine similarity is ``similarity``."""
    return math.sqrt(max(0.0, 2.0 - 2.0 * similarity))


def similarities(query: Template, gallery: NDArray[np.float32]) -> NDArray[np.float32]:
    """Cosine similarity of ``query`` to each row of a (n, dim) matrix of unit templates."""
    matrix = np.asarray(gallery, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] != query.dim:
        raise InvalidInput(f"gallery must have shape (n, {query.dim}), not {matrix.shape}")
    if matrix.shape[0] == 0:
        return np.zeros(0, dtype=np.float32)
    return np.asarray(matrix @ query.vector, dtype=np.float32)


def compare(a: Template, b: Template, calibration: Calibration, *, fmr: float = 1e-3) -> Match:
    """Decide whether ``a`` and ``b`` show the same person, at false match rate ``fmr``."""
    if a.model != b.model:
        raise InvalidInput(f"cannot compare templates of different models ({a.model!r} and {b.model!r})")
    if calibration.model != a.model:
        raise InvalidInput(f"calibration is for {calibration.model!r}, templates are {a.model!r}")
    similarity = float(np.clip(np.dot(a.vector, b.vector), -1.0, 1.0))
    threshold = calibration.threshold(fmr)
    return Match(
        is_match=similarity >= threshold,
        similarity=similarity,
        distance=distance_from_similarity(similarity),
        fmr=calibration.fmr(similarity),
        threshold=threshold,
        fmr_target=fmr,
        model=a.model,
    )
