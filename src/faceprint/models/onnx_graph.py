"""dlib networks as ONNX graphs, built locally from the ``.dat`` files and cached on disk.

The graph is built with the ``onnx`` package from the layers :mod:`.dlib_net` reads, so no
converted weights are shipped or downloaded. It is written once to the cache directory, named by
the SHA-256 of the source file, atomically (temporary file, then rename); a missing, truncated or
corrupt cache file is rebuilt.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelError
from .dlib_net import Affine, Conv, DlibNet, Fc, Layer, Op

__all__ = ["build_onnx", "cache_dir", "cached_file", "file_sha256", "net_flops", "open_session"]

_OPSET = 17


def cache_dir(setting: str = "") -> Path:
    """Where converted models live: the setting, else ``$XDG_CACHE_HOME/faceprint``, else ``~/.cache``."""
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "faceprint"


def file_sha256(path: Path) -> str:
    """The file's SHA-256, computed once per process for each version of the file (path, mtime,
    size): the manifest check and the cache names of the converted graphs share it."""
    stat = path.stat()
    return _sha256(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_file(
    directory: Path, name: str, build: Callable[[], bytes], valid: Callable[[Path], bool]
) -> Path:
    """``directory/name``, built by ``build`` unless present and ``valid``; written atomically."""
    target = directory / name
    if target.is_file():
        try:
            if valid(target):
                return target
        except Exception:  # a corrupt cache file is rebuilt, whatever the loader raised
            pass
    data = build()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ModelError(f"cannot write the model cache {target}: {exc.strerror or exc}") from None
    return target


def open_session(model: Path | bytes, threads: int) -> object:
    """An onnxruntime CPU session with ``threads`` intra-op threads (0 = every core)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ModelError(f"onnxruntime is not importable ({exc})") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads if threads > 0 else (os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    source = str(model) if isinstance(model, Path) else model
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"onnxruntime cannot load the converted model: {exc}") from None


def _fold(layers: tuple[Layer, ...]) -> list[Layer]:
    """Fold each affine layer that follows a convolution into that convolution's weights."""
    out: list[Layer] = []
    for layer in layers:
        if isinstance(layer, Affine) and out and isinstance(out[-1], Conv):
            conv = out.pop()
            assert isinstance(conv, Conv)
            gamma = layer.gamma.astype(np.float64).reshape(-1)
            weights = conv.weights.astype(np.float64) * gamma[:, None, None, None]
            bias = conv.bias.astype(np.float64) * gamma + layer.beta.astype(np.float64).reshape(-1)
            out.append(Conv(weights.astype(np.float32), bias.astype(np.float32), conv.stride, conv.padding))
        else:
            out.append(layer)
    return out


def _pool_out(size: int | None, k: int, s: int, p: int) -> int | None:
    return None if size is None else (size + 2 * p - k) // s + 1


def build_onnx(net: DlibNet, *, image_size: int | None) -> bytes:
    """The network as a serialised ONNX model.

    Input ``input``: float32 ``(batch, 3, H, W)``. With ``image_size`` (the ResNet's 150) the input
    is raw RGB pixel values and the graph applies dlib's ``(pixel - mean) / 256``; without it
    (the detector) the input is the already normalised tiled pyramid and H, W are dynamic.
    Output ``output``: the last layer's values.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    counter = [0]

    def name(prefix: str) -> str:
        counter[0] += 1
        return f"{prefix}{counter[0]}"

    def const(array: NDArray[np.generic], prefix: str = "w") -> str:
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), n))
        return n

    def node(op: str, inputs: list[str], **attrs: Any) -> str:
        out = name(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    h: int | None = image_size
    w: int | None = image_size
    current = "input"
    if image_size is not None:
        mean = np.array(net.mean_rgb, dtype=np.float32).reshape(1, 3, 1, 1)
        current = node("Sub", [current, const(mean, "mean")])
        current = node("Mul", [current, const(np.array(1.0 / 256.0, dtype=np.float32), "scale")])
    channels = 3
    tags: dict[int, tuple[str, int, int | None, int | None]] = {}
    for layer in _fold(net.layers):
        if isinstance(layer, Conv):
            out_c, _, kh, kw = layer.weights.shape
            (sy, sx), (py, px) = layer.stride, layer.padding
            current = node(
                "Conv",
                [current, const(layer.weights), const(layer.bias, "b")],
                kernel_shape=[kh, kw],
                strides=[sy, sx],
                pads=[py, px, py, px],
            )
            channels, h, w = out_c, _pool_out(h, kh, sy, py), _pool_out(w, kw, sx, px)
        elif isinstance(layer, Affine):
            g = layer.gamma.reshape(1, -1, 1, 1)
            b = layer.beta.reshape(1, -1, 1, 1)
            current = node("Add", [node("Mul", [current, const(g, "g")]), const(b, "b")])
        elif isinstance(layer, Fc):
            flat = node("Flatten", [current], axis=1)
            current = node("MatMul", [flat, const(layer.weights)])
        elif layer.kind == "relu":
            current = node("Relu", [current])
        elif layer.kind in ("max_pool", "avg_pool"):
            (kh, kw), (sy, sx), (py, px) = layer.size, layer.stride, layer.padding
            if kh == 0:  # avg_pool_everything
                current = node("GlobalAveragePool", [current])
                h = w = 1
            else:
                op = "MaxPool" if layer.kind == "max_pool" else "AveragePool"
                current = node(op, [current], kernel_shape=[kh, kw], strides=[sy, sx], pads=[py, px, py, px])
                h, w = _pool_out(h, kh, sy, py), _pool_out(w, kw, sx, px)
        elif layer.kind == "tag":
            tags[layer.tag] = (current, channels, h, w)
        elif layer.kind == "skip":
            current, channels, h, w = tags[layer.tag]
        elif layer.kind == "add_prev":
            other, oc, oh, ow = tags[layer.tag]
            current, channels, h, w = _add_padded(node, const, (current, channels, h, w), (other, oc, oh, ow))
        else:  # pragma: no cover - dlib_net only produces the kinds above
            raise ModelError(f"cannot convert layer {layer}")
    nodes[-1].output[0] = "output"
    last = net.layers[-1]
    out_dims: list[str | int] = (
        ["batch", last.weights.shape[1]] if isinstance(last, Fc) else ["batch", channels, "oh", "ow"]
    )
    dims: list[str | int] = ["batch", 3, image_size or "height", image_size or "width"]
    graph = helper.make_graph(
        nodes,
        "dlib",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_dims)],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="faceprint"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def _add_padded(
    node: Callable[..., str],
    const: Callable[..., str],
    a: tuple[str, int, int | None, int | None],
    b: tuple[str, int, int | None, int | None],
) -> tuple[str, int, int | None, int | None]:
    """dlib's add_prev: tensors of different sizes are added as if zero-padded at the far end."""
    if None in (a[2], a[3], b[2], b[3]):
        if a[1:] != b[1:]:
            raise ModelError("add_prev of differently sized tensors needs a fixed input size")
        return node("Add", [a[0], b[0]]), a[1], a[2], a[3]
    c, h, w = max(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])  # type: ignore[type-var]

    def pad(t: tuple[str, int, int | None, int | None]) -> str:
        dc, dh, dw = c - t[1], h - t[2], w - t[3]  # type: ignore[operator]
        if dc == dh == dw == 0:
            return t[0]
        pads = np.array([0, 0, 0, 0, 0, dc, dh, dw], dtype=np.int64)
        return node("Pad", [t[0], const(pads, "pads")])

    return node("Add", [pad(a), pad(b)]), c, h, w


def net_flops(net: DlibNet, image_size: int) -> float:
    """Multiply-adds x 2 of one forward pass at ``image_size`` (convolutions and fc layers)."""
    h = w = image_size
    flops = 0.0
    tags: dict[int, tuple[int, int]] = {}
    for layer in _fold(net.layers):
        if isinstance(layer, Conv):
            out_c, in_c, kh, kw = layer.weights.shape
            h = (h + 2 * layer.padding[0] - kh) // layer.stride[0] + 1
            w = (w + 2 * layer.padding[1] - kw) // layer.stride[1] + 1
            flops += 2.0 * out_c * in_c * kh * kw * h * w
        elif isinstance(layer, Fc):
            flops += 2.0 * layer.weights.size
        elif isinstance(layer, Op) and layer.kind in ("max_pool", "avg_pool"):
            if layer.size[0] == 0:
                h = w = 1
            else:
                h = (h + 2 * layer.padding[0] - layer.size[0]) // layer.stride[0] + 1
                w = (w + 2 * layer.padding[1] - layer.size[1]) // layer.stride[1] + 1
        elif isinstance(layer, Op) and layer.kind == "tag":
            tags[layer.tag] = (h, w)
        elif isinstance(layer, Op) and layer.kind == "skip":
            h, w = tags[layer.tag]
        elif isinstance(layer, Op) and layer.kind == "add_prev":
            h, w = max(h, tags[layer.tag][0]), max(w, tags[layer.tag][1])
    return flops
