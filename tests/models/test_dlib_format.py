"""dlib's serialisation, read by faceprint's own reader: structure of the three CC0 files, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceprint.errors import ModelError
from faceprint.models.dlib_net import Conv, Fc, Op, read_mmod, read_resnet
from faceprint.models.dlib_shape_predictor import read_shape_predictor
from faceprint.models.registry import model_path


def test_resnet_is_the_29_layer_metric_network() -> None:
    net = read_resnet(model_path("resnet"))
    convs = [layer for layer in net.layers if isinstance(layer, Conv)]
    fcs = [layer for layer in net.layers if isinstance(layer, Fc)]
    assert net.input_kind == "input_rgb_image_sized" and net.loss["kind"] == "metric"
    assert len(convs) == 29 and len(fcs) == 1
    assert convs[0].weights.shape == (32, 3, 7, 7) and convs[0].stride == (2, 2)
    assert fcs[0].weights.shape == (256, 128)  # the 128-d embedding
    assert all(np.isfinite(c.weights).all() for c in convs)
    assert net.mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)


def test_mmod_is_the_detector_with_its_window() -> None:
    net = read_mmod(model_path("cnn"))
    assert net.loss["kind"] == "mmod"
    convs = [layer for layer in net.layers if isinstance(layer, Conv)]
    assert convs[-1].weights.shape[0] == 1  # one detection channel
    assert sum(c.stride == (2, 2) for c in convs) == 3  # stride 8 overall
    assert any(isinstance(layer, Op) and layer.kind == "relu" for layer in net.layers)
    windows = net.loss["detector_windows"]
    assert isinstance(windows, list) and len(windows) == 1


def test_shape_predictor_has_five_parts() -> None:
    model = read_shape_predictor(model_path("landmarks5"))
    assert model.num_parts == 5
    assert len(model.forests) == len(model.anchor_idx) == len(model.deltas) > 0
    tree = model.forests[0][0]
    assert tree.leaves.shape == (tree.idx1.size + 1, 10)


@pytest.mark.parametrize("reader", [read_resnet, read_mmod, read_shape_predictor])
def test_truncated_empty_and_foreign_files_are_model_errors(tmp_path: Path, reader: object) -> None:
    source = {read_resnet: "resnet", read_mmod: "cnn", read_shape_predictor: "landmarks5"}[reader]  # type: ignore[index]
    data = model_path(source).read_bytes()
    for name, content in (
        ("truncated.dat", data[: len(data) // 2]),
        ("empty.dat", b""),
        ("photo.dat", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ModelError):
            reader(path)  # type: ignore[operator]
    with pytest.raises(ModelError, match="cannot read"):
        reader(tmp_path / "missing.dat")  # type: ignore[operator]


def test_a_net_file_is_not_read_as_another_kind() -> None:
    with pytest.raises(ModelError):
        read_resnet(model_path("cnn"))
    with pytest.raises(ModelError):
        read_mmod(model_path("resnet"))
