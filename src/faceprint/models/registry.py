"""The one place that routes a model name to the class that runs it.

What each model is (file, package, hash, licence, defaults) lives in its manifest
(:mod:`.manifest`); this module only maps ``(name, backend)`` to an implementation and refuses
anything unknown with a :class:`~faceprint.errors.ModelError`. Settings, the CLI and the docs read
the list of names from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from ..errors import ModelError
from .base import Detector, Embedder, Landmarker
from .manifest import Manifest, manifest, names

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "BACKENDS",
    "DEFAULT_DETECTOR",
    "DEFAULT_RECOGNISER",
    "DLIB_RECOGNISER",
    "BackendName",
    "detector_defaults",
    "detector_names",
    "load_detector",
    "load_embedder",
    "load_landmarker",
    "load_recogniser",
    "model_path",
    "recogniser_name",
    "recogniser_names",
]

BackendName = Literal["onnx", "dlib"]
BACKENDS: Final = ("onnx", "dlib")

#: The detector an engine uses unless told otherwise: fast on phone-sized photos (docs/detection.md).
DEFAULT_DETECTOR: Final = "blazeface"
LANDMARKER: Final = "landmarks5"
#: The recogniser an engine uses unless told otherwise (docs/models.md, docs/identification.md);
#: ``resnet`` (dlib's) stays for stores of its templates and for the ``dlib`` backend.
DEFAULT_RECOGNISER: Final = "sface"
DLIB_RECOGNISER: Final = "resnet"


def detector_names() -> tuple[str, ...]:
    """The detectors faceprint ships, default first."""
    rest = tuple(n for n in names("detector") if n != DEFAULT_DETECTOR)
    return (DEFAULT_DETECTOR, *rest)


def detector_defaults(name: str) -> dict[str, object]:
    """A detector's own defaults (``working_side``, ``upsample``, ...), from its manifest."""
    return dict(manifest(name, "detector").defaults)


def recogniser_names() -> tuple[str, ...]:
    """The recognisers faceprint ships, default first."""
    rest = tuple(n for n in names("recogniser") if n != DEFAULT_RECOGNISER)
    return (DEFAULT_RECOGNISER, *rest)


def recogniser_name(setting: str, backend: str = "onnx") -> str:
    """The shipped recogniser a ``Settings.recogniser`` value means, or "" for an operator's model.

    Unset means the default, except on the ``dlib`` backend (dlib's own wheel runs dlib's network).
    """
    if not setting:
        return DLIB_RECOGNISER if backend == "dlib" else DEFAULT_RECOGNISER
    return setting if setting in names("recogniser") else ""


def model_path(name: str) -> Path:
    """The verified weights file of model ``name`` (``cnn``, ``landmarks5``, ``resnet``, ``blazeface``)."""
    return manifest(name).verified_path()


def _backend(m: Manifest, backend: str) -> str:
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if backend not in m.backends:
        raise ModelError(f"model {m.name!r} has no {backend!r} backend (it runs on: {', '.join(m.backends)})")
    return backend


def load_detector(name: str, *, backend: str = "onnx", threads: int = 0, cache: str = "") -> Detector:
    """The face detector called ``name`` on ``backend``.

    HOG exists only in dlib, so it needs dlib installed (the ``dlib`` extra) whatever the backend.
    """
    m = manifest(name, "detector")
    match name, _backend(m, backend):
        case "hog", _:
            from . import dlib_backend

            return dlib_backend.HogDetector()
        case "cnn", "dlib":
            from . import dlib_backend

            return dlib_backend.CnnDetector(m.verified_path())
        case "cnn", "onnx":
            from .detector import OnnxCnnDetector

            return OnnxCnnDetector(m.verified_path(), threads=threads, cache=cache)
        case "blazeface", "onnx":
            from .blazeface import BlazeFaceDetector

            return BlazeFaceDetector(m, threads=threads, cache=cache)
    raise ModelError(f"detector {name!r} has a manifest but no implementation")  # pragma: no cover


def load_landmarker(*, backend: str = "onnx", cache: str = "") -> Landmarker:
    m = manifest(LANDMARKER, "landmarker")
    if _backend(m, backend) == "dlib":
        from . import dlib_backend

        return dlib_backend.ShapePredictor5(m.verified_path())
    from .landmarks import NumpyShapePredictor

    return NumpyShapePredictor(m.verified_path(), cache=cache)


def load_embedder(
    name: str = DLIB_RECOGNISER, *, backend: str = "onnx", threads: int = 0, cache: str = ""
) -> Embedder:
    """The shipped recogniser called ``name`` on ``backend``."""
    m = manifest(name, "recogniser")
    backend = _backend(m, backend)
    if name == "sface":
        from .sface import load_sface

        return load_sface(m, threads=threads, cache=cache)
    if backend == "dlib":
        from . import dlib_backend

        return dlib_backend.ResNetEmbedder(m.verified_path())
    from .embedder import OnnxResNetEmbedder

    return OnnxResNetEmbedder(m.verified_path(), threads=threads, cache=cache)


def load_recogniser(settings: Settings) -> Embedder:
    """The recogniser ``settings`` name: a shipped one (unset: the default), or an operator's registered model."""
    shipped = recogniser_name(settings.recogniser, settings.backend)
    if shipped:
        return load_embedder(
            shipped, backend=settings.backend, threads=settings.threads, cache=settings.cache_dir
        )
    from .onnx_recogniser import OnnxRecogniser
    from .operator import models_dir, operator_manifest

    m = operator_manifest(models_dir(settings.models_dir), settings.recogniser)
    return OnnxRecogniser(m, threads=settings.threads)
