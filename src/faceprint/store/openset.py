"""The open-set decision of a 1:N search: which threshold a search uses, and why.

By default a search bounds the share of strangers who get a name, the false positive
identification rate (FPIR), at :data:`DEFAULT_FPIR`. A stranger's search compares them with every
eligible subject, so with ``N`` subjects the per-comparison false match rate must be at most
``FPIR / N`` (the union bound): the threshold rises with the gallery. That is the rule for small
galleries and when the model's calibration has no cohort table.

From :attr:`CohortTable.min_size` subjects on, the rule is *cohort-normalised*: the probe's best
score ``s1`` is compared with the scores of the next ``k`` subjects — the gallery's own impostors
for this probe — as ``z = (s1 - mean) / std``. A stranger's best score is just the top of that
crowd; a mate's stands out of it. A subject is named when its similarity passes the union-bound
threshold of a looser FPIR (``raw_factor`` times the asked one: a hard bound whatever the
probe) *and* its ``z`` passes the threshold measured on strangers to give the asked FPIR in a
gallery of that size (:func:`calibrate_cohort`, by simulation on the calibration set). Measured in
docs/identification.md: FNIR at FPIR 0.01 0.61 -> 0.46 on a 4,000-subject gallery.

Asking for ``fmr`` instead fixes the per-comparison rate whatever the gallery size: against ``N``
subjects a stranger is then named with probability up to about ``N * fmr``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..calibrate import Calibration, CohortTable
from ..errors import InvalidInput

__all__ = ["DEFAULT_FPIR", "Decision", "calibrate_cohort", "cohort_stats", "decision_rule"]

#: The default bound on the share of strangers given a name.
DEFAULT_FPIR = 0.01


@dataclass(frozen=True)
class Decision:
    """The threshold a search used and why: ``rule`` says it in words, e.g. "fpir 0.01 over 1200 subjects"."""

    threshold: float  # similarity needed for a name
    fmr: float  # per-comparison false match rate at that threshold (asked for, or FPIR / N)
    fpir: float | None  # the bound asked for, when the rule is FPIR
    eligible: int  # subjects the search compares against
    rule: str
    capped: bool = False  # FPIR / N was below what the calibration resolves: its strictest threshold
    z: float | None = None  # cohort-normalised rule: the z a subject needs as well
    k: int = 0  # cohort-normalised rule: subjects in the probe's cohort

    def passes(self, similarity: float, z: float) -> bool:
        """Is a subject at ``similarity`` (normalised: ``z``) named?"""
        return similarity >= self.threshold and (self.z is None or z >= self.z)

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": round(self.threshold, 6),
            "rule": self.rule,
            "fmr": self.fmr,
            "fpir": self.fpir,
            "eligible": self.eligible,
            "z": None if self.z is None else round(self.z, 4),
        }


def decision_rule(
    calibration: Calibration, eligible: int, *, fmr: float | None = None, fpir: float | None = None
) -> Decision:
    """The threshold for a search against ``eligible`` subjects: at ``fmr`` when given, else at ``fpir``.

    Neither given: ``fpir`` = :data:`DEFAULT_FPIR`. Both: :class:`InvalidInput`. When ``FPIR / N``
    is below what the calibration resolves, an explicit ``fpir`` is refused (:class:`InvalidInput`)
    and the default gets the table's strictest threshold (``capped``; the rule says so).
    """
    if fmr is not None and fpir is not None:
        raise InvalidInput("give either fmr (per comparison) or fpir (share of strangers named), not both")
    if fmr is not None:
        return Decision(calibration.threshold(fmr), fmr, None, eligible, f"fmr {fmr:g} per comparison")
    asked = fpir is not None
    fpir = DEFAULT_FPIR if fpir is None else fpir
    if not 0.0 < fpir < 1.0:
        raise InvalidInput(f"fpir must be between 0 and 1 (exclusive), not {fpir}")
    n = max(1, eligible)
    per = fpir / n
    capped = per < calibration.min_fmr
    if capped and asked:
        calibration.threshold(per)  # raises: an explicit bound the table cannot give is an error
    if capped:
        per = calibration.min_fmr
    rule = f"fpir {fpir:g} over {n} subject{'s' if n != 1 else ''}"
    cohort = calibration.cohort
    if cohort is not None and n >= cohort.min_size:
        loose = max(cohort.raw_factor * fpir / n, calibration.min_fmr)
        z = cohort.z_threshold(fpir, n)
        rule += f", cohort-normalised (z >= {z:.2f} against the next {cohort.k} subjects)"
        return Decision(calibration.threshold(loose), loose, fpir, eligible, rule, capped, z, cohort.k)
    if capped:
        rule += f" (capped at the calibration's smallest fmr {per:.1e})"
    return Decision(calibration.threshold(per), per, fpir, eligible, rule, capped)


def cohort_stats(scores: Sequence[float] | NDArray[np.float64], k: int) -> tuple[float, float]:
    """(mean, std) of the cohort of a probe: its per-subject scores best first, the best left out."""
    rest = np.asarray(scores[1 : k + 1], dtype=np.float64)
    if rest.size < 2:
        return 0.0, math.inf  # no cohort: z = 0, only the raw threshold can decide
    return float(rest.mean()), max(float(rest.std()), 1e-6)


def calibrate_cohort(
    matrix: NDArray[np.float32],
    labels: NDArray[np.int64],
    calibration: Calibration,
    *,
    k: int = 100,
    raw_factor: float = 10.0,
    sizes: Sequence[int] = (200, 400, 800, 1600, 2400),
    fpirs: Sequence[float] = (0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001),
    repeats: int = 8,
    seed: int = 0,
    source: str = "",
) -> CohortTable:
    """Measure the cohort rule's ``z`` thresholds by simulation on labelled templates (one row per image).

    For each gallery size: ``repeats`` times, a gallery of that many people (one random photo
    each) is searched by every photo of the people left out (strangers); pooled over repeats,
    ``z`` is set so that a share ``fpir`` of strangers pass both it and the raw threshold.
    """
    rng = np.random.default_rng(seed)
    people = np.unique(labels)
    by_person = {int(p): np.flatnonzero(labels == p) for p in people}
    table = np.zeros((len(fpirs), len(sizes)))
    for j, n in enumerate(sizes):
        if n + 100 > len(people):
            raise InvalidInput(f"a gallery of {n} leaves too few strangers among {len(people)} people")
        pooled: list[list[float]] = [[] for _ in fpirs]
        for _ in range(repeats):
            chosen = rng.choice(people, size=n, replace=False)
            gallery = matrix[[int(rng.choice(by_person[int(p)])) for p in chosen]]
            out = np.setdiff1d(people, chosen)
            strangers = matrix[np.concatenate([by_person[int(p)] for p in out])]
            best = -np.sort(-(strangers @ gallery.T), axis=1)[:, : k + 1]
            s1 = best[:, 0]
            mean, std = best[:, 1:].mean(axis=1), np.maximum(best[:, 1:].std(axis=1), 1e-6)
            z = (s1 - mean) / std
            for i, fpir in enumerate(fpirs):
                t = calibration.threshold(max(raw_factor * fpir / n, calibration.min_fmr))
                pooled[i] += list(np.where(s1 >= t, z, -np.inf))
        for i, fpir in enumerate(fpirs):
            d = np.sort(np.asarray(pooled[i]))[::-1]
            allowed = math.floor(fpir * len(d))
            table[i, j] = float(np.nextafter(d[allowed], np.inf)) if np.isfinite(d[allowed]) else -10.0
    # more subjects never need a smaller z, a smaller FPIR never a smaller z: make it monotone
    table = np.maximum.accumulate(np.maximum.accumulate(table, axis=1), axis=0)
    return CohortTable(
        k=k,
        raw_factor=raw_factor,
        fpirs=np.asarray(fpirs, dtype=np.float64),
        sizes=np.asarray(sizes, dtype=np.float64),
        z=table,
        source=source,
    )
