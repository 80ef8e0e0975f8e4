"""TensorFlow Lite convolutional networks as ONNX graphs with a dynamic input size.

Reads a ``.tflite`` flatbuffer with the ``tflite`` schema package and writes the same network
with the ``onnx`` package, in NCHW, with ``auto_pad=SAME_UPPER`` for TF's SAME padding so that
any input whose sides are multiples of the network's total stride can be fed (a BlazeFace trained
on 192x192 runs fully convolutionally on a whole photo). float16 weights (``DEQUANTIZE`` of a
constant) are folded into float32 initialisers. Only the operators the shipped models use are
supported; anything else raises :class:`~faceprint.errors.ModelError` rather than guessing.

Input ``input``: float32 ``(batch, 3, H, W)`` raw RGB values; the graph applies
``pixel * scale + offset`` (the manifest's normalisation). Outputs keep the TFLite names and
shapes, with the anchor axis dynamic: ``(batch, anchors, values)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelError

__all__ = ["build_onnx_from_tflite"]

_OPSET = 17
_ACTIVATIONS = {0: None, 1: "Relu"}  # tflite ActivationFunctionType: NONE, RELU


def build_onnx_from_tflite(path: Path, *, scale: float, offset: float) -> bytes:
    """The network in ``path`` as a serialised ONNX model (see the module docstring)."""
    try:
        import tflite
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ModelError(f"the 'tflite' package is needed to read {path.name} ({exc})") from None
    try:
        model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
        return _Converter(tflite, model).convert(scale=scale, offset=offset)
    except ModelError:
        raise
    except Exception as exc:  # a truncated or foreign file surfaces as flatbuffer errors
        raise ModelError(
            f"{path.name} is not a readable TFLite model ({type(exc).__name__}: {exc})"
        ) from None


class _Converter:
    def __init__(self, tflite: Any, model: Any) -> None:
        self.tfl = tflite
        self.model = model
        self.graph = model.Subgraphs(0)
        self.ops = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        self.consts: dict[int, NDArray[Any]] = {}
        self.names: dict[int, str] = {}
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.counter = 0

    # -- tensors -----------------------------------------------------------------------------

    def _data(self, index: int) -> NDArray[Any] | None:
        tensor = self.graph.Tensors(index)
        raw = self.model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(raw, int) or raw is None or len(raw) == 0:
            return None
        dtypes = {0: np.float32, 1: np.float16, 2: np.int32, 4: np.int64}
        if tensor.Type() not in dtypes:
            raise ModelError(f"unsupported TFLite tensor type {tensor.Type()}")
        shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
        return np.frombuffer(raw.tobytes(), dtype=dtypes[tensor.Type()]).reshape(shape)

    def const(self, index: int) -> NDArray[Any]:
        if index not in self.consts:
            data = self._data(index)
            if data is None:
                raise ModelError(f"TFLite tensor {index} is not a constant")
            self.consts[index] = data
        return self.consts[index]

    def _fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter}"

    def init(self, array: NDArray[Any], prefix: str = "w") -> str:
        from onnx import numpy_helper

        name = self._fresh(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        out = self._fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def activation(self, value: str, fused: int) -> str:
        if fused not in _ACTIVATIONS:
            raise ModelError(f"unsupported fused activation {fused} in TFLite model")
        act = _ACTIVATIONS[fused]
        return self.node(act, [value]) if act else value

    # -- operators ---------------------------------------------------------------------------

    def convert(self, *, scale: float, offset: float) -> bytes:
        import onnx
        from onnx import TensorProto, helper

        g = self.graph
        if g.InputsLength() != 1:
            raise ModelError("expected a TFLite model with one input")
        x = self.node("Mul", ["input", self.init(np.array(scale, dtype=np.float32), "scale")])
        self.names[g.Inputs(0)] = self.node(
            "Add", [x, self.init(np.array(offset, dtype=np.float32), "offset")]
        )
        for i in range(g.OperatorsLength()):
            self._operator(g.Operators(i))
        outputs = []
        for i in range(g.OutputsLength()):
            index = g.Outputs(i)
            name = g.Tensors(index).Name().decode()
            self.nodes.append(helper.make_node("Identity", [self.names[index]], [name]))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", "anchors", None]))
        graph = helper.make_graph(
            self.nodes,
            "tflite",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
            outputs,
            self.inits,
        )
        onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
        onnx_model.ir_version = 8
        onnx.checker.check_model(onnx_model)
        return bytes(onnx_model.SerializeToString())

    def _operator(self, op: Any) -> None:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        kind = self.ops.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
        ins = [int(v) for v in op.InputsAsNumpy()]
        out = int(op.OutputsAsNumpy()[0])
        handler = getattr(self, f"_op_{kind.lower()}", None)
        if handler is None:
            raise ModelError(f"unsupported TFLite operator {kind}")
        result = handler(op, ins)
        if isinstance(result, np.ndarray):  # folded into a constant (float16 weights)
            self.consts[out] = result
        else:
            self.names[out] = result

    def _options(self, op: Any, cls_name: str) -> Any:
        options = getattr(self.tfl, cls_name)()
        table = op.BuiltinOptions()
        options.Init(table.Bytes, table.Pos)
        return options

    def _op_dequantize(self, op: Any, ins: list[int]) -> NDArray[np.float32]:
        return self.const(ins[0]).astype(np.float32)

    def _conv(self, op: Any, ins: list[int], *, depthwise: bool) -> str:
        name = "DepthwiseConv2DOptions" if depthwise else "Conv2DOptions"
        o = self._options(op, name)
        if o.DilationHFactor() != 1 or o.DilationWFactor() != 1:
            raise ModelError("dilated TFLite convolutions are not supported")
        weights = self.const(ins[1]).astype(np.float32)
        if depthwise:  # (1, kh, kw, channels) -> (channels, 1, kh, kw), one group per channel
            weights = weights.transpose(3, 0, 1, 2)
            group = weights.shape[0] // o.DepthMultiplier()
        else:  # (out, kh, kw, in) -> (out, in, kh, kw)
            weights = weights.transpose(0, 3, 1, 2)
            group = 1
        inputs = [self.names[ins[0]], self.init(weights)]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(self.init(self.const(ins[2]).astype(np.float32), "b"))
        pad = "SAME_UPPER" if o.Padding() == 0 else "VALID"
        y = self.node(
            "Conv",
            inputs,
            kernel_shape=list(weights.shape[2:]),
            strides=[o.StrideH(), o.StrideW()],
            auto_pad=pad,
            group=group,
        )
        return self.activation(y, o.FusedActivationFunction())

    def _op_conv_2d(self, op: Any, ins: list[int]) -> str:
        return self._conv(op, ins, depthwise=False)

    def _op_depthwise_conv_2d(self, op: Any, ins: list[int]) -> str:
        return self._conv(op, ins, depthwise=True)

    def _op_add(self, op: Any, ins: list[int]) -> str:
        o = self._options(op, "AddOptions")
        y = self.node("Add", [self.names[ins[0]], self.names[ins[1]]])
        return self.activation(y, o.FusedActivationFunction())

    def _op_relu(self, op: Any, ins: list[int]) -> str:
        return self.node("Relu", [self.names[ins[0]]])

    def _op_pad(self, op: Any, ins: list[int]) -> str:
        pads = self.const(ins[1]).astype(np.int64)  # (4, 2) in NHWC
        nchw = pads[[0, 3, 1, 2]]
        return self.node(
            "Pad", [self.names[ins[0]], self.init(np.concatenate([nchw[:, 0], nchw[:, 1]]), "p")]
        )

    def _op_max_pool_2d(self, op: Any, ins: list[int]) -> str:
        o = self._options(op, "Pool2DOptions")
        y = self.node(
            "MaxPool",
            [self.names[ins[0]]],
            kernel_shape=[o.FilterHeight(), o.FilterWidth()],
            strides=[o.StrideH(), o.StrideW()],
            auto_pad="SAME_UPPER" if o.Padding() == 0 else "VALID",
        )
        return self.activation(y, o.FusedActivationFunction())

    def _op_resize_bilinear(self, op: Any, ins: list[int]) -> str:
        o = self._options(op, "ResizeBilinearOptions")
        src = self.graph.Tensors(ins[0]).ShapeAsNumpy()
        size = self.const(ins[1])
        scales = np.array([1.0, 1.0, size[0] / src[1], size[1] / src[2]], dtype=np.float32)
        mode = "align_corners" if o.AlignCorners() else "half_pixel" if o.HalfPixelCenters() else "asymmetric"
        return self.node(
            "Resize",
            [self.names[ins[0]], "", self.init(scales, "scales")],
            mode="linear",
            coordinate_transformation_mode=mode,
        )

    def _op_reshape(self, op: Any, ins: list[int]) -> str:
        """Flattening a NHWC feature map to (batch, anchors, values): batch kept, anchors dynamic."""
        target = self.graph.Tensors(op.OutputsAsNumpy()[0]).ShapeAsNumpy()
        if len(target) != 3:
            raise ModelError("only (batch, anchors, values) reshapes are supported")
        nhwc = self.node("Transpose", [self.names[ins[0]]], perm=[0, 2, 3, 1])
        shape = self.init(np.array([0, -1, int(target[2])], dtype=np.int64), "shape")
        return self.node("Reshape", [nhwc, shape])
