"""Operator recognisers at work: dlib's ResNet exported and registered as an operator's model
gives today's templates; an ArcFace-style model goes through add, check, calibrate, enrol, search."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import faceprint
from faceprint.align_template import ARCFACE_112, ARCFACE_112_KEYPOINTS, template_chip
from faceprint.cli import cli
from faceprint.errors import ModelError
from faceprint.imageio import RGBImage
from faceprint.models.onnx_recogniser import OnnxRecogniser, register
from faceprint.models.operator import operator_manifest
from tests.models.operator_graphs import arcface_graph, person_folders, write_model


def _run(models: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"FACEPRINT_MODELS_DIR": str(models)})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def dlib_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dlib-export")
    models = folder / "models"
    code, out, err = _run(models, "models", "export-dlib", str(folder / "out"))
    assert code == 0, err
    code, out, err = _run(
        models,
        "models",
        "add",
        str(folder / "out/dlib-resnet-onnx.onnx"),
        "--manifest",
        str(folder / "out/dlib-resnet-onnx.json"),
    )
    assert code == 0 and "registered dlib-resnet-onnx" in out, err
    return models


def test_exported_dlib_resnet_reproduces_todays_templates(
    dlib_models: Path, dlib_engine: faceprint.Engine, samples: dict[str, RGBImage]
) -> None:
    engine = dlib_engine  # the shipped network it was exported from
    operator = faceprint.Engine(
        dataclasses.replace(engine.settings, recogniser="dlib-resnet-onnx", models_dir=str(dlib_models))
    )
    assert operator.model_id == "dlib-resnet-onnx-v1+mirror" and operator.dim == 128
    for image in samples.values():
        ours, today = operator.embed(image), engine.embed(image)
        assert [f.box for f in ours] == [f.box for f in today] and ours
        for a, b in zip(ours, today, strict=True):
            assert a.template is not None and b.template is not None
            assert float(np.abs(a.template.vector - b.template.vector).max()) <= 1e-5
    # without a table of its own, decisions at an FMR are refused; raw similarity is there when asked
    with pytest.raises(ModelError, match=r"no calibration table.*faceprint calibrate"):
        operator.verify(samples["astronaut"], samples["astronaut_copy"])
    assert operator.similarity(samples["astronaut"], samples["astronaut_copy"]) == pytest.approx(
        engine.similarity(samples["astronaut"], samples["astronaut_copy"]), abs=1e-5
    )


def test_check_embeds_the_astronaut(dlib_models: Path) -> None:
    code, out, err = _run(dlib_models, "models", "check", "dlib-resnet-onnx", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["output_shape"] == [1, 128] and len(record["hash"]) == 16 and record["status"] == "ok"
    code, out, err = _run(dlib_models, "models", "check", "missing-model")
    assert code == 2 and "no recogniser 'missing-model'" in err


def test_arcface_chips_put_the_eyes_on_arcfaces_points(
    tmp_path: Path, samples: dict[str, RGBImage], engine: faceprint.Engine
) -> None:
    models = tmp_path / "models"
    register(*write_model(tmp_path / "src", arcface_graph()), models)
    recogniser = OnnxRecogniser(operator_manifest(models, "arcface-test"))
    face = engine.detect(samples["astronaut"])[0]
    chip = recogniser.cut(samples["astronaut"], face.landmarks)
    pts = face.landmarks
    eyes = np.array([(pts[2] + pts[3]) / 2, (pts[0] + pts[1]) / 2])
    # by hand: the similarity taking ArcFace's two eye points onto the eyes is exact for two points
    ref = np.array(ARCFACE_112[:2])
    d_ref, d_img = ref[1] - ref[0], eyes[1] - eyes[0]
    z = complex(*d_img) / complex(*d_ref)  # rotation and scale as one complex number
    for u, v in [(0, 0), (56, 56), (111, 20), (30, 100)]:
        w = complex(u - ref[0][0], v - ref[0][1]) * z + complex(*eyes[0])
        x, y = w.real, w.imag
        expected = _bilinear_reduced(samples["astronaut"], x, y, abs(z))
        assert np.abs(chip[v, u].astype(int) - expected).max() <= 2
    assert np.array_equal(chip, template_chip(samples["astronaut"], eyes, ref, width=112, height=112))


def test_arcface_chips_by_blazefaces_nose_tip_and_mouth(
    tmp_path: Path, samples: dict[str, RGBImage], engine: faceprint.Engine
) -> None:
    """A manifest naming the detector's keypoints gets BlazeFace's nose tip and mouth centre: the
    chip is the least-squares similarity of four points, checked by hand."""
    models = tmp_path / "models"
    alignment = {
        "points": [list(p) for _, p in ARCFACE_112_KEYPOINTS],
        "landmarks": [n for n, _ in ARCFACE_112_KEYPOINTS],
    }
    register(*write_model(tmp_path / "src", arcface_graph(), alignment=alignment), models)
    recogniser = OnnxRecogniser(operator_manifest(models, "arcface-test"))
    assert recogniser.keypoints_needed == ("nose_tip", "mouth_centre")
    image = samples["astronaut"]
    face = engine.detect(image)[0]
    assert face.keypoints is not None and face.keypoints.shape == (6, 2) and face.points.shape == (11, 2)
    lm, kp = face.landmarks, face.keypoints
    assert kp[0][0] < kp[1][0] and kp[1][1] < kp[2][1] < kp[3][1]  # left eye, right eye, nose, mouth
    src = np.array([(lm[2] + lm[3]) / 2, (lm[0] + lm[1]) / 2, kp[2], kp[3]])
    ref = np.array([p for _, p in ARCFACE_112_KEYPOINTS])
    # by hand: the least-squares similarity as one complex factor z and shift, chip -> image
    zs, zr = src[:, 0] + 1j * src[:, 1], ref[:, 0] + 1j * ref[:, 1]
    z = np.sum((zs - zs.mean()) * np.conj(zr - zr.mean())) / np.sum(np.abs(zr - zr.mean()) ** 2)
    shift = zs.mean() - z * zr.mean()
    chip = recogniser.cut(image, face.points)
    for u, v in [(0, 0), (56, 56), (111, 20), (30, 100), (56, 92)]:
        w = z * complex(u, v) + shift
        expected = _bilinear_reduced(image, w.real, w.imag, abs(z))
        assert np.abs(chip[v, u].astype(int) - expected).max() <= 2
    # the mouth lands on the template's mouth centre: 4 points, so near it, not on it
    back = (complex(*kp[3]) - shift) / z
    assert abs(back - complex(*ref[3])) < 4
    # a detector without keypoints cannot feed the model: said when the engine loads it
    settings = dataclasses.replace(engine.settings, recogniser="arcface-test", models_dir=str(models))
    assert faceprint.Engine(settings).embed(image)[0].template is not None
    with pytest.raises(ModelError, match=r"aligns by nose_tip, mouth_centre.*'cnn' does not place"):
        faceprint.Engine(dataclasses.replace(settings, detector="cnn")).embed(image)


def _bilinear_reduced(image: RGBImage, x: float, y: float, scale: float) -> np.ndarray:
    """The image's colour at (x, y) after averaging k x k blocks (k = whole part of the scale)."""
    k = int(scale) if scale > 1.5 else 1
    xs, ys = (x - (k - 1) / 2) / k, (y - (k - 1) / 2) / k
    x0, y0 = int(np.floor(xs)), int(np.floor(ys))

    def block(bx: int, by: int) -> np.ndarray:
        return np.rint(image[by * k : by * k + k, bx * k : bx * k + k].reshape(-1, 3).mean(axis=0))

    fx, fy = xs - x0, ys - y0
    top = (1 - fx) * block(x0, y0) + fx * block(x0 + 1, y0)
    bottom = (1 - fx) * block(x0, y0 + 1) + fx * block(x0 + 1, y0 + 1)
    return np.rint((1 - fy) * top + fy * bottom).astype(int)


def test_arcface_style_model_add_check_calibrate_enrol_search(
    tmp_path: Path, faces_dir: Path, face_labels: dict[str, str]
) -> None:
    models = tmp_path / "models"
    onnx_path, manifest_path = write_model(tmp_path / "src", arcface_graph())
    assert _run(models, "models", "add", str(onnx_path), "--manifest", str(manifest_path))[0] == 0
    code, out, _ = _run(models, "models", "list")
    assert code == 0 and "arcface-test [recogniser, operator's] model id arcface-test-v1" in out
    assert "calibration: none" in out
    code, out, err = _run(models, "models", "check", "arcface-test", "--json")
    assert code == 0 and json.loads(out)["output_shape"] == [1, 512], err

    people = person_folders(faces_dir, face_labels, tmp_path / "people")
    code, out, err = _run(models, "calibrate", str(people), "--model", "arcface-test", "--workers", "1")
    assert code == 0, err
    assert "13 photos of 6 people" in err and "65 impostor and 13 genuine pairs" in err
    assert out.count("refused") == 5 and "resolve FMRs down to 1.5e-02" in out
    table = models / "arcface-test" / "calibration-arcface-test-v1+mirror.json"
    assert json.loads(table.read_text())["n_impostor"] == 65
    assert "calibration-arcface-test-v1+mirror.json" in _run(models, "models", "list")[1]

    settings = faceprint.Settings(recogniser="arcface-test", models_dir=str(models))
    engine = faceprint.Engine(settings)
    assert engine.calibration.n_impostor == 65 and engine.dim == 512
    obama = sorted(people.glob("Barack_Obama/*"))
    with faceprint.open_store(tmp_path / "g.db", engine=engine) as store:
        store.enroll("obama", obama[:2], purpose="test")
        store.enroll("pratt", sorted(people.glob("Chris_Pratt/*"))[:1], purpose="test")
        assert store.model_id == "arcface-test-v1+mirror"
        found = store.search(obama[0], purpose="test", fmr=0.05)
    best = found.faces[0].matches[0]
    assert (
        best.subject == "obama"
        and best.similarity > 0.999
        and found.threshold == engine.calibration.threshold(0.05)
    )
