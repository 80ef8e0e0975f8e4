"""The offline 1:N rates answer as the store answers: same templates, same names, same order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import faceprint
from faceprint.calibrate import load_calibration
from faceprint.faces import Box, Template
from faceprint.identification import FaceTable, build_protocol, score_protocol
from faceprint.identification_rates import det_curve, fnir_at_fpir, gallery_crowding, mated_outcomes
from faceprint.store import crowding
from faceprint.store.records import Sample

MODEL = "dlib-resnet-v1+mirror"


def _unit(x: np.ndarray) -> np.ndarray:
    return np.asarray(x / np.linalg.norm(x, axis=-1, keepdims=True), dtype=np.float32)


def test_without_crowding_the_blocker_is_the_best_other_score() -> None:
    scores = np.array([[0.9, 0.8, 0.1], [0.7, 0.95, 0.2], [-np.inf, -np.inf, -np.inf]])
    out = mated_outcomes(scores, np.array([0, 0, 1]), None)
    assert out.mate[:2].tolist() == [0.9, 0.7] and out.blocker[:2].tolist() == [-np.inf, 0.95]
    assert out.ok.tolist() == [True, True, False] and out.rank1 == pytest.approx(1 / 3)
    strangers = np.array([0.85, 0.5])
    # at threshold 0.86 (one stranger of two named at 0.85 and up, so FPIR 0.5 sets it) probe 0 is named
    assert fnir_at_fpir(out.mate, out.ok, strangers, 0.5, out.blocker) == pytest.approx(2 / 3)
    fpir, fnir = det_curve(out.mate, out.ok, strangers, out.blocker)
    assert fpir.tolist() == [0.0, 0.5] and fnir.tolist() == pytest.approx([2 / 3, 2 / 3])


def test_with_crowding_a_crowded_rival_no_longer_blocks() -> None:
    scores = np.array([[0.90, 0.92, 0.5]])
    crowd = np.array([0.80, 0.90, 0.0])  # the rival's crowding costs it 0.05, the mate's 0.04
    out = mated_outcomes(scores, np.array([0]), crowd)
    assert out.blocker.tolist() == [-np.inf] and out.rank1 == 1.0
    out = mated_outcomes(scores, np.array([0]), np.array([0.90, 0.80, 0.0]))  # now the mate is crowded
    assert out.blocker.tolist() == [0.92] and out.rank1 == 0.0


@pytest.fixture(scope="module")
def synthetic_lfw() -> tuple[list[str], list[tuple[tuple[int, int], list[tuple[Box, float, np.ndarray]]]]]:
    """600 people (150 with two photos), their templates scored like dlib's (mates ~0.95, the top tenth of
    impostors ~0.90): most variance in a few directions, so some regions are crowded (hubs)."""
    rng = np.random.default_rng(3)
    people = 600
    scale = np.geomspace(1.0, 0.02, 128)
    base = 12.0 * _unit(rng.normal(size=128))
    centres = base + rng.normal(size=(people, 128)) * scale
    files, found = [], []
    for p in range(people):
        for j in range(2 if p < 150 else 1):
            v = _unit(centres[p] + 0.7 * rng.normal(size=128) * scale)
            files.append(f"p{p:03d}/{j}.jpg")
            found.append(((250, 250), [(Box(60, 60, 190, 190), 1.0, v)]))
    return files, found


def test_score_protocol_names_whom_the_store_names_first(
    synthetic_lfw: tuple[list[str], list[tuple[tuple[int, int], list[tuple[Box, float, np.ndarray]]]]],
    tmp_path: Path,
) -> None:
    files, found = synthetic_lfw
    people: dict[str, list[str]] = {}
    for f in files:
        people.setdefault(f.split("/")[0], []).append(f)
    protocol = build_protocol(people, held_out=0, per_person=1)
    table = FaceTable.from_faces(files, found, model=MODEL, dim=128)
    vector = {f: faces[0][2] for f, (_, faces) in zip(files, found, strict=True)}
    gallery = np.stack([vector[f] for _, f in protocol.gallery])
    index = {s: i for i, (s, _) in enumerate(protocol.gallery)}
    truth = np.array([index[s] for s, _ in protocol.mated])
    probes = np.stack([vector[f] for _, f in protocol.mated])
    scores = (probes @ gallery.T).astype(np.float64)
    crowd = gallery_crowding(gallery, np.ones(len(gallery), dtype=bool))
    assert crowd is not None and len(gallery) >= crowding.MIN_SUBJECTS
    outcome = mated_outcomes(scores, truth, crowd)
    plain = mated_outcomes(scores, truth, None)
    assert (np.isneginf(outcome.blocker) != np.isneginf(plain.blocker)).sum() >= 3  # the order matters here

    calibration = load_calibration(MODEL)
    with faceprint.open_store(tmp_path / "g.db") as store:
        store.enroll_many(
            [(s, [Sample(Template(vector[f], MODEL), s)]) for s, f in protocol.gallery], purpose="p"
        )
        named = {}
        for fmr in (0.1, 0.01):
            t = calibration.threshold(fmr)
            expected = named[fmr] = outcome.named(outcome.mate >= t, outcome.blocker >= t)
            first = [
                (lambda m: m[0].subject if m else None)(
                    store.search(Template(p, MODEL), purpose="p", fmr=fmr, top_k=1).faces[0].matches
                )
                for p in probes
            ]
            got = np.array([name == s for name, (s, _) in zip(first, protocol.mated, strict=True)])
            assert (got == expected).all(), f"fmr {fmr}: {np.flatnonzero(got != expected)}"
    report = score_protocol(protocol, table, calibration=calibration, fmr=0.1)
    assert report.rank1 == outcome.rank1 > plain.rank1
    assert report.points[1].name == "fmr 0.1 per comparison"
    assert report.points[1].tpir == pytest.approx(float(named[0.1].mean()))
