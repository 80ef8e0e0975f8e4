"""Small ONNX recognisers built in the tests: an ArcFace-style one (112x112 in, 512-d out)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.align_template import ARCFACE_112


def arcface_graph(*, size: int = 112, dim: int = 512, nan: bool = False) -> bytes:
    """A fixed random network: 8x8 stride-8 convolution, ReLU, a linear map to ``dim`` values.

    Input ``data`` (N, 3, size, size), output ``embedding`` (N, dim); with ``nan`` the output is
    multiplied by NaN (a broken model).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(19)
    cells = (size // 8) ** 2 * 16
    conv = rng.normal(0, 0.1, (16, 3, 8, 8)).astype(np.float32)
    proj = rng.normal(0, 1 / np.sqrt(cells), (cells, dim)).astype(np.float32)
    inits = [
        numpy_helper.from_array(conv, "conv_w"),
        numpy_helper.from_array(proj, "proj"),
        numpy_helper.from_array(np.array(np.nan if nan else 1.0, dtype=np.float32), "gain"),
    ]
    nodes = [
        helper.make_node("Conv", ["data", "conv_w"], ["c"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"], axis=1),
        helper.make_node("MatMul", ["f", "proj"], ["m"]),
        helper.make_node("Mul", ["m", "gain"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "arcface-style",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["n", 3, size, size])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", dim])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def arcface_manifest(sha256: str, name: str = "arcface-test", **changes: Any) -> dict[str, Any]:
    """An ArcFace-style manifest: 112x112 RGB, (pixel - 127.5) / 127.5, ArcFace's eye points."""
    manifest: dict[str, Any] = {
        "name": name,
        "role": "recogniser",
        "model_id": f"{name}-v1",
        "summary": "a test network with ArcFace's input conventions",
        "licence": "test fixture, no weights of anyone's",
        "source": "tests/models/operator_graphs.py",
        "sha256": sha256,
        "input": {
            "width": 112,
            "height": 112,
            "colour": "BGR",
            "layout": "NCHW",
            "mean": [127.5, 127.5, 127.5],
            "std": [127.5, 127.5, 127.5],
            "name": "data",
        },
        "output": {"dim": 512, "name": "embedding"},
        "alignment": {"points": [list(p) for p in ARCFACE_112[:2]], "landmarks": ["left_eye", "right_eye"]},
    }
    manifest.update(changes)
    return manifest


def write_model(folder: Path, graph: bytes, name: str = "arcface-test", **changes: Any) -> tuple[Path, Path]:
    """``folder/<name>.onnx`` and its manifest ``folder/<name>.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = folder / f"{name}.onnx"
    onnx_path.write_bytes(graph)
    manifest = arcface_manifest(hashlib.sha256(graph).hexdigest(), name, **changes)
    manifest_path = folder / f"{name}.json"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    return onnx_path, manifest_path


def person_folders(faces_dir: Path, labels: dict[str, str], into: Path) -> Path:
    """``../shared/data/faces`` as a folder per person (links)."""
    for name, person in labels.items():
        (into / person).mkdir(parents=True, exist_ok=True)
        os.symlink(faces_dir / name, into / person / name)
    return into


def calibrated_arcface(folder: Path, faces_dir: Path, labels: dict[str, str]) -> Path:
    """The ArcFace-style test model registered in ``folder/models`` and calibrated (its mirrored
    templates) on ``../shared/data/faces``; returns the models directory."""
    from faceprint import Settings
    from faceprint.calibrate_folder import calibrate_folder
    from faceprint.models.onnx_recogniser import register
    from faceprint.models.operator import operator_manifest, save_calibration

    models = folder / "models"
    register(*write_model(folder / "src", arcface_graph()), models)
    settings = Settings(recogniser="arcface-test", models_dir=str(models))
    people = person_folders(faces_dir, labels, folder / "people")
    save_calibration(
        operator_manifest(models, "arcface-test"), calibrate_folder(people, settings, workers=1).table
    )
    return models
