"""faceprint.cluster on arrays: gates, cannot-link, incremental runs, corrections, BCubed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from faceprint.calibrate import load_calibration
from faceprint.cluster import UNASSIGNED, ClusterParams, bcubed, cluster_faces
from faceprint.errors import InvalidInput

PARAMS = ClusterParams(link=0.9, average=0.85, attach=0.88, margin=0.02)


def unit(v: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
    out: NDArray[np.float32] = (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)
    return out


def people(
    rng: np.random.Generator, n_people: int, per: int, spread: float = 0.12, dim: int = 64
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    centres = unit(rng.normal(size=(n_people, dim)))
    truth = np.repeat(np.arange(n_people), per)
    x = unit(centres[truth] + rng.normal(scale=spread / np.sqrt(dim), size=(len(truth), dim)))
    return x, truth


def test_separated_people_are_found_exactly() -> None:
    rng = np.random.default_rng(0)
    x, truth = people(rng, 6, 5)
    result = cluster_faces(x, np.arange(len(x)), params=PARAMS)
    score = bcubed(truth, result.labels)
    assert score.precision == score.recall == 1.0
    assert score.clusters == 6


def test_faces_of_one_photo_are_never_one_person() -> None:
    rng = np.random.default_rng(1)
    x, _ = people(rng, 1, 6)
    photos = np.array([0, 0, 1, 2, 3, 4])  # faces 0 and 1 are in the same photo
    labels = cluster_faces(x, photos, params=PARAMS).labels
    assert labels[0] == UNASSIGNED or labels[0] != labels[1]
    assert UNASSIGNED not in labels[2:].tolist()  # the others are still grouped (two people at most)
    assert len(set(labels.tolist())) <= 2
    identical = np.repeat(x[:1], 2, axis=0)  # even identical templates
    assert cluster_faces(identical, [5, 5], params=PARAMS).labels.tolist() == [UNASSIGNED, UNASSIGNED]


def test_average_gate_stops_a_chain_that_single_linkage_would_follow() -> None:
    # two tight groups and a line of faces between them, each close to its neighbour
    angles = np.linspace(0, np.pi / 3, 12)  # evenly spaced on an arc of 60 degrees
    steps = np.zeros((12, 16), dtype=np.float32)
    steps[:, 0], steps[:, 1] = np.cos(angles), np.sin(angles)
    x = np.concatenate([np.repeat(steps[:1], 4, 0), steps, np.repeat(steps[-1:], 4, 0)])
    neighbour = float(steps[0] @ steps[1])
    params = ClusterParams(link=neighbour - 1e-3, average=0.9, attach=1.0)
    labels = cluster_faces(x, np.arange(len(x)), params=params).labels
    assert labels[0] != labels[-1]  # a and b stay apart
    single = ClusterParams(link=neighbour - 1e-3, average=-1.0, attach=1.0)
    assert len(set(cluster_faces(x, np.arange(len(x)), params=single).labels.tolist())) == 1


def test_incremental_run_extends_existing_people_only_from_new_links() -> None:
    rng = np.random.default_rng(2)
    x, truth = people(rng, 5, 8)
    order = rng.permutation(len(x))
    x, truth = x[order], truth[order]
    cut = 30
    first = cluster_faces(x[:cut], np.arange(cut), params=PARAMS)
    labels = np.concatenate([first.labels, np.full(len(x) - cut, UNASSIGNED)])
    second = cluster_faces(x, np.arange(len(x)), params=PARAMS, labels=labels, new=np.arange(len(x)) >= cut)
    assert np.array_equal(second.labels[:cut][first.labels >= 0], first.labels[first.labels >= 0])
    assert second.links < cluster_faces(x, np.arange(len(x)), params=PARAMS).links
    whole = cluster_faces(x, np.arange(len(x)), params=PARAMS).labels
    assert bcubed(whole, second.labels).f == 1.0
    assert bcubed(truth, second.labels).f == 1.0


def test_not_and_pinned_corrections_are_respected() -> None:
    rng = np.random.default_rng(3)
    x, _ = people(rng, 1, 6)
    labels = np.array([7, 7, 9, 9, UNASSIGNED, UNASSIGNED])
    new = np.array([False, False, False, False, True, True])
    # without corrections the new faces join and the two people merge
    free = cluster_faces(x, np.arange(6), params=PARAMS, labels=labels, new=new)
    assert free.merged == {9: 7} and set(free.labels.tolist()) == {7}
    # pinned people (the user named them) are never merged; a face that is "not 7" never joins 7
    kept = cluster_faces(
        x, np.arange(6), params=PARAMS, labels=labels, new=new, pinned=[7, 9], forbid=[(4, 7)]
    )
    assert kept.merged == {}
    assert kept.labels[:4].tolist() == [7, 7, 9, 9]
    assert kept.labels[4] != 7


def test_low_quality_faces_attach_but_never_link_people() -> None:
    rng = np.random.default_rng(4)
    x, _ = people(rng, 2, 4)
    bridge = unit(x[0] + x[4])  # between the two people
    vectors = np.concatenate([x, bridge[None]])
    seeds = np.array([True] * 8 + [False])
    loose = ClusterParams(link=float(bridge @ x[0]) - 0.01, average=-1.0, attach=0.99)
    labels = cluster_faces(vectors, np.arange(9), params=loose, seeds=seeds).labels
    assert labels[0] != labels[4]  # the non-seed bridge did not chain them
    good = x[1] * 0.999 + x[2] * 0.001
    attach = cluster_faces(
        np.concatenate([x, unit(good)[None]]), np.arange(9), params=PARAMS, seeds=seeds
    ).labels
    assert attach[8] == attach[1]


def test_bcubed_known_values() -> None:
    score = bcubed([0, 0, 1, 1], [5, 5, 5, 5])
    assert score.precision == pytest.approx(0.5) and score.recall == 1.0
    score = bcubed([0, 0, 1, 1], [UNASSIGNED] * 4)
    assert score.precision == 1.0 and score.recall == pytest.approx(0.5) and score.clusters == 0
    assert score.classes == 2
    assert bcubed([UNASSIGNED, UNASSIGNED, 3], [UNASSIGNED, UNASSIGNED, 4]).f == 1.0  # -1: singletons


def test_thresholds_come_from_the_calibration_table() -> None:
    calibration = load_calibration("dlib-resnet-v1")
    params = ClusterParams.from_calibration(calibration)
    assert params.link == calibration.threshold(1e-5) > params.average == calibration.threshold(1e-4)


def test_bad_arguments_are_typed_errors() -> None:
    with pytest.raises(InvalidInput):
        cluster_faces(np.zeros((3, 4), np.float32), [0, 1])
    with pytest.raises(InvalidInput):
        ClusterParams(link=2.0)
    with pytest.raises(InvalidInput):
        bcubed([0, 1], [0])
