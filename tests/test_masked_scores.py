"""The routed rule: any of the comparisons, at their number times the smallest FMR."""

from __future__ import annotations

import numpy as np

from faceprint.calibrate import Calibration
from faceprint.masked_scores import Occluded, routed_fmr, routed_scores


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def test_routed_scores_use_every_comparison_for_masked_probes_only() -> None:
    rng = np.random.default_rng(0)
    table = Calibration.from_scores(rng.uniform(-1, 1, 10_000), model="t")
    gallery, probe = _unit(rng.normal(size=(4, 8))), _unit(rng.normal(size=(4, 8)))
    copies = _unit(rng.normal(size=(4, 2, 8)))
    occ = Occluded(gallery, gallery, table)  # an occluded comparison that always agrees fully
    flagged = np.array([True, True, False, False])
    two = routed_scores(gallery, copies, probe, flagged, table, table)
    three = routed_scores(gallery, copies, probe, flagged, table, table, occ)
    bare = -np.log10([table.fmr(float(s)) for s in np.einsum("ij,ij->i", gallery, probe)])
    assert np.allclose(two[2:], bare[2:]) and np.allclose(three[2:], bare[2:])  # unflagged: as today
    assert np.allclose(three[:2], -np.log10(3 * table.min_fmr))  # the occluded side matched exactly
    assert routed_fmr([0.5, 0.4]) == 0.8 and routed_fmr([0.9, 0.6, 0.7]) == 1.0
