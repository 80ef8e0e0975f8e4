"""An operator's ONNX recogniser on onnxruntime, run exactly as its manifest states.

Chips are cut by the manifest's alignment (:meth:`OnnxRecogniser.cut`: dlib's get_face_chip for
``"template": "dlib"``, else :func:`faceprint.align_template.template_chip`), put in its colour
order and layout, normalised ``(pixel - mean) / std`` and embedded in batches. The graph's input
and output shapes are checked against the manifest when it loads; an output that is not finite
is a :class:`~faceprint.errors.ModelError`, never a template.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..align import face_chip
from ..align_template import KEYPOINTS, landmark_points, template_chip
from ..errors import InvalidInput, ModelError
from ..imageio import RGBImage
from ..samples import sample_photo
from .manifest import names
from .onnx_graph import file_sha256, open_session
from .operator import OperatorManifest, read_manifest, registered

__all__ = ["OnnxRecogniser", "astronaut_chip", "output_hash", "register"]

BATCH = 32


def _fixed(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


class OnnxRecogniser:
    """An operator's recogniser: aligned chips in (as its manifest states), ``dim`` floats out."""

    #: Whether an engine mirror-averages its templates unless told (:attr:`faceprint.Engine.mirror`).
    mirror_default: bool = True

    def __init__(self, manifest: OperatorManifest, path: Path | None = None, *, threads: int = 0) -> None:
        self.manifest = manifest
        self.model_id = manifest.model_id
        self.dim = manifest.dim
        self.chip_size = manifest.width
        a = manifest.alignment
        self.keypoints_needed = tuple(n for n in a.landmarks if n in KEYPOINTS)
        #: dlib's padding when the chip is dlib's get_face_chip (:meth:`cut`), else None
        self.chip_padding: float | None = a.padding if a.method == "dlib" else None
        path = path or manifest.onnx_path
        if not path.is_file():
            raise ModelError(
                f"model file {path} not found; register the model again with 'faceprint models add'"
            )
        if manifest.directory is not None and file_sha256(path) != manifest.sha256:
            raise ModelError(
                f"{path} does not have the SHA-256 its manifest states; register the model again"
            )
        try:
            self._session: Any = open_session(path, threads)
        except ModelError as exc:
            raise ModelError(f"model {manifest.name!r}: {exc}") from None
        self._input, self._output, self._batch = self._check_graph()

    def _check_graph(self) -> tuple[str, str, int | None]:
        m = self.manifest
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        inp = next((i for i in inputs if i.name == m.input_name), None) if m.input_name else inputs[0]
        out = next((o for o in outputs if o.name == m.output_name), None) if m.output_name else outputs[0]
        if inp is None or out is None or (not m.input_name and len(inputs) != 1):
            raise ModelError(
                f"model {m.name!r}: the manifest must name the graph's input and output "
                f"(inputs: {[i.name for i in inputs]}, outputs: {[o.name for o in outputs]})"
            )
        shape = list(inp.shape)
        want = [3, m.height, m.width] if m.layout == "NCHW" else [m.height, m.width, 3]
        if len(shape) != 4 or any(_fixed(s) not in (None, w) for s, w in zip(shape[1:], want, strict=True)):
            raise ModelError(
                f"model {m.name!r}: the graph's input {inp.name!r} has shape {shape}, but the manifest "
                f"states {m.layout} {m.width}x{m.height} RGB chips ({['batch', *want]})"
            )
        out_shape = list(out.shape)
        if len(out_shape) != 2 or _fixed(out_shape[1]) not in (None, m.dim):
            raise ModelError(
                f"model {m.name!r}: the graph's output {out.name!r} has shape {out_shape}, "
                f"but the manifest states {m.dim} values per face"
            )
        return inp.name, out.name, _fixed(shape[0])

    def cut(self, image: RGBImage, points5: NDArray[np.float64]) -> RGBImage:
        """The model's chip of the face whose 5 predictor points are ``points5``."""
        a, m = self.manifest.alignment, self.manifest
        if a.method == "dlib":
            return face_chip(image, points5, size=m.width, padding=a.padding)
        pts = landmark_points(points5, a.landmarks)
        return template_chip(image, pts, np.array(a.points), width=m.width, height=m.height)

    def embed_chips(self, chips: Sequence[RGBImage]) -> NDArray[np.float32]:
        m = self.manifest
        if not chips:
            return np.zeros((0, self.dim), dtype=np.float32)
        for chip in chips:
            if chip.shape != (m.height, m.width, 3):
                raise InvalidInput(f"expected {m.width}x{m.height} RGB chips, got {chip.shape}")
        mean = np.array(m.mean, dtype=np.float32)
        std = np.array(m.std, dtype=np.float32)
        step = self._batch or BATCH
        out = []
        for start in range(0, len(chips), step):
            batch = np.stack(chips[start : start + step]).astype(np.float32)
            if m.colour == "BGR":
                batch = batch[..., ::-1]
            batch = (batch - mean) / std
            if m.layout == "NCHW":
                batch = batch.transpose(0, 3, 1, 2)
            try:
                result = self._session.run([self._output], {self._input: np.ascontiguousarray(batch)})[0]
            except Exception as exc:
                raise ModelError(f"model {m.name!r} failed on a batch of chips: {exc}") from None
            out.append(np.asarray(result, dtype=np.float32).reshape(len(batch), -1))
        vectors = np.concatenate(out)
        if vectors.shape != (len(chips), self.dim):
            raise ModelError(f"model {m.name!r} gave outputs of shape {vectors.shape[1:]}, not ({self.dim},)")
        if not np.all(np.isfinite(vectors)):
            raise ModelError(f"model {m.name!r} produced NaN or infinite values: it is not usable")
        if np.any(np.linalg.norm(vectors, axis=1) == 0):
            raise ModelError(f"model {m.name!r} produced an all-zero vector: it is not usable")
        return vectors

    def self_test(self) -> NDArray[np.float32]:
        """One embedding of a real photo (the astronaut of :mod:`faceprint.samples`, centre crop)
        through the model."""
        return self.embed_chips([astronaut_chip(self.manifest.width, self.manifest.height)])


def astronaut_chip(width: int, height: int) -> RGBImage:
    """The astronaut photo (:mod:`faceprint.samples`), its face region resized to ``width`` x ``height``."""
    from PIL import Image

    image = sample_photo("astronaut")
    face = Image.fromarray(image[20:240, 140:320]).resize((width, height), Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(face, dtype=np.uint8))


def output_hash(vector: NDArray[np.float32]) -> str:
    """A short hash of a unit-length template, rounded to 3 decimals (stable across CPUs)."""
    unit = np.asarray(vector, dtype=np.float64) / float(np.linalg.norm(vector))
    rounded = np.round(unit, 3) + 0.0  # + 0.0 turns -0.0 into 0.0
    return hashlib.sha256(rounded.astype("<f8").tobytes()).hexdigest()[:16]


def register(onnx_file: Path, manifest_file: Path, directory: Path) -> OperatorManifest:
    """Check ``onnx_file`` against ``manifest_file`` (hash, input size, output, finite values on a
    real face chip) and copy both into ``directory/<name>/``, atomically. Nothing is written
    unless every check passes."""
    m = read_manifest(manifest_file)
    if m.name in names("recogniser"):
        raise ModelError(f"{m.name!r} is the name of a shipped recogniser; choose another name")
    if not onnx_file.is_file():
        raise ModelError(f"model file {onnx_file} not found")
    digest = file_sha256(onnx_file)
    if digest != m.sha256:
        raise ModelError(f"{onnx_file.name} has SHA-256 {digest}, not the {m.sha256} its manifest states")
    target = directory / m.name
    if target.exists():
        raise ModelError(f"a model called {m.name!r} is already registered in {directory}")
    OnnxRecogniser(m, onnx_file, threads=1).self_test()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{m.name}.", dir=directory))
        try:
            shutil.copyfile(onnx_file, staging / "model.onnx")
            (staging / "manifest.json").write_text(json.dumps(m.to_json(), indent=1) + "\n", encoding="utf-8")
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    except OSError as exc:
        raise ModelError(f"cannot write to the models directory {directory}: {exc.strerror or exc}") from None
    return registered(m, target)
