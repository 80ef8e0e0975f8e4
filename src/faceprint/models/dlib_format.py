"""dlib's binary serialisation: the primitives every dlib model file is written with.

Written from dlib's own serialisation code (``dlib/serialize.h``, ``dlib/cuda/tensor.h``):

- integers: one control byte (low nibble: byte count, bit 7: negative), then little-endian bytes;
- floating point: an integer mantissa and an integer exponent (value = mantissa * 2**exponent);
- strings and ``std::vector``: an integer length, then the items; ``bool``: the character 0 or 1;
- tensors: version 2, four dimensions, then raw little-endian float32 values.

The models built from them: networks in :mod:`.dlib_net`, the shape predictor in
:mod:`.dlib_shape_predictor`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelError

__all__ = ["Stream", "read_model_file"]

_FLOAT_SPECIAL: Final = {32000: math.inf, 32001: -math.inf, 32002: math.nan}


class Stream:
    """Primitive dlib deserialisers over a bytes buffer."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.pos = 0
        self.name = name

    def fail(self, what: str) -> ModelError:
        return ModelError(f"{self.name}: not a dlib model of the expected kind ({what} at byte {self.pos})")

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise self.fail("unexpected end of file")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def read_int(self) -> int:
        data, pos = self.data, self.pos
        if pos >= len(data):
            raise self.fail("unexpected end of file")
        control = data[pos]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70 or pos + 1 + size > len(data):
            raise self.fail(f"bad integer control byte {control:#x}")
        value = int.from_bytes(data[pos + 1 : pos + 1 + size], "little")
        self.pos = pos + 1 + size
        return -value if control & 0x80 else value

    def read_float(self) -> float:
        if self.pos < len(self.data) and self.data[self.pos] & 0x70:
            raise self.fail("old text float format (not supported)")
        mantissa, exponent = self.read_int(), self.read_int()
        if exponent in _FLOAT_SPECIAL:
            return _FLOAT_SPECIAL[exponent]
        return math.ldexp(mantissa, exponent)

    def read_bool(self) -> bool:
        ch = self._take(1)
        if ch not in (b"0", b"1"):
            raise self.fail("bad bool")
        return ch == b"1"

    def read_byte(self) -> int:
        return self._take(1)[0]

    def read_str(self) -> str:
        n = self.read_int()
        if n < 0 or n > 10_000:
            raise self.fail("bad string length")
        return self._take(n).decode("latin-1")

    def expect(self, *versions: str) -> str:
        got = self.read_str()
        if got not in versions:
            raise self.fail(f"found {got!r} where {' or '.join(versions)} was expected")
        return got

    def version(self, low: int, high: int) -> int:
        v = self.read_int()
        if not low <= v <= high:
            raise self.fail(f"version {v} not in {low}..{high}")
        return v

    def tensor(self) -> NDArray[np.float32]:
        self.version(2, 2)
        shape = tuple(self.read_int() for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.fail("negative tensor dimension")
        count = int(np.prod(shape))
        values = np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32)
        return values.reshape(shape)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        self.version(1, 1)
        n, k, nr, nc = (self.read_int() for _ in range(4))
        return n, k, nr, nc

    def float_matrix(self) -> NDArray[np.float64]:
        nr, nc = abs(self.read_int()), abs(self.read_int())
        return np.array([self.read_float() for _ in range(nr * nc)], dtype=np.float64).reshape(nr, nc)

    def at_end(self) -> bool:
        return self.pos == len(self.data)


def read_model_file(path: Path) -> bytes:
    """The bytes of a model file; a :class:`ModelError` when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model {path.name}: {exc.strerror or exc}") from None
