"""dlib's ResNet-29 face embedder (``dlib_face_recognition_resnet_model_v1.dat``) on onnxruntime.

Same weights and model id as the dlib backend: the graph is built from the ``.dat`` file by
:mod:`.onnx_graph`, applies dlib's input normalisation ((pixel - mean) / 256 per channel) and
gives dlib's outputs within float rounding (max abs difference ~1e-6), so the shipped calibration
tables stay valid. Chips are embedded in batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..align import face_chip
from ..errors import InvalidInput
from ..imageio import RGBImage
from .dlib_net import read_resnet
from .onnx_graph import build_onnx, cache_dir, cached_file, file_sha256, open_session

__all__ = ["OnnxResNetEmbedder", "load_onnx_session"]

#: Chips per onnxruntime call: large enough to keep both cores busy, small enough for the cache.
BATCH = 32


def load_onnx_session(path: Path, *, image_size: int | None, threads: int, cache: str) -> Any:
    """An onnxruntime session for the dlib network in ``path``, converted once and cached."""
    name = f"{path.stem}-{file_sha256(path)[:16]}.onnx"
    sessions: list[Any] = []

    def build() -> bytes:
        reader = read_resnet if image_size is not None else _read_mmod
        return build_onnx(reader(path), image_size=image_size)

    def valid(p: Path) -> bool:
        sessions.append(open_session(p, threads))
        return True

    target = cached_file(cache_dir(cache), name, build, valid)
    return sessions[-1] if sessions else open_session(target, threads)


def _read_mmod(path: Path) -> Any:
    from .dlib_net import read_mmod

    return read_mmod(path)


class OnnxResNetEmbedder:
    """dlib's ResNet metric network on onnxruntime: 150x150 RGB chips in, 128-d vectors out."""

    model_id = "dlib-resnet-v1"
    dim = 128
    chip_size = 150
    keypoints_needed: tuple[str, ...] = ()
    chip_padding = 0.25

    def __init__(self, path: Path, *, threads: int = 0, cache: str = "") -> None:
        self._session = load_onnx_session(path, image_size=self.chip_size, threads=threads, cache=cache)

    def cut(self, image: RGBImage, landmarks: NDArray[np.float64]) -> RGBImage:
        """dlib's chip (get_face_chip) at :attr:`chip_size` and :attr:`chip_padding`."""
        return face_chip(image, landmarks, size=self.chip_size, padding=self.chip_padding)

    def embed_chips(self, chips: Sequence[RGBImage]) -> NDArray[np.float32]:
        if not chips:
            return np.zeros((0, self.dim), dtype=np.float32)
        for chip in chips:
            if chip.shape != (self.chip_size, self.chip_size, 3):
                raise InvalidInput(f"expected {self.chip_size}x{self.chip_size} RGB chips, got {chip.shape}")
        out = []
        for start in range(0, len(chips), BATCH):
            batch = np.stack(chips[start : start + BATCH]).astype(np.float32).transpose(0, 3, 1, 2)
            out.append(self._session.run(None, {"input": np.ascontiguousarray(batch)})[0])
        return np.concatenate(out).astype(np.float32, copy=False)
