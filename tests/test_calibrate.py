from __future__ import annotations

import json

import numpy as np
import pytest

from faceprint.calibrate import Calibration, load_calibration
from faceprint.errors import InvalidInput, ModelError

RNG = np.random.default_rng(1)
IMPOSTOR = RNG.normal(0.0, 0.1, 200_000)
GENUINE = RNG.normal(0.7, 0.1, 5_000)


@pytest.fixture(scope="module")
def table() -> Calibration:
    return Calibration.from_scores(IMPOSTOR, genuine=GENUINE, model="m")


@pytest.mark.parametrize("fmr", [1e-1, 1e-2, 1e-3, 1e-4, 2e-5])
def test_threshold_meets_the_fmr_it_promises(table: Calibration, fmr: float) -> None:
    t = table.threshold(fmr)
    measured = np.mean(t <= IMPOSTOR)
    assert measured <= fmr
    assert measured >= fmr / 2  # and is not needlessly strict (log-spaced grid: <= ~2.4% apart)


def test_fmr_at_score_matches_the_data(table: Calibration) -> None:
    for score in (0.05, 0.2, 0.3, 0.35):
        expected = np.mean(score <= IMPOSTOR)
        assert table.fmr(score) == pytest.approx(expected, rel=0.1)
    assert table.fmr(5.0) == table.min_fmr  # beyond every impostor: the resolution limit, not 0
    assert table.fmr(-5.0) == 1.0


def test_fnmr_from_genuine_scores(table: Calibration) -> None:
    t = table.threshold(1e-3)
    assert table.fnmr(1e-3) == pytest.approx(np.mean(t > GENUINE), abs=1e-9)


def test_fmr_outside_the_resolved_range_is_refused(table: Calibration) -> None:
    with pytest.raises(InvalidInput, match="below what"):
        table.threshold(1e-9)
    for bad in (0.0, 1.0, -1.0):
        with pytest.raises(InvalidInput):
            table.threshold(bad)


def test_json_round_trip(table: Calibration) -> None:
    again = Calibration.from_json(json.loads(json.dumps(table.to_json())))
    assert again.threshold(1e-3) == pytest.approx(table.threshold(1e-3), abs=1e-6)
    assert again.fnmr(1e-2) == table.fnmr(1e-2)


def test_malformed_table_is_a_model_error() -> None:
    with pytest.raises(ModelError):
        Calibration.from_json({"model": "m"})
    with pytest.raises(ModelError):
        Calibration.from_json({"model": "m", "n_impostor": 10, "thresholds": [0.1, 0.2], "counts": [1, 2]})


def test_shipped_table_resolves_one_in_a_million() -> None:
    table = load_calibration("dlib-resnet-v1")
    assert table.n_impostor > 10_000_000  # every cross-identity LFW pair, not pairs.txt's 3,000
    assert table.min_fmr < 1e-7
    thresholds = [table.threshold(f) for f in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)]
    assert thresholds == sorted(thresholds)  # stricter FMR, higher similarity
    assert 0.0 < thresholds[0] < thresholds[-1] < 1.0
    fnmr = table.fnmr(1e-3)
    assert fnmr is not None and 0.0 < fnmr < 0.1  # measured on every same-person LFW pair
    with pytest.raises(ModelError, match="no calibration table"):
        load_calibration("nobody's-model")
