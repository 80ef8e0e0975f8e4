from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from faceprint.cli import cli
from faceprint.faces import Box
from faceprint.imageio import RGBImage
from tests.conftest import encode


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, samples: dict[str, RGBImage]) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    out = {}
    for name, rgb in samples.items():
        out[name] = root / f"{name}.jpg"
        Image.fromarray(rgb).save(out[name], quality=95)
    return out


def run(*args: str, env_key_file: str | None = None, recogniser: str | None = None) -> tuple[int, str, str]:
    env = {"FACEPRINT_KEY_FILE": env_key_file} if env_key_file else {}
    if recogniser is not None:
        env["FACEPRINT_RECOGNISER"] = recogniser
    result = CliRunner().invoke(cli, list(args), env=env or None)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_detect_json_and_draw(images: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "drawn.png"
    code, stdout, _ = run("detect", str(images["hopper"]), "--json", "--draw", str(out))
    assert code == 0
    record = json.loads(stdout)
    assert record["image"] == str(images["hopper"])
    (face,) = record["faces"]
    # the default detector reports the box the 5-point predictor expects; dlib's MMOD box is inside it
    assert Box(*face["box"]).iou(Box(187, 145, 358, 316)) > 0.6
    assert len(face["landmarks"]) == 5 and "template" not in face
    drawn = Image.open(out)
    assert drawn.size == (512, 600)
    code, stdout, _ = run("detect", str(images["hopper"]), "--json", "--detector", "cnn")
    assert json.loads(stdout)["faces"][0]["box"] == pytest.approx([187, 145, 358, 316], abs=1)  # dlib's


def test_detect_several_images_draws_into_a_directory(images: dict[str, Path], tmp_path: Path) -> None:
    code, stdout, _ = run(
        "detect", str(images["hopper"]), str(images["astronaut"]), "--draw", str(tmp_path / "d")
    )
    assert code == 0
    assert "hopper.jpg: 1 face" in stdout and "astronaut.jpg: 1 face" in stdout
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["astronaut.faces.png", "hopper.faces.png"]


def test_embed_json_exports_templates(images: dict[str, Path]) -> None:
    code, stdout, _ = run("embed", str(images["hopper"]), str(images["astronaut"]), "--json", "--largest")
    assert code == 0
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert [len(r["faces"]) for r in lines] == [1, 1]
    face = lines[0]["faces"][0]
    assert set(face) >= {"box", "score", "template"} and len(face["template"]) == 128
    assert sum(v * v for v in face["template"]) == pytest.approx(1.0, abs=1e-4)


def test_embed_reports_bad_images_and_goes_on(images: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    code, stdout, _ = run("embed", str(bad), str(images["hopper"]), "--json")
    assert code == 2
    first, second = (json.loads(line) for line in stdout.splitlines())
    assert first["error"]["code"] == "invalid_image" and "bad.jpg" in first["error"]["message"]
    assert len(second["faces"]) == 1


def test_verify_exit_codes_and_json(images: dict[str, Path]) -> None:
    code, stdout, _ = run("verify", str(images["astronaut"]), str(images["astronaut_copy"]), "--json")
    assert code == 0
    same = json.loads(stdout)
    assert same["match"] is True and {"distance", "similarity", "fmr", "threshold"} <= set(same)
    code, stdout, _ = run("verify", str(images["astronaut"]), str(images["hopper"]), "--fmr", "1e-4")
    assert code == 1 and stdout.startswith("different people")


def test_verify_says_when_an_image_has_several_faces(images: dict[str, Path]) -> None:
    # dlib's HOG detector also fires on the astronaut's mission patch; the CNN does not
    code, _, stderr = run("verify", str(images["astronaut"]), str(images["hopper"]), "--detector", "hog")
    assert code == 1
    assert "2 faces found, using face 0 (the largest" in stderr
    code, _, stderr = run("verify", str(images["astronaut"]), str(images["hopper"]), "--face-a", "5")
    assert code == 2 and "face index 5 does not exist" in stderr


def test_verify_rejects_an_unresolvable_fmr(images: dict[str, Path]) -> None:
    code, _, stderr = run("verify", str(images["astronaut"]), str(images["hopper"]), "--fmr", "1e-12")
    assert code == 2 and "below what" in stderr


def _bad_inputs(root: Path, bomb: Path, no_face: Path, samples: dict[str, RGBImage]) -> dict[str, Path]:
    (root / "empty.jpg").write_bytes(b"")
    (root / "truncated.jpg").write_bytes(encode(samples["hopper"], "JPEG")[:2000])
    (root / "text.jpg").write_text("hello, I am a text file\n")
    return {
        "empty.jpg": root / "empty.jpg",
        "truncated.jpg": root / "truncated.jpg",
        "text.jpg": root / "text.jpg",
        "huge.png": bomb,
        "coffee.png": no_face,
        "missing.jpg": root / "missing.jpg",
    }


def test_bad_inputs_exit_2_with_one_line_and_no_traceback(
    tmp_path: Path, bomb_png: Path, no_face_png: Path, samples: dict[str, RGBImage], images: dict[str, Path]
) -> None:
    """The real entry point, in a subprocess: what a user sees on the terminal."""
    for name, path in _bad_inputs(tmp_path, bomb_png, no_face_png, samples).items():
        for args in (["verify", str(path), str(images["hopper"])], ["detect", str(path)]):
            proc = subprocess.run(
                [sys.executable, "-m", "faceprint", *args], capture_output=True, text=True, timeout=120
            )
            assert proc.returncode == 2, (name, args, proc.stderr)
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("faceprint: error: "), (name, proc.stderr)
            assert name in lines[0]
            assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_usage_errors_exit_2() -> None:
    code, _, stderr = run("verify", "only-one.jpg")
    assert code == 2 and "Missing argument" in stderr


def test_draw_to_an_unwritable_place_is_a_clean_error(images: dict[str, Path], tmp_path: Path) -> None:
    code, _, stderr = run(
        "detect", str(images["hopper"]), "--draw", str(tmp_path / "no" / "such" / "dir.png")
    )
    assert code == 2 and "cannot write image" in stderr
    code, _, stderr = run("detect", str(images["hopper"]), "--draw", str(tmp_path / "out.unknownext"))
    assert code == 2 and "unknown file extension" in stderr


def test_verify_a_masked_face_by_the_routed_rule(
    images: dict[str, Path], tmp_path: Path, samples: dict[str, RGBImage]
) -> None:
    import faceprint
    from faceprint.masks import draw_mask, mask_for

    rgb = samples["hopper"]
    landmarks = faceprint.Engine().detect(rgb)[0].landmarks
    masked = tmp_path / "masked.jpg"
    Image.fromarray(draw_mask(rgb, landmarks, mask_for("hopper", 0, "cloth"))).save(masked, quality=95)
    # SFace (the default) has no masked tables: the masked face is compared as a bare one, and matches
    code, stdout, _ = run("verify", str(masked), str(images["hopper"]), "--json")
    record = json.loads(stdout)
    assert code == 0 and record["match"] is True and "comparison" not in record
    # dlib's ResNet has them: the routed rule
    code, stdout, _ = run("verify", str(masked), str(images["hopper"]), recogniser="resnet")
    assert code == 0 and "same person: a masked face, routed rule" in stdout
    code, stdout, _ = run("verify", str(images["astronaut"]), str(masked), "--json", recogniser="resnet")
    record = json.loads(stdout)
    assert code == 1 and record["match"] is False and record["comparison"] in {"bare", "masked", "occluded"}
