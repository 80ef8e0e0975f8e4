"""Operator models by manifest: validation, registration, and the errors that leave the models
directory untouched."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from faceprint.errors import ModelError
from faceprint.models.onnx_recogniser import register
from faceprint.models.operator import operator_manifest, operator_models, parse_manifest
from tests.models.operator_graphs import arcface_graph, arcface_manifest, write_model

GOOD = arcface_manifest("a" * 64)


def _changed(path: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = raw
    for key in parents:
        node = node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return raw


def test_a_good_manifest_is_read_as_stated() -> None:
    m = parse_manifest(GOOD)
    assert (m.width, m.height, m.colour, m.layout, m.dim) == (112, 112, "BGR", "NCHW", 512)
    assert m.alignment.method == "similarity" and m.alignment.landmarks == ("left_eye", "right_eye")
    assert m.alignment.points[0] == (38.2946, 51.6963)
    assert parse_manifest(m.to_json()) == m


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("licence", None, "'licence' must be a non-empty string"),
        ("source", "", "'source'"),
        ("sha256", "abc", "64 hex digits"),
        ("name", "Has Spaces", "'name'"),
        ("model_id", "dlib-resnet-v1", "reserved"),
        ("extra", 1, "unknown fields"),
        ("role", "detector", "only recognisers"),
        ("input.width", 5000, "'width'"),
        ("input.colour", "YUV", "'colour'"),
        ("input.std", [1, 0, 1], "positive"),
        ("input.mean", [1, 2], "3 numbers"),
        ("output.dim", "512", "'dim'"),
        ("alignment.landmarks", ["left_eye", "mouth_left"], "mouth_left"),
        ("alignment.points", [[38, 51], [200, 51]], "outside"),
        ("alignment.points", [[38, 51]], "equal length"),
        ("alignment", {"template": "arcface?"}, "'template'"),
    ],
)
def test_a_malformed_manifest_names_what_is_wrong(path: str, value: Any, message: str) -> None:
    with pytest.raises(ModelError, match="malformed manifest") as caught:
        parse_manifest(_changed(path, value))
    assert message in str(caught.value)


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_registration_checks_everything_and_leaves_the_directory_untouched(tmp_path: Path) -> None:
    models = tmp_path / "models"
    onnx_path, manifest_path = write_model(tmp_path / "src", arcface_graph())
    registered = register(onnx_path, manifest_path, models)
    assert registered.directory == models / "arcface-test"
    assert _listing(models) == ["arcface-test", "arcface-test/manifest.json", "arcface-test/model.onnx"]
    before = _listing(models)

    def refused(onnx: Path, manifest: Path, message: str) -> None:
        with pytest.raises(ModelError, match=message):
            register(onnx, manifest, models)
        assert _listing(models) == before

    refused(onnx_path, manifest_path, "already registered")
    # a missing file, a missing manifest, a manifest that is not JSON
    other = tmp_path / "other"
    _, m2 = write_model(other, arcface_graph(nan=True), "second")  # another file: another hash
    refused(other / "nothing.onnx", m2, "not found")
    refused(onnx_path, other / "nothing.json", "not found")
    (other / "bad.json").write_text("{not json", encoding="utf-8")
    refused(onnx_path, other / "bad.json", "not JSON")
    # a file that is not the one the manifest hashes
    refused(onnx_path, m2, "SHA-256")
    # a wrong input size: the graph takes 112x112, the manifest states 150x150
    changes = {"input": {**GOOD["input"], "width": 150, "height": 150}, "alignment": GOOD["alignment"]}
    wrong = write_model(tmp_path / "wrong", arcface_graph(), "wrong-size", **changes)
    refused(*wrong, r"shape \['n', 3, 112, 112\].*150x150")
    # a wrong output size
    refused(*write_model(tmp_path / "dim", arcface_graph(dim=256), "small-dim"), "states 512 values")
    # a model that produces NaN
    refused(*write_model(tmp_path / "nan", arcface_graph(nan=True), "nan-model"), "NaN")
    # not an ONNX file at all
    junk = b"not a model"
    refused(*write_model(tmp_path / "junk", junk, "junk"), "onnxruntime cannot load")
    assert list(operator_models(models)) == ["arcface-test"]


def test_a_registered_file_that_changed_is_refused(tmp_path: Path) -> None:
    from faceprint.models.onnx_recogniser import OnnxRecogniser

    models = tmp_path / "models"
    register(*write_model(tmp_path / "src", arcface_graph()), models)
    m = operator_manifest(models, "arcface-test")
    OnnxRecogniser(m)
    (models / "arcface-test" / "model.onnx").write_bytes(arcface_graph(dim=512, size=112)[:-10])
    with pytest.raises(ModelError, match="SHA-256"):
        OnnxRecogniser(m)
    (models / "arcface-test" / "model.onnx").unlink()
    with pytest.raises(ModelError, match="not found"):
        OnnxRecogniser(m)
    with pytest.raises(ModelError, match=r"no recogniser 'nope'.*registered: arcface-test"):
        operator_manifest(models, "nope")


def test_the_manifest_is_stored_as_validated(tmp_path: Path) -> None:
    models = tmp_path / "models"
    onnx_path, manifest_path = write_model(tmp_path / "src", arcface_graph())
    register(onnx_path, manifest_path, models)
    stored = json.loads((models / "arcface-test" / "manifest.json").read_text())
    assert stored == parse_manifest(json.loads(manifest_path.read_text())).to_json()
    digest = hashlib.sha256((models / "arcface-test" / "model.onnx").read_bytes()).hexdigest()
    assert digest == stored["sha256"]
