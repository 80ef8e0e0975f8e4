"""1:N rates from score matrices: what the store's 1:N rule would answer, probe by probe.

The store (:mod:`faceprint.store.scoring`) names the subjects that pass its decision, ordered —
when two or more pass, in a gallery of :data:`~faceprint.store.crowding.MIN_SUBJECTS` or more —
by similarity less half their crowding. Offline, with every probe's scores against every gallery
entry at hand, that becomes per mated probe: its mate's score, and the best raw score among the
subjects that would be listed above the mate (the *blocker*, -inf for none). The mate is named
first at a decision threshold ``t`` exactly when ``blocker < t <= mate``: the threshold lets the
mate through and stops every subject the order puts above it. Without crowding the blocker is the
best other score when it beats the mate's, so this is the usual "rank-1 and above threshold".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .store.crowding import MIN_SUBJECTS, RERANKED, K
from .store.openset import cohort_stats

__all__ = [
    "MatedOutcome",
    "as_z",
    "cohort_moments",
    "det_curve",
    "fnir_at_fpir",
    "gallery_crowding",
    "mated_outcomes",
    "rates",
    "top_z",
]

Scores = NDArray[np.float64]


@dataclass(frozen=True)
class MatedOutcome:
    """Per mated probe: ``mate`` score, ``blocker`` score (-inf: none), ``ok`` (can be named first at all)."""

    mate: Scores
    blocker: Scores
    ok: NDArray[np.bool_]

    @property
    def rank1(self) -> float:
        """Closed set (every subject passes): the mate is listed first."""
        return float(np.mean(self.ok & np.isneginf(self.blocker))) if len(self.ok) else float("nan")

    def named(self, passes_mate: NDArray[np.bool_], passes_blocker: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Named first under a rule, given whether the mate's and the blocker's scores pass it."""
        return self.ok & passes_mate & ~passes_blocker


def gallery_crowding(gallery: NDArray[np.float32], enrolled: NDArray[np.bool_]) -> NDArray[np.float64] | None:
    """Each entry's crowding (mean of its :data:`K` best similarities to the other enrolled entries, one
    per subject), or None when fewer than :data:`MIN_SUBJECTS` are enrolled (the store does not apply it)."""
    if int(enrolled.sum()) < MIN_SUBJECTS:
        return None
    unit = gallery.astype(np.float32)
    out = np.zeros(len(unit))
    for start in range(0, len(unit), 1024):  # bounded temporary memory
        sims = unit[start : start + 1024] @ unit.T
        sims[:, ~enrolled] = -np.inf
        rows = np.arange(len(sims))
        sims[rows, start + rows] = -np.inf
        out[start : start + len(sims)] = -np.sort(-np.partition(sims, -K, axis=1)[:, -K:], axis=1).mean(
            axis=1
        )
    return out


def mated_outcomes(
    scores: Scores, truth: NDArray[np.int64], crowding: NDArray[np.float64] | None
) -> MatedOutcome:
    """The mate, blocker and ok of each row of ``scores`` (probes x gallery; -inf: not enrolled / no face)."""
    n = len(scores)
    if n == 0:
        empty = np.zeros(0)
        return MatedOutcome(empty, empty, np.zeros(0, dtype=bool))
    rows = np.arange(n)
    mate = scores[rows, truth]
    others = scores.copy()
    others[rows, truth] = -np.inf
    if crowding is None:
        best_other = others.max(axis=1)
        return MatedOutcome(mate, np.where(best_other > mate, best_other, -np.inf), np.isfinite(mate))
    m = min(RERANKED, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :m]
    in_top = (top == truth[:, None]).any(axis=1)
    corrected = np.take_along_axis(scores, top, axis=1) - crowding[top] / 2
    above = (corrected > (mate - crowding[truth] / 2)[:, None]) & (top != truth[:, None])
    raw = np.where(above, np.take_along_axis(scores, top, axis=1), -np.inf)
    return MatedOutcome(mate, raw.max(axis=1), in_top & np.isfinite(mate))


def cohort_moments(scores: Scores, k: int) -> tuple[Scores, Scores]:
    """Per probe: (mean, std) of its cohort (the ``k`` subjects after the best, :func:`cohort_stats`)."""
    mean, std = np.zeros(len(scores)), np.full(len(scores), np.inf)
    best = -np.sort(-scores, axis=1)[:, : k + 1] if len(scores) else np.zeros((0, 0))
    for i, row in enumerate(best):
        row = row[np.isfinite(row)]
        if len(row):
            mean[i], std[i] = cohort_stats(row, k)
    return mean, std


def as_z(values: Scores, mean: Scores, std: Scores) -> Scores:
    """``(values - mean) / std`` per probe; -inf stays -inf (no score), no cohort (std inf) gives 0."""
    out = np.full(len(values), -np.inf)
    finite = np.isfinite(values)
    out[finite] = (values[finite] - mean[finite]) / std[finite]
    return out


def top_z(scores: Scores, k: int) -> Scores:
    """Per probe: its best subject's z against the next ``k`` subjects (-inf without a face)."""
    if len(scores) == 0:
        return np.zeros(0)
    mean, std = cohort_moments(scores, k)
    return as_z(scores.max(axis=1), mean, std)


def rates(
    best: Scores, ok: NDArray[np.bool_], stranger: Scores, t: float, blocker: Scores | None = None
) -> tuple[float, float]:
    """(FPIR, FNIR) at decision threshold ``t``: a mate is named when ``ok`` and ``blocker < t <= best``."""
    fpir = float(np.mean(stranger >= t)) if len(stranger) else 0.0
    blocked = np.zeros(len(best), dtype=bool) if blocker is None else blocker >= t
    fnir = float(np.mean(~(ok & (best >= t) & ~blocked))) if len(best) else 0.0
    return fpir, fnir


def fnir_at_fpir(
    best: Scores, ok: NDArray[np.bool_], stranger: Scores, fpir: float, blocker: Scores | None = None
) -> float:
    """FNIR at the lowest threshold that gives at most ``fpir`` of the strangers an answer."""
    finite = np.sort(stranger[np.isfinite(stranger)])[::-1]
    if len(stranger) == 0 or fpir * len(stranger) < 1:
        return float("nan")  # not resolved: fewer strangers than 1 / fpir
    allowed = int(np.floor(fpir * len(stranger)))
    threshold = float(np.nextafter(finite[allowed], np.inf)) if allowed < len(finite) else -np.inf
    return rates(best, ok, stranger, threshold, blocker)[1]


def det_curve(
    best: Scores, ok: NDArray[np.bool_], stranger: Scores, blocker: Scores | None = None
) -> tuple[Scores, Scores]:
    """(FPIR, FNIR) at every threshold a stranger's score sets."""
    finite = np.sort(stranger[np.isfinite(stranger)])[::-1]
    if len(finite) == 0 or len(best) == 0:
        return np.zeros(0), np.zeros(0)
    thresholds = np.nextafter(finite, np.inf)
    fpir = np.arange(len(finite)) / len(stranger)
    block = np.full(len(best), -np.inf) if blocker is None else blocker
    usable = ok & (block < best)  # named at t exactly when block < t <= best
    hits, blocks = np.sort(best[usable]), np.sort(block[usable])
    named = (len(hits) - np.searchsorted(hits, thresholds, side="left")) - (
        len(blocks) - np.searchsorted(blocks, thresholds, side="left")
    )
    return fpir, 1.0 - named / len(best)
