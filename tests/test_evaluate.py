from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from faceprint.cli import cli
from faceprint.errors import InvalidInput
from faceprint.evaluate import equal_error_rate, read_lfw_pairs, tar_at_far, ten_fold_accuracy
from tests.conftest import shared_dir


def test_read_pairs(tmp_path: Path) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text("2 1\nA 1 2\nA 1 B 3\nC 2 4\nD 1 E 1\n")
    pairs = read_lfw_pairs(path)
    assert [(p.a, p.b, p.same, p.fold) for p in pairs] == [
        ("A/A_0001.jpg", "A/A_0002.jpg", True, 0),
        ("A/A_0001.jpg", "B/B_0003.jpg", False, 0),
        ("C/C_0002.jpg", "C/C_0004.jpg", True, 1),
        ("D/D_0001.jpg", "E/E_0001.jpg", False, 1),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ten 300\n",
        "0 0\n",
        "2 1\nA 1 2\n",
        "1 1\nA 1 2\nA 1 B 3\n",
        "2 1\nA 1 2\nA x B 3\nC 1 2\nD 1 E 1\n",
    ],
)
def test_malformed_pairs_are_typed_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text(text)
    with pytest.raises(InvalidInput):
        read_lfw_pairs(path)


def test_ten_fold_threshold_comes_from_the_other_folds() -> None:
    # fold 0 is separable at 0.5; fold 1 is separable at 0.2 only: testing fold 1 with fold 0's
    # threshold must cost it accuracy
    scores = np.array([0.9, 0.8, 0.1, 0.0, 0.3, 0.35, 0.1, 0.05])
    same = np.array([True, True, False, False, True, True, False, False])
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    accuracies, thresholds = ten_fold_accuracy(scores, same, folds)
    assert accuracies[0] == 1.0
    assert 0.35 < thresholds[1] < 0.8 and accuracies[1] == 0.5


def test_error_rates() -> None:
    rng = np.random.default_rng(3)
    genuine, impostor = rng.normal(1.0, 0.3, 20_000), rng.normal(-1.0, 0.3, 20_000)
    assert equal_error_rate(genuine, impostor) == pytest.approx(0.0004, abs=0.0004)
    assert tar_at_far(genuine, impostor, 1e-2) == pytest.approx(1.0, abs=0.002)
    # FAR 0.5 of two impostors allows one above the threshold (0.6): both genuines pass
    assert tar_at_far(np.array([0.5, 0.7]), np.array([0.0, 0.6]), 0.5) == 1.0
    # FAR 0.4 allows none: the threshold sits at 0.6 and only 0.7 passes
    assert tar_at_far(np.array([0.5, 0.7]), np.array([0.0, 0.6]), 0.4) == 0.5


def test_lfw_protocol_on_a_subset(tmp_path: Path) -> None:
    """Two folds of 12 + 12 pairs from the real pairs.txt, through the CLI, with a plot."""
    lfw = shared_dir("lfw")
    lines = (lfw / "pairs.txt").read_text().splitlines()[1:]
    subset = []
    for fold in range(2):
        block = lines[fold * 600 : (fold + 1) * 600]
        subset += block[:12] + block[300:312]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("2 12\n" + "\n".join(subset) + "\n")
    plot = tmp_path / "roc.png"
    result = CliRunner().invoke(
        cli, ["evaluate", "lfw", str(lfw), "--pairs", str(pairs), "--json", "--plot", str(plot)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_pairs"] == 48 and len(report["fold_accuracies"]) == 2
    assert report["accuracy"] >= 0.95
    assert plot.stat().st_size > 10_000


def test_missing_lfw_images_are_named(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("2 1\nNobody 1 2\nNobody 1 Noone 1\nNobody 3 4\nNoone 1 Nobody 2\n")
    result = CliRunner().invoke(cli, ["evaluate", "lfw", str(tmp_path), "--pairs", str(pairs)])
    assert result.exit_code == 2 and "Nobody/Nobody_0001.jpg" in result.stderr
