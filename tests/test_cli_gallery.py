from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

import faceprint
from faceprint.imageio import RGBImage, load_image
from faceprint.masks import draw_mask, mask_for
from tests.store.test_bulk import write_images
from tests.test_cli import run


@pytest.fixture
def gallery(tmp_path: Path) -> list[str]:
    return ["--store", str(tmp_path / "g.db")]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, samples: dict[str, RGBImage]) -> dict[str, Path]:
    return write_images(tmp_path_factory.mktemp("gallery"), samples)


def test_enroll_search_erase_round_trip(
    gallery: list[str], images: dict[str, Path], no_face_png: Path
) -> None:
    code, out, _ = run(
        *gallery,
        "enroll",
        "eileen",
        str(images["astronaut"]),
        "--purpose",
        "access",
        "--evidence",
        "form 7",
        "--expires",
        "2099-01-01",
    )
    assert code == 0 and "eileen: created, 1 face(s) enrolled" in out
    assert run(*gallery, "enroll", "grace", str(images["hopper"]), "--purpose", "access")[0] == 0

    code, out, _ = run(
        *gallery,
        "search",
        str(images["astronaut_copy"]),
        str(no_face_png),
        "nope.jpg",
        "--purpose",
        "access",
        "--json",
    )
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["image"] for line in lines] == [str(images["astronaut_copy"]), str(no_face_png), "nope.jpg"]
    (face,) = lines[0]["faces"]
    assert len(face["box"]) == 4
    assert [m["subject"] for m in face["matches"]] == ["eileen"]
    assert face["matches"][0]["similarity"] > 0.9 and face["matches"][0]["fmr"] < 1e-3
    assert lines[1]["error"]["code"] == "no_face" and lines[2]["error"]["code"] == "invalid_image"
    # every answer says which threshold it used and why: the default bounds FPIR over the gallery
    assert lines[0]["rule"] == "fpir 0.01 over 2 subjects" and lines[0]["eligible"] == 2
    assert lines[0]["fpir"] == 0.01 and lines[0]["fmr"] == pytest.approx(0.005)
    assert lines[0]["model"] == "sface-2021dec" and lines[0]["calibration"].startswith("LFW")
    assert 0.25 < lines[0]["threshold"] < 0.45  # SFace's cosine at FMR 5e-3 (0.32)

    code, out, _ = run(*gallery, "subjects", "--json")
    subjects = {s["subject"]: s for s in map(json.loads, out.splitlines())}
    assert subjects["eileen"]["consent"]["evidence"] == "form 7"
    assert subjects["eileen"]["consent"]["expires_at"].startswith("2099-01-01")

    code, out, _ = run(*gallery, "erase", "eileen", "--reason", "request")
    assert code == 0 and "erased with 1 template(s)" in out
    code, out, _ = run(*gallery, "search", str(images["astronaut_copy"]), "--purpose", "access")
    assert (
        code == 1 and out.strip().endswith(": fpir 0.01 over 1 subject)") and ": no match (threshold" in out
    )
    code, out, _ = run(
        *gallery, "search", str(images["astronaut_copy"]), "--purpose", "access", "--fmr", "1e-3"
    )
    assert code == 1 and out.strip().endswith(": fmr 0.001 per comparison)")

    code, out, _ = run(*gallery, "audit", "--json", "--subject", "eileen")
    ops = [json.loads(line)["operation"] for line in out.splitlines()]
    assert ops == ["erase", "search", "enroll"]
    code, out, _ = run(*gallery, "audit", "--limit", "1")
    assert code == 0 and "search purpose 'access'" in out
    code, out, _ = run(*gallery, "store", "reindex")
    assert code == 0 and "indexed 1 template(s)" in out


def test_search_exit_codes(gallery: list[str], images: dict[str, Path], no_face_png: Path) -> None:
    run(*gallery, "enroll", "eileen", str(images["astronaut"]), "--purpose", "p")
    assert run(*gallery, "search", str(images["astronaut_copy"]), "--purpose", "p")[0] == 0
    assert run(*gallery, "search", str(images["hopper"]), "--purpose", "p")[0] == 1
    code, _, err = run(*gallery, "search", str(no_face_png), "--purpose", "p")
    assert code == 2 and "no face" in err
    code, _, err = run(*gallery, "search", str(images["hopper"]), "--purpose", "other")
    assert code == 2 and "consented" in err
    code, _, err = run(*gallery, "search", str(images["hopper"]), "--purpose", "p", "--fmr", "3")
    assert code == 2 and "error" in err


def test_enroll_errors_are_one_line(gallery: list[str], images: dict[str, Path], tmp_path: Path) -> None:
    for args, message in [
        (["enroll", "x", str(images["hopper"])], "--purpose"),
        (["enroll", "x", "--purpose", "p"], "at least one IMAGE"),
        (["enroll", "x", str(images["hopper"]), "--purpose", "p", "--expires", "someday"], "--expires"),
        (
            ["enroll", "x", str(images["hopper"]), "--purpose", "p", "--expires", "2001-01-01"],
            "not in the future",
        ),
        (["enroll", "x", str(tmp_path / "missing.jpg"), "--purpose", "p"], "no such file"),
        (["enroll", "x", str(images["hopper"]), "--from-csv", "a.csv", "--purpose", "p"], "not both"),
        (["erase", "nobody"], "no subject"),
    ]:
        code, _, err = run(*gallery, *args)
        assert code == 2, args
        assert message in err and "Traceback" not in err, (args, err)
    assert run(*gallery, "subjects")[1] == ""


def test_enroll_from_csv_reports_failures(
    gallery: list[str], images: dict[str, Path], tmp_path: Path
) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text(
        f"subject,image\neileen,{images['astronaut']}\ngrace,{images['hopper']}\nbad,{tmp_path / 'no.jpg'}\n"
    )
    code, out, err = run(*gallery, "enroll", "--from-csv", str(csv), "--purpose", "p")
    assert code == 1
    assert "enrolled 2 face(s) into 2 subject(s); 0 already enrolled, 1 failed" in out
    assert "bad:" in err
    code, out, _ = run(*gallery, "enroll", "--from-csv", str(csv), "--purpose", "p")
    assert "enrolled 0 face(s) into 0 subject(s); 2 already enrolled, 1 failed" in out


def test_demo_searches_the_store_and_leaves_no_subject(gallery: list[str]) -> None:
    code, out, _ = run(*gallery, "demo")
    assert code == 0
    assert "demo: Eileen Collins" in out and "no match" in out
    assert run(*gallery, "subjects", "--json")[1] == ""
    code, out, _ = run(*gallery, "audit", "--json")
    assert [json.loads(line)["operation"] for line in out.splitlines()] == [
        "erase",
        "search",
        "search",
        "enroll",
    ]


def test_enroll_with_masked_copies_and_a_masked_search(
    gallery: list[str], images: dict[str, Path], tmp_path: Path, engine: faceprint.Engine
) -> None:
    # a store of dlib's templates (the recogniser with masked tables); later commands follow it
    code, out, _ = run(
        *gallery,
        "enroll",
        "grace",
        str(images["hopper"]),
        "--purpose",
        "door",
        "--masked-copies",
        recogniser="resnet",
    )
    assert code == 0 and "grace: created, 6 template(s) (with masked copies) enrolled" in out
    code, out, _ = run(
        *gallery, "enroll", "grace", str(images["hopper"]), "--purpose", "door", "--masked-copies"
    )
    assert code == 0 and "0 template(s)" in out and "6 already enrolled" in out
    rgb = load_image(images["hopper"])
    masked = tmp_path / "masked.jpg"
    Image.fromarray(draw_mask(rgb, engine.detect(rgb)[0].landmarks, mask_for("hopper", 0, "surgical"))).save(
        masked, quality=95
    )
    code, out, _ = run(*gallery, "search", str(masked), "--purpose", "door", "--json")
    assert code == 0, out
    (face,) = json.loads(out)["faces"]
    assert face["masked"] is True
    assert [m["subject"] for m in face["matches"]] == ["grace"]
    assert face["matches"][0]["comparison"] in {"bare", "masked", "occluded"}
    assert face["rule"].endswith("(fpir 0.01 over 1 subject, union bound)")
    code, out, _ = run(*gallery, "search", str(masked), "--purpose", "door")
    assert code == 0 and "comparison)" in out and "(masked): grace" in out and "union bound)" in out
