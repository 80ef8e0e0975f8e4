"""The open-set decision of a 1:N search: which threshold a search uses, and why.

By default a search bounds the share of strangers who get a name, the false positive
identification rate (FPIR), at :data:`DEFAULT_FPIR`: a stranger's search compares them with
every eligible subject, so with ``N`` subjects the per-comparison false match rate must be at
most ``FPIR / N`` (the union bound; measured FPIR is lower, see docs/identification.md). The
threshold therefore rises with the gallery. Asking for ``fmr`` instead fixes the per-comparison
rate whatever the gallery size: against ``N`` subjects a stranger is then named with probability
up to about ``N * fmr``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..calibrate import Calibration
from ..errors import InvalidInput

__all__ = ["DEFAULT_FPIR", "Decision", "decision_rule"]

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

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": round(self.threshold, 6),
            "rule": self.rule,
            "fmr": self.fmr,
            "fpir": self.fpir,
            "eligible": self.eligible,
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
    if capped:
        rule += f" (capped at the calibration's smallest fmr {per:.1e})"
    return Decision(calibration.threshold(per), per, fpir, eligible, rule, capped)
