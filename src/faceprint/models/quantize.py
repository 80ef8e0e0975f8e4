"""Static int8 quantisation of a float ONNX graph with onnxruntime's own tooling.

Weights are quantised per output channel (int8, with the reduced 7-bit range that keeps x86's
``vpmaddubsw`` from saturating on CPUs without VNNI), activations per tensor (uint8) from the
ranges the graph shows on calibration inputs. The result is deterministic for the same graph and
inputs, so it is cached like the float graph. Used where measurement shows the int8 graph keeps
the float graph's accuracy (``tests/models/test_blazeface.py``) and runs faster.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelError

__all__ = ["quantize_int8"]


def quantize_int8(model: bytes, inputs: Sequence[dict[str, NDArray[np.float32]]]) -> bytes:
    """``model`` with int8 weights and uint8 activations, calibrated on ``inputs`` (feeds by input name)."""
    try:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    except ImportError as exc:  # pragma: no cover - part of onnxruntime
        raise ModelError(f"onnxruntime's quantisation tools are not importable ({exc})") from None

    class Feeds(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._items = iter(inputs)

        def get_next(self) -> dict[str, Any] | None:
            return next(self._items, None)

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the tool logs advice at WARNING on the root logger
    try:
        with tempfile.TemporaryDirectory(prefix="faceprint-quant-") as tmp:
            src, dst = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
            src.write_bytes(model)
            quantize_static(
                str(src),
                str(dst),
                Feeds(),
                quant_format=QuantFormat.QOperator,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=True,
            )
            return dst.read_bytes()
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"int8 quantisation failed ({type(exc).__name__}: {exc})") from None
    finally:
        root.setLevel(level)
