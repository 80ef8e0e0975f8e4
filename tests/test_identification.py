from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceprint.calibrate import Calibration
from faceprint.config import Settings
from faceprint.engine import Engine
from faceprint.errors import InvalidInput
from faceprint.faces import Box
from faceprint.identification import (
    FaceTable,
    build_protocol,
    evaluate_identification,
    people_folders,
    plot_det,
    score_protocol,
)
from faceprint.store.openset import decision_rule
from tests.conftest import shared_dir


@pytest.fixture(scope="module")
def small_lfw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 people with 3+ photos and 8 people with one, linked from ../shared/data/lfw."""
    lfw = shared_dir("lfw")
    root = tmp_path_factory.mktemp("lfw-1n")
    folders = sorted(d for d in lfw.iterdir() if d.is_dir())
    many = [d for d in folders if len(list(d.glob("*.jpg"))) >= 3][:8]
    single = [d for d in folders if len(list(d.glob("*.jpg"))) == 1][:8]
    for person in many + single:
        (root / person.name).mkdir()
        for photo in sorted(person.glob("*.jpg"))[:3]:
            (root / person.name / photo.name).symlink_to(photo)
    return root


def test_protocol_on_an_lfw_subset(small_lfw: Path, tmp_path: Path) -> None:
    report = evaluate_identification(small_lfw, settings=Settings(), workers=2)
    # 2 of the 8 people with several photos held out (a quarter), the 8 single-photo people distract
    assert (report.gallery, report.mated) == (6 + 8, 6 * 2)
    assert report.non_mated == 2 * 2 + 8  # held-out people's photos, distractors leave-one-out
    assert report.rank1 >= 0.9  # well-separated people
    default, per_comparison, theirs = report.points
    calibration = Engine(Settings()).calibration
    assert default.name == "fpir 0.01 over 14 subjects"
    assert default.threshold == calibration.threshold(0.01 / 14)  # FMR = FPIR / gallery size
    assert per_comparison.threshold == calibration.threshold(1e-3)
    assert theirs.threshold == pytest.approx(0.82)
    # FMR 0.01 / 14 is stricter than 1e-3 per comparison: no stranger named by it that 1e-3 would not name
    assert default.threshold > per_comparison.threshold and default.fpir <= per_comparison.fpir
    assert default.tpir == 1 - default.fnir
    assert np.isnan(report.fnir_at_fpir["0.01"])  # 12 strangers do not resolve FPIR 0.01
    assert 0 <= report.fnir_at_fpir["0.1"] <= 1
    assert report.to_json()["gallery"] == 14
    plot_det([report], tmp_path / "det.png")
    assert (tmp_path / "det.png").read_bytes()[:4] == b"\x89PNG"


def test_build_protocol_roles() -> None:
    people = {f"m{i}": [f"m{i}/{j}.jpg" for j in range(4)] for i in range(8)}
    people |= {f"s{i}": [f"s{i}/0.jpg"] for i in range(5)}
    protocol = build_protocol(people, held_out=300, per_person=2, seed=1)
    assert protocol.held_out == 2  # capped at a quarter of the people with several photos
    enrolled = {s for s, _ in protocol.gallery}
    assert len(enrolled) == len(protocol.gallery) == 6 + 5
    assert set(protocol.distractors) == {f"s{i}" for i in range(5)} <= enrolled
    assert all(f == people[s][0] for s, f in protocol.gallery)
    assert len(protocol.mated) == 6 * 2 and all(s in enrolled for s, _ in protocol.mated)
    held = {f.split("/")[0] for f in protocol.strangers}
    assert len(held) == 2 and not held & enrolled and len(protocol.strangers) == 4
    assert build_protocol(people, seed=1) == build_protocol(people, seed=1) != build_protocol(people, seed=2)


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 16)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_scores_distractors_leave_one_out_and_counts_missing_faces() -> None:
    rng = np.random.default_rng(0)
    people = {f"m{i}": [f"m{i}/{j}.jpg" for j in range(2)] for i in range(8)}
    people |= {f"s{i}": [f"s{i}/0.jpg"] for i in range(4)}
    protocol = build_protocol(people, held_out=0, per_person=1)
    identity = {p: v for p, v in zip(sorted(people), _unit(rng, len(people)), strict=True)}
    files = protocol.files
    found = []
    for f in files:
        person = f.split("/")[0]
        faces = [] if f == "m3/1.jpg" else [(Box(10, 10, 60, 60), 1.0, identity[person])]
        found.append(((100, 100), faces))
    table = FaceTable.from_faces(files, found, model="m", dim=16)
    impostor = (_unit(rng, 4000) @ _unit(rng, 400).T).ravel()
    calibration = Calibration.from_scores(impostor, model="m")
    report = score_protocol(protocol, table, calibration=calibration, fmr=None)
    # every mate is its own gallery photo's twin, except the one without a face
    assert report.rank1 == pytest.approx(7 / 8) and report.no_face == 1
    # a distractor is never matched with its own entry: strangers score like impostors
    assert report.non_mated == 4 and report.default.fpir == 0.0
    assert report.default.threshold == decision_rule(calibration, 12).threshold


def test_choose_prefers_the_central_face_among_faces_of_a_size() -> None:
    t = np.ones(4, dtype=np.float32)
    edge, centre, small = Box(0, 0, 100, 100), Box(155, 105, 250, 200), Box(170, 130, 200, 160)
    table = FaceTable.from_faces(
        ["a.jpg", "b.jpg"],
        [((400, 300), [(edge, 1.0, t), (centre, 1.0, t)]), ((400, 300), [(edge, 1.0, t), (small, 1.0, t)])],
        model="m",
        dim=4,
    )
    chosen, rivalled = table.choose()
    assert list(chosen) == [1, 2]  # a: the central face (90% the size); b: the largest (9%)
    assert rivalled == 1
    assert list(table.choose(first=True)[0]) == [0, 2]


def test_people_folders_refuses_what_is_not_a_people_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        people_folders(tmp_path / "missing")
    with pytest.raises(InvalidInput, match="no person folders"):
        people_folders(tmp_path)
    (tmp_path / "solo").mkdir()
    (tmp_path / "solo" / "a.jpg").write_bytes(b"x")
    with pytest.raises(InvalidInput, match="two or more"):
        evaluate_identification(tmp_path)


def test_evaluate_identify_command_prints_the_figures_and_writes_the_det_plot(
    small_lfw: Path, tmp_path: Path
) -> None:
    from tests.test_cli import run

    code, out, _ = run(
        "evaluate", "identify", str(small_lfw), "--plot", str(tmp_path / "det.png"), "--workers", "1"
    )
    assert code == 0, out
    assert "14 subjects enrolled, 12 mated probes, 12 stranger probes" in out
    assert "closed-set rank-1" in out and "FNIR at FPIR: 0.1:" in out
    assert "fpir 0.01 over 14 subjects" in out and "TPIR" in out
    assert (tmp_path / "det.png").stat().st_size > 1000
    code, out, _ = run("evaluate", "identify", str(small_lfw), "--json", "--held-out", "0", "--workers", "1")
    report = json.loads(out)
    assert (
        code == 0 and report["gallery"] == 16 and report["points"][0]["name"] == "fpir 0.01 over 16 subjects"
    )
