"""BlazeFace: the converted graph equals Google's TFLite runtime; the pyramid finds real faces."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from faceprint.faces import Box
from faceprint.imageio import RGBImage
from faceprint.models.blazeface import BlazeFaceDetector, weighted_nms
from faceprint.models.manifest import manifest
from faceprint.models.onnx_graph import open_session
from faceprint.models.registry import load_detector
from faceprint.models.tflite_graph import build_onnx_from_tflite
from faceprint.samples import sample_photo


@pytest.fixture(scope="module")
def blazeface() -> BlazeFaceDetector:
    detector = load_detector("blazeface")
    assert isinstance(detector, BlazeFaceDetector)
    return detector


def _reference(image: RGBImage) -> dict[str, np.ndarray]:
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    interpreter = litert.Interpreter(model_path=str(manifest("blazeface").verified_path()))
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    interpreter.set_tensor(inp["index"], (image.astype(np.float32) / 127.5 - 1.0)[None])
    interpreter.invoke()
    return {o["name"]: interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()}


def test_converted_graph_equals_the_tflite_runtime(samples: dict[str, RGBImage]) -> None:
    m = manifest("blazeface")
    session = open_session(build_onnx_from_tflite(m.verified_path(), scale=1 / 127.5, offset=-1.0), 1)
    face = np.asarray(Image.fromarray(samples["astronaut"][40:250, 110:320]).resize((192, 192)))
    noise = np.random.default_rng(0).integers(0, 256, (192, 192, 3)).astype(np.uint8)
    for image in (face, noise):
        want = _reference(image)
        names = [o.name for o in session.get_outputs()]  # type: ignore[attr-defined]
        got = session.run(None, {"input": image.transpose(2, 0, 1)[None].astype(np.float32)})  # type: ignore[attr-defined]
        for name, value in zip(names, got, strict=True):
            assert value.shape == want[name].shape
            np.testing.assert_allclose(value, want[name], atol=2e-3 * max(1.0, np.abs(want[name]).max()))
    # and the astronaut's face is what the network sees there, by both runtimes
    scores = 1 / (1 + np.exp(-_reference(face)["reshaped_classifier_face_4"]))
    assert scores.max() > 0.8


def test_the_graph_runs_fully_convolutionally_on_any_size(blazeface: BlazeFaceDetector) -> None:
    canvas = np.full((300, 700, 3), 128, dtype=np.uint8)
    boxes, points, scores = blazeface.raw(canvas)  # padded to 320 x 704 inside
    assert boxes.shape[1:] == (4,) and points.shape[1:] == (6, 2) and len(scores) == len(boxes)
    assert blazeface.levels(3024, 4032) == pytest.approx([1, 1 / 3, 1 / 9, 1 / 27])  # down to ~48 px
    assert blazeface.levels(100, 100) == [1.0]


@pytest.mark.parametrize("scale", [0.3, 1.0, 3.0])
def test_finds_the_astronaut_at_every_size(
    blazeface: BlazeFaceDetector, samples: dict[str, RGBImage], scale: float
) -> None:
    rgb = samples["astronaut"]
    image = np.asarray(Image.fromarray(rgb).resize((round(512 * scale), round(600 * scale))))
    hits = blazeface.detect(image, 0)
    best = max(hits, key=lambda d: d.score)
    box = Box(*(v / scale for v in best[:4]))
    assert box.iou(Box(165.0, 73.0, 264.0, 172.0)) > 0.4  # MMOD's box of her face
    assert best.keypoints is not None and len(best.keypoints) == 6
    (right, left) = sorted(best.keypoints[:2], key=lambda p: -p[0])
    assert right[0] > left[0] and abs(right[1] - left[1]) < 0.2 * (right[0] - left[0])  # two eyes, level


def test_no_face_on_a_face_free_photo(blazeface: BlazeFaceDetector) -> None:
    assert [d for d in blazeface.detect(sample_photo("chelsea"), 0) if d.score > 0.6] == []


def test_weighted_nms_averages_a_cluster_and_keeps_the_rest() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=np.float64)
    points = np.zeros((3, 6, 2))
    points[1] += 1
    merged = weighted_nms(boxes, points, np.array([0.9, 0.3, 0.5]), 0.3)
    assert [round(s, 2) for _, _, s in merged] == [0.9, 0.5]
    np.testing.assert_allclose(merged[0][0], [0.25, 0.25, 10.25, 10.25])
    np.testing.assert_allclose(merged[0][1], 0.25)


def test_the_int8_graph_finds_what_the_float_graph_finds(
    blazeface: BlazeFaceDetector, samples: dict[str, RGBImage]
) -> None:
    import dataclasses

    m = manifest("blazeface")
    assert blazeface.precision == "int8"  # the default: ~1.6x faster on this machine
    exact = BlazeFaceDetector(dataclasses.replace(m, defaults={**m.defaults, "precision": "float32"}))
    for name in ("astronaut", "hopper"):
        for scale in (0.25, 0.5, 1.0):
            rgb = samples[name]
            image = np.asarray(Image.fromarray(rgb).resize((round(512 * scale), round(rgb.shape[0] * scale))))
            (want,) = [d for d in exact.detect(image, 0) if d.score > 0.6]
            (got,) = [d for d in blazeface.detect(image, 0) if d.score > 0.6]
            assert Box(*got[:4]).iou(Box(*want[:4])) > 0.85 and abs(got.score - want.score) < 0.1
