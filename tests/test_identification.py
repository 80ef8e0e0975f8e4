from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceprint.config import Settings
from faceprint.engine import Engine
from faceprint.errors import InvalidInput
from faceprint.identification import evaluate_identification, people_folders
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


def test_protocol_on_an_lfw_subset(small_lfw: Path) -> None:
    report = evaluate_identification(small_lfw, settings=Settings(), workers=2)
    assert (report.gallery, report.mated, report.non_mated) == (8, 16, 8)
    assert report.rank1 >= 0.9  # 8 well-separated people
    ours, by_fpir, theirs = report.points
    assert theirs.threshold == pytest.approx(0.82)
    calibration = Engine(Settings()).calibration
    assert ours.threshold == calibration.threshold(1e-3)
    assert by_fpir.threshold == calibration.threshold(0.01 / 8)  # FMR = FPIR / gallery size
    assert ours.threshold > theirs.threshold
    assert theirs.fpir >= ours.fpir  # a stricter threshold names fewer strangers
    assert 0 <= report.fnir_at_fpir["0.1"] <= 1
    assert report.to_json()["gallery"] == 8


def test_people_folders_refuses_what_is_not_a_people_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        people_folders(tmp_path / "missing")
    with pytest.raises(InvalidInput, match="no person folders"):
        people_folders(tmp_path)
    (tmp_path / "solo").mkdir()
    (tmp_path / "solo" / "a.jpg").write_bytes(b"x")
    with pytest.raises(InvalidInput, match="two or more"):
        evaluate_identification(tmp_path, embeddings=(["solo/a.jpg"], np.ones((1, 128), "float32")))
