from __future__ import annotations

import numpy as np
import pytest

from faceprint.calibrate import Calibration, load_calibration
from faceprint.errors import InvalidInput
from faceprint.store.openset import DEFAULT_FPIR, calibrate_cohort, cohort_stats, decision_rule

SHIPPED = load_calibration("dlib-resnet-v1")


def test_the_default_rule_bounds_fpir_over_the_gallery() -> None:
    small = decision_rule(SHIPPED, 50)
    assert (small.fpir, small.z, small.rule) == (DEFAULT_FPIR, None, "fpir 0.01 over 50 subjects")
    assert small.threshold == SHIPPED.threshold(0.01 / 50)
    assert decision_rule(SHIPPED, 100).threshold < decision_rule(SHIPPED, 150).threshold  # rises with N
    per = decision_rule(SHIPPED, 50, fmr=1e-3)
    assert (per.rule, per.fpir, per.threshold) == ("fmr 0.001 per comparison", None, SHIPPED.threshold(1e-3))
    with pytest.raises(InvalidInput, match="not both"):
        decision_rule(SHIPPED, 50, fmr=1e-3, fpir=0.01)


def test_past_the_resolution_an_explicit_fpir_is_refused_and_the_default_capped() -> None:
    table = Calibration.from_scores(np.linspace(0, 0.9, 1000), model="m")  # resolves FMR 1e-3
    with pytest.raises(InvalidInput, match="resolves"):
        decision_rule(table, 100, fpir=0.01)
    capped = decision_rule(table, 100)
    assert capped.capped and capped.fmr == table.min_fmr and "capped" in capped.rule


def test_the_shipped_cohort_table_needs_more_z_for_more_subjects_and_fewer_strangers() -> None:
    cohort = SHIPPED.cohort
    assert cohort is not None and cohort.k == 100
    z = [cohort.z_threshold(0.01, n) for n in (cohort.min_size, 1000, 2400, 10_000, 1_000_000)]
    assert z == sorted(z) and z[-1] > z[-2]  # extrapolated past the measured galleries, never flatter
    assert cohort.z_threshold(0.001, 1000) >= cohort.z_threshold(0.01, 1000) >= cohort.z_threshold(0.1, 1000)
    big = decision_rule(SHIPPED, 5000)
    assert big.z == pytest.approx(cohort.z_threshold(0.01, 5000)) and big.k == 100
    assert big.threshold == SHIPPED.threshold(cohort.raw_factor * 0.01 / 5000)  # the looser hard floor
    again = Calibration.from_json(SHIPPED.to_json())
    assert again.cohort is not None and np.array_equal(again.cohort.z, cohort.z)


def test_calibrate_cohort_on_random_templates_gives_the_asked_fpir() -> None:
    rng = np.random.default_rng(0)
    people = 900
    centres = rng.normal(size=(people, 32))
    labels = np.repeat(np.arange(people), 2)
    matrix = centres[labels] + 0.3 * rng.normal(size=(2 * people, 32))
    matrix = (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)
    impostor = np.concatenate([(matrix[i] @ matrix[labels != labels[i]].T) for i in range(0, 2 * people, 9)])
    table = Calibration.from_scores(impostor, model="m")
    cohort = calibrate_cohort(matrix, labels, table, k=20, sizes=(100, 400), fpirs=(0.1, 0.01), repeats=3)
    assert cohort.z.shape == (2, 2) and np.all(np.diff(cohort.z, axis=0) >= 0)
    # fresh strangers against a fresh 400-person gallery: about the asked share passes
    gallery = matrix[0:800:2]
    strangers = matrix[801::2]
    best = -np.sort(-(strangers @ gallery.T), axis=1)[:, :21]
    z = np.array([(row[0] - cohort_stats(row, 20)[0]) / cohort_stats(row, 20)[1] for row in best])
    floor = table.threshold(cohort.raw_factor * 0.1 / 400)
    assert np.mean((best[:, 0] >= floor) & (z >= cohort.z_threshold(0.1, 400))) < 0.2
