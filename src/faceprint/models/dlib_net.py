"""dlib's networks read from their files: the ResNet metric network and the MMOD CNN detector.

Written from dlib's ``dlib/dnn/{core,layers,input,loss}.h``. A dlib network is a nest of
templates, and the stream does not name every level (tag and skip layers write only a version
number), so each network's architecture is given here as dlib's type is written, output first,
exactly as ``dlib::deserialize`` walks it. The primitives are :mod:`.dlib_format`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelError
from .dlib_format import Stream, read_model_file

__all__ = [
    "MMOD_ARCHITECTURE",
    "RESNET_ARCHITECTURE",
    "Affine",
    "Conv",
    "DlibNet",
    "Fc",
    "Layer",
    "Op",
    "read_mmod",
    "read_net",
    "read_resnet",
]


@dataclass(frozen=True)
class Conv:
    """A convolution: OIHW float32 filters, bias per filter, stride and zero padding (y, x)."""

    weights: NDArray[np.float32] = field(repr=False)
    bias: NDArray[np.float32] = field(repr=False)
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class Affine:
    """Per-channel ``x * gamma + beta`` (dlib's inference form of batch normalisation)."""

    gamma: NDArray[np.float32] = field(repr=False)
    beta: NDArray[np.float32] = field(repr=False)


@dataclass(frozen=True)
class Fc:
    """A fully connected layer without bias: ``y = x @ weights`` (weights: inputs x outputs)."""

    weights: NDArray[np.float32] = field(repr=False)


@dataclass(frozen=True)
class Op:
    """A parameterless layer: relu, max_pool/avg_pool (size, stride, padding), tag/skip/add_prev n."""

    kind: str
    size: tuple[int, int] = (0, 0)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    tag: int = 0


Layer = Conv | Affine | Fc | Op


@dataclass(frozen=True)
class DlibNet:
    """A dlib network: input normalisation, layers from input to output, and the loss's options."""

    input_kind: str
    mean_rgb: tuple[float, float, float]
    layers: tuple[Layer, ...]
    loss: dict[str, object]


def _resnet_arch() -> list[str]:
    def block(stride: int) -> list[str]:
        # BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>
        return ["affine", "con", "relu", "affine", "con"]

    def ares() -> list[str]:
        return ["relu", "add_prev1", *block(1), "tag1"]

    def ares_down() -> list[str]:
        return ["relu", "add_prev2", "avg_pool", "skip1", "tag2", *block(2), "tag1"]

    levels = (
        ares_down()  # alevel0
        + ares() * 2
        + ares_down()  # alevel1
        + ares() * 2
        + ares_down()  # alevel2
        + ares() * 3
        + ares_down()  # alevel3
        + ares() * 3  # alevel4
    )
    return ["fc", "avg_pool", *levels, "max_pool", "relu", "affine", "con"]


#: dlib's ``anet_type`` (dnn_face_recognition_ex.cpp), output first, input and loss excluded.
RESNET_ARCHITECTURE: Final = tuple(_resnet_arch())
#: The CNN face detector's ``net_type`` (dnn_mmod_face_detection_ex.cpp), output first.
MMOD_ARCHITECTURE: Final = (
    "con",  # con<1,9,9,1,1>
    *("relu", "affine", "con") * 3,  # rcon5 x3
    *("relu", "affine", "con") * 3,  # downsampler
)


def _read_layer(s: Stream, kind: str) -> Layer:
    if kind == "con":
        version = s.expect("con_4", "con_5", "con_6")
        params = s.tensor().reshape(-1)
        num_filters = s.read_int()
        nr, nc, sy, sx, py, px = (s.read_int() for _ in range(6))
        filters = s.alias_tensor()
        biases = s.alias_tensor()
        for _ in range(4):  # learning rate and weight decay multipliers
            s.read_float()
        use_bias = s.read_bool() if version in ("con_5", "con_6") else True
        if version == "con_6":
            s.read_bool()  # use_relu: a fused relu, never set in these files
        n_w = int(np.prod(filters))
        if filters[0] != num_filters or filters[2:] != (nr, nc):
            raise s.fail("inconsistent convolution filter shape")
        weights = params[:n_w].reshape(filters)
        bias = params[n_w : n_w + num_filters] if use_bias else np.zeros(num_filters, np.float32)
        if use_bias and int(np.prod(biases)) != num_filters:
            raise s.fail("inconsistent convolution bias shape")
        return Conv(weights.copy(), bias.copy(), (sy, sx), (py, px))
    if kind == "affine":
        version = s.expect("affine_", "affine_2", "bn_con2")
        params = s.tensor().reshape(-1)
        gamma_shape = s.alias_tensor()
        s.alias_tensor()  # beta: same shape
        k = int(np.prod(gamma_shape))
        if version == "bn_con2":
            s.tensor()  # means (training batch statistics)
            s.tensor()  # invstds
            running_means = s.tensor().reshape(-1).astype(np.float64)
            running_variances = s.tensor().reshape(-1).astype(np.float64)
            s.read_int()  # num_updates
            s.read_int()  # running_stats_window_size
            for _ in range(4):
                s.read_float()
            eps = s.read_float()
            g = params[:k].astype(np.float32) / np.sqrt(running_variances + eps).astype(np.float32)
            b = params[k : 2 * k] - g * running_means.astype(np.float32)
            return Affine(g.astype(np.float32), b.astype(np.float32))
        s.read_int()  # mode (conv or fc)
        if version == "affine_2":
            s.read_bool()  # disabled
        return Affine(params[:k].copy(), params[k : 2 * k].copy())
    if kind == "fc":
        version = s.expect("fc_2", "fc_3")
        num_outputs, num_inputs = s.read_int(), s.read_int()
        params = s.tensor().reshape(-1)
        s.alias_tensor()
        s.alias_tensor()
        if s.read_int() != 1:  # fc_bias_mode: FC_NO_BIAS == 1
            raise s.fail("expected a fully connected layer without bias")
        for _ in range(4):
            s.read_float()
        if version == "fc_3":
            s.read_bool()  # use_bias (no bias in FC_NO_BIAS mode either way)
        return Fc(params[: num_inputs * num_outputs].reshape(num_inputs, num_outputs).copy())
    if kind in ("max_pool", "avg_pool"):
        s.expect(f"{kind}_2")
        nr, nc, sy, sx, py, px = (s.read_int() for _ in range(6))
        return Op(kind, (nr, nc), (sy, sx), (py, px))
    if kind == "relu":
        if s.expect("relu_", "relu_2") == "relu_2":
            s.read_bool()
        return Op("relu")
    if kind.startswith("add_prev"):
        s.expect("add_prev_")
        return Op("add_prev", tag=int(kind[-1]))
    raise s.fail(f"unknown layer kind {kind}")  # pragma: no cover - architectures are fixed above


def read_net(data: bytes, architecture: Sequence[str], name: str) -> DlibNet:
    """Parse a serialised dlib network of the given architecture (output first, loss excluded)."""
    s = Stream(data, name)
    s.version(1, 1)  # add_loss_layer
    loss = _read_loss(s)
    # Versions of the nested layers, outermost first; tag and skip layers write only this.
    versions = []
    for kind in architecture:
        versions.append(s.version(1, 3))
        if kind.startswith(("tag", "skip")) and versions[-1] != 1:
            raise s.fail("bad tag/skip layer version")
    bottom_version = versions[-1]
    input_kind = s.expect("input_rgb_image_sized", "input_rgb_image_pyramid", "input_rgb_image_pyramid2")
    mean = (s.read_float(), s.read_float(), s.read_float())
    if input_kind == "input_rgb_image_sized":
        s.read_int()
        s.read_int()
    elif input_kind == "input_rgb_image_pyramid2" and (s.read_int(), s.read_int()) != (10, 11):
        raise s.fail("unsupported pyramid padding")
    layers: list[Layer] = []
    for depth, kind in reversed(list(enumerate(architecture))):
        if kind.startswith(("tag", "skip")):
            layers.append(Op(kind[:-1], tag=int(kind[-1])))
            continue
        layers.append(_read_layer(s, kind))
        # add_layer's trailer
        for _ in range(3):
            s.read_bool()
        s.tensor()  # x_grad
        s.tensor()  # cached_output
        is_bottom = depth == len(architecture) - 1
        if is_bottom:
            s.tensor()  # grad_final
            if bottom_version >= 3:
                s.read_int()  # sample expansion factor
        elif versions[depth] == 2:
            s.tensor()  # params_grad
    if not s.at_end():
        raise s.fail("trailing bytes after the network")
    return DlibNet(input_kind, mean, tuple(layers), loss)


def _read_loss(s: Stream) -> dict[str, object]:
    version = s.expect("loss_metric_", "loss_metric_2", "loss_mmod_")
    if version == "loss_metric_2":
        return {"kind": "metric", "margin": s.read_float(), "dist_thresh": s.read_float()}
    if version == "loss_metric_":
        return {"kind": "metric"}
    opt_version = s.version(1, 4)
    windows: list[tuple[int, int, str]] = []
    if opt_version == 1:
        windows.append((s.read_int(), s.read_int(), ""))
    else:
        for _ in range(s.read_int()):
            v = s.version(1, 2)
            width, height = s.read_int(), s.read_int()
            label = s.read_str() if v == 2 else ""
            windows.append((width, height, label))
    options: dict[str, object] = {
        "kind": "mmod",
        "detector_windows": windows,
        "loss_per_false_alarm": s.read_float(),
        "loss_per_missed_target": s.read_float(),
        "truth_match_iou_threshold": s.read_float(),
        "overlaps_nms": (s.read_float(), s.read_float()),  # (iou, percent covered)
        "overlaps_ignore": (s.read_float(), s.read_float()),
        "use_bounding_box_regression": False,
    }
    if opt_version >= 3:
        s.read_byte()
    if opt_version >= 4:
        options["use_bounding_box_regression"] = s.read_bool()
        s.read_float()
    return options


def read_resnet(path: Path) -> DlibNet:
    """``dlib_face_recognition_resnet_model_v1.dat``: the ResNet-29 metric network."""
    net = read_net(read_model_file(path), RESNET_ARCHITECTURE, path.name)
    if net.input_kind != "input_rgb_image_sized" or net.loss.get("kind") != "metric":
        raise ModelError(f"{path.name}: not a dlib metric network")
    return net


def read_mmod(path: Path) -> DlibNet:
    """``mmod_human_face_detector.dat``: the MMOD CNN face detector."""
    net = read_net(read_model_file(path), MMOD_ARCHITECTURE, path.name)
    if not net.input_kind.startswith("input_rgb_image_pyramid") or net.loss.get("kind") != "mmod":
        raise ModelError(f"{path.name}: not a dlib MMOD detector")
    if net.loss.get("use_bounding_box_regression"):
        raise ModelError(f"{path.name}: bounding box regression is not supported")
    return net
