"""Score <-> false-match-rate tables measured on impostor pairs.

A :class:`Calibration` is built from the similarities of many impostor (different-person) pairs:
for a similarity ``s`` the false match rate is the share of impostor pairs scoring ``>= s``. The
shipped table for each model was measured by ``scripts/calibrate_lfw.py`` on every cross-identity
pair of the LFW images (tens of millions of pairs), so FMRs down to 1e-6 are resolved.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import InvalidInput, ModelError

__all__ = ["Calibration", "CohortTable", "load_calibration"]


@dataclass(frozen=True, eq=False)
class CohortTable:
    """Thresholds of the cohort-normalised 1:N rule (:mod:`faceprint.store.openset`), measured on strangers.

    A probe's best subject score ``s1`` is normalised against the next ``k`` subjects' scores (its
    own cohort): ``z = (s1 - mean) / std``. ``z[i][j]`` is the ``z`` that at most a share
    ``fpirs[i]`` of strangers reach, among those already past the raw threshold at FMR =
    ``raw_factor * fpirs[i] / N``, in galleries of ``sizes[j]`` subjects (simulated on the
    calibration set).
    """

    k: int
    raw_factor: float
    fpirs: NDArray[np.float64]  # decreasing
    sizes: NDArray[np.float64]  # increasing
    z: NDArray[np.float64]  # (len(fpirs), len(sizes))
    source: str = ""

    @property
    def min_size(self) -> int:
        """Galleries smaller than this use the raw rule (the cohort would be thin)."""
        return int(self.sizes[0])

    def z_threshold(self, fpir: float, size: int) -> float:
        """``z`` needed for ``fpir`` in a gallery of ``size`` subjects.

        Linear in log(size) and log(fpir) between measured points; past the largest measured
        gallery, extrapolated along the slope over the whole measured range (z grows with the
        gallery; the end points' slope is noisy and flatter); an ``fpir`` outside the measured
        range takes the nearest measured one.
        """
        logs, logf = np.log(self.sizes), np.log(self.fpirs)
        x = math.log(max(size, 1))
        per_size = []
        for row in self.z:
            if x <= logs[-1]:
                per_size.append(float(np.interp(x, logs, row)))
            else:
                slope = (row[-1] - row[0]) / (logs[-1] - logs[0])
                per_size.append(float(row[-1] + max(slope, 0.0) * (x - logs[-1])))
        f = min(max(math.log(fpir), logf[-1]), logf[0])  # clamp into the measured range
        return float(np.interp(f, logf[::-1], np.array(per_size)[::-1]))

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "raw_factor": self.raw_factor,
            "fpirs": [float(f) for f in self.fpirs],
            "sizes": [int(n) for n in self.sizes],
            "z": [[round(float(v), 4) for v in row] for row in self.z],
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CohortTable:
        return cls(
            k=int(data["k"]),
            raw_factor=float(data["raw_factor"]),
            fpirs=np.asarray(data["fpirs"], dtype=np.float64),
            sizes=np.asarray(data["sizes"], dtype=np.float64),
            z=np.asarray(data["z"], dtype=np.float64),
            source=str(data.get("source", "")),
        )


@dataclass(frozen=True, eq=False)
class Calibration:
    """An impostor score tail: ``counts[i]`` impostor pairs of ``n_impostor`` score ``>= thresholds[i]``.

    ``thresholds`` decreases as ``counts`` increases. Genuine (same-person) pairs, when measured,
    give the FNMR at the same thresholds.
    """

    model: str
    n_impostor: int
    thresholds: NDArray[np.float64]
    counts: NDArray[np.float64]
    source: str = ""
    n_genuine: int = 0
    genuine_below: NDArray[np.float64] | None = None
    cohort: CohortTable | None = None  # the cohort-normalised 1:N rule's table, when measured

    @property
    def min_fmr(self) -> float:
        """The smallest FMR this table resolves: one impostor pair in ``n_impostor``."""
        return 1.0 / self.n_impostor

    def threshold(self, fmr: float) -> float:
        """The similarity threshold whose measured FMR is at most ``fmr`` (conservative)."""
        if not 0.0 < fmr < 1.0:
            raise InvalidInput(f"fmr must be between 0 and 1 (exclusive), not {fmr}")
        if fmr < self.min_fmr:
            raise InvalidInput(
                f"fmr {fmr:g} is below what the {self.model} calibration resolves "
                f"({self.min_fmr:.1e}, one in {self.n_impostor:,} impostor pairs)"
            )
        allowed = fmr * self.n_impostor
        idx = int(np.searchsorted(self.counts, allowed, side="right")) - 1
        return float(self.thresholds[max(idx, 0)])

    def fmr(self, similarity: float) -> float:
        """The measured FMR at ``similarity``: share of impostor pairs scoring at least as high.

        Above the highest impostor score no impostor was seen; the result is then the resolution
        limit :attr:`min_fmr` (an upper bound, not zero).
        """
        s = float(similarity)
        t, c = self.thresholds, self.counts
        if s >= t[0]:
            return self.min_fmr
        if s < t[-1]:
            return 1.0
        # thresholds decrease; interpolate log(count) linearly in the score between grid points
        i = int(np.searchsorted(-t, -s, side="left"))
        t_hi, t_lo = t[i - 1], t[i]
        c_hi, c_lo = c[i - 1], c[i]
        w = (t_hi - s) / (t_hi - t_lo) if t_hi != t_lo else 1.0
        count = math.exp(math.log(c_hi) + w * (math.log(c_lo) - math.log(c_hi)))
        return float(min(1.0, max(count, 1.0) / self.n_impostor))

    def fnmr(self, fmr: float) -> float | None:
        """FNMR measured on the calibration set's genuine pairs at the threshold for ``fmr``."""
        if self.genuine_below is None or self.n_genuine == 0:
            return None
        idx = int(np.searchsorted(self.counts, fmr * self.n_impostor, side="right")) - 1
        return float(self.genuine_below[max(idx, 0)] / self.n_genuine)

    @classmethod
    def from_scores(
        cls,
        impostor: NDArray[np.floating[Any]],
        *,
        model: str,
        genuine: NDArray[np.floating[Any]] | None = None,
        source: str = "",
        points: int = 400,
    ) -> Calibration:
        """Build a table from raw impostor (and optionally genuine) similarity scores.

        Thresholds sit midway between consecutive sorted impostor scores, at counts spaced
        logarithmically from 1 to all pairs, so the FMR at each threshold is exact.
        """
        scores = np.sort(np.asarray(impostor, dtype=np.float64).ravel())[::-1]
        n = int(scores.size)
        if n < 2:
            raise InvalidInput("need at least two impostor scores")
        counts = np.unique(np.rint(np.logspace(0, math.log10(n - 1), points)).astype(np.int64))
        counts = counts[(counts >= 1) & (counts < n)]
        thresholds = (scores[counts - 1] + scores[counts]) / 2.0
        # equal neighbouring scores make equal thresholds: keep the largest count for each
        keep = np.r_[thresholds[1:] != thresholds[:-1], True]
        thresholds, counts = thresholds[keep], counts[keep]
        genuine_below = None
        n_genuine = 0
        if genuine is not None:
            g = np.sort(np.asarray(genuine, dtype=np.float64).ravel())
            n_genuine = int(g.size)
            genuine_below = np.searchsorted(g, thresholds, side="left").astype(np.float64)
        return cls(
            model=model,
            n_impostor=n,
            thresholds=thresholds,
            counts=counts.astype(np.float64),
            source=source,
            n_genuine=n_genuine,
            genuine_below=genuine_below,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "source": self.source,
            "n_impostor": self.n_impostor,
            "n_genuine": self.n_genuine,
            "thresholds": [round(float(t), 7) for t in self.thresholds],
            "counts": [int(c) for c in self.counts],
            "genuine_below": None if self.genuine_below is None else [int(g) for g in self.genuine_below],
            **({} if self.cohort is None else {"cohort": self.cohort.to_json()}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        try:
            thresholds = np.asarray(data["thresholds"], dtype=np.float64)
            counts = np.asarray(data["counts"], dtype=np.float64)
            below = data.get("genuine_below")
            table = cls(
                model=str(data["model"]),
                n_impostor=int(data["n_impostor"]),
                thresholds=thresholds,
                counts=counts,
                source=str(data.get("source", "")),
                n_genuine=int(data.get("n_genuine", 0)),
                genuine_below=None if below is None else np.asarray(below, dtype=np.float64),
                cohort=CohortTable.from_json(data["cohort"]) if data.get("cohort") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"malformed calibration table ({exc})") from None
        if thresholds.size == 0 or thresholds.shape != counts.shape or np.any(np.diff(thresholds) > 0):
            raise ModelError("malformed calibration table (thresholds must decrease with counts)")
        return table


def load_calibration(model: str) -> Calibration:
    """The calibration table shipped with faceprint for ``model``."""
    name = f"calibration-{model}.json"
    try:
        text = resources.files("faceprint").joinpath("data", name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"no calibration table ships for model {model!r} ({name})") from None
    return Calibration.from_json(json.loads(text))
