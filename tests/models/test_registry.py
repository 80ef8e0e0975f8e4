from __future__ import annotations

import subprocess
import sys

import pytest

from faceprint.errors import ModelError
from faceprint.models.registry import MODEL_FILES, load_detector, model_path


def test_model_files_are_found_in_the_package() -> None:
    for role in MODEL_FILES:
        path = model_path(role)
        assert path.is_file() and path.stat().st_size > 100_000


def test_the_68_point_model_is_never_named() -> None:
    assert not any("68" in name for name in MODEL_FILES.values())
    with pytest.raises(ModelError, match="unknown model role"):
        model_path("landmarks68")


def test_unknown_detector() -> None:
    with pytest.raises(ModelError, match="unknown detector"):
        load_detector("yolo")  # type: ignore[arg-type]


def test_models_are_located_without_importing_face_recognition_models() -> None:
    code = (
        "import sys, faceprint\n"
        "from faceprint.models.registry import model_path\n"
        "model_path('resnet')\n"
        "faceprint.Engine().load()\n"
        "assert 'face_recognition_models' not in sys.modules\n"
        "assert 'pkg_resources' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
