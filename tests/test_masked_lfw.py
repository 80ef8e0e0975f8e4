"""The masked LFW protocol on a slice of LFW's pairs: masks on the probe or on both, mitigation reported."""

from __future__ import annotations

from pathlib import Path

import pytest

import faceprint
from faceprint.evaluate import read_lfw_pairs
from faceprint.masked_lfw import MaskedLfw, run_masked_lfw
from tests.conftest import shared_dir

PER_FOLD = 3


@pytest.fixture(scope="module")
def slice_pairs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """LFW and a pairs file of its first two folds' first 3 same and 3 different pairs."""
    lfw = shared_dir("lfw")
    lines = (lfw / "pairs.txt").read_text().split("\n")
    per = int(lines[0].split()[1])
    body = lines[1:]
    chosen = []
    for fold in range(2):
        start = fold * 2 * per
        chosen += body[start : start + PER_FOLD] + body[start + per : start + per + PER_FOLD]
    out = tmp_path_factory.mktemp("masked-lfw") / "pairs.txt"
    out.write_text(f"2 {PER_FOLD}\n" + "\n".join(chosen) + "\n")
    return lfw, out


def test_masked_protocol_reports_the_drop_and_the_mitigation(
    slice_pairs: tuple[Path, Path], tmp_path: Path
) -> None:
    lfw, pairs = slice_pairs
    cache = tmp_path / "cache.npz"
    settings = faceprint.Settings(mirror=False, recogniser="resnet")  # the masked tables are dlib's
    probe = run_masked_lfw(lfw, mode="probe", pairs=pairs, settings=settings, workers=1, cache=cache)
    reports = {r["name"]: r for r in probe["reports"]}  # type: ignore[attr-defined]
    assert list(reports) == [
        "bare (no masks)",
        "bare, mitigation on",
        "masked probe, today",
        "masked probe, copies only",
        "masked probe, mitigated",
    ]
    assert reports["bare (no masks)"]["accuracy"] == 1.0  # these 12 pairs are easy bare
    assert probe["masked_calibration"] == probe["occluded_calibration"] == "shipped"
    listed = read_lfw_pairs(pairs)
    assert probe["images_masked"] == len({p.b for p in listed}) and probe["mask_test_found"] >= 0.75
    data = MaskedLfw.load(cache)
    assert data.model == "dlib-resnet-v1" and data.copies.shape[1] == 4
    both = run_masked_lfw(lfw, mode="both", pairs=pairs, settings=settings, workers=1, cache=cache)
    names = [r["name"] for r in both["reports"]]  # type: ignore[attr-defined]
    assert names[-2:] == ["masked both, today", "masked both, mitigated"]
    assert both["images_masked"] == len(data.files) == len({p.a for p in listed} | {p.b for p in listed})
