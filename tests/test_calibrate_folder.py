"""Calibration on a folder per person: the pairs, and what a folder must hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from faceprint.calibrate_folder import folder_files, pair_scores
from faceprint.cli import cli
from faceprint.errors import InvalidInput


def test_every_pair_is_scored_once_and_split_by_identity() -> None:
    matrix = np.eye(4, dtype=np.float32)[[0, 0, 1, 2]]  # rows 0 and 1 identical
    labels = np.array([0, 0, 1, 1])
    impostor, genuine = pair_scores(matrix, labels)
    assert sorted(genuine.tolist()) == [0.0, 1.0]  # (0, 1) and (2, 3)
    assert impostor.size == 4 and not impostor.any()  # (0, 2), (0, 3), (1, 2), (1, 3)


def test_a_folder_needs_a_sub_folder_per_person(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a folder"):
        folder_files(tmp_path / "missing")
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "1.jpg").write_bytes(b"x")
    (tmp_path / "ann" / "notes.txt").write_text("not a photo")
    with pytest.raises(InvalidInput, match="at least 2 people"):
        folder_files(tmp_path)
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "2.PNG").write_bytes(b"x")
    assert folder_files(tmp_path) == ["ann/1.jpg", "bob/2.PNG"]


def test_calibrate_names_an_unknown_model_and_writes_nothing(tmp_path: Path) -> None:
    models = tmp_path / "models"
    result = CliRunner().invoke(
        cli, ["calibrate", str(tmp_path), "--model", "nope"], env={"FACEPRINT_MODELS_DIR": str(models)}
    )
    assert result.exit_code == 2 and "no recogniser 'nope'" in result.stderr
    assert not models.exists()
