"""Operator-supplied recognisers: an ONNX file and a manifest that states every fact about it.

The models directory (``Settings.models_dir``, default ``$XDG_DATA_HOME/faceprint/models``) holds
one folder per registered model: ``model.onnx``, ``manifest.json`` and, once measured on the
operator's own photos, ``calibration-<model id>.json``. Nothing about a model is guessed from its
graph: the manifest names the input size, colour order, layout, mean/std, the alignment
(reference points and the landmarks they stand for), the output dimension, the licence and the
source; the graph is only checked against it. See docs/models.md for the schema.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from ..align_template import KEYPOINTS, LANDMARKS
from ..errors import ModelError

if TYPE_CHECKING:
    from ..calibrate import Calibration
    from ..config import Settings

__all__ = [
    "Alignment",
    "OperatorManifest",
    "calibration_path",
    "models_dir",
    "operator_manifest",
    "operator_models",
    "parse_manifest",
    "read_manifest",
    "recogniser_calibration",
    "registered",
    "save_calibration",
    "templates_calibration",
]

#: dlib's mean face for its 5 points (``get_face_chip_details``), in the unit square.
DLIB_MEAN_FACE: Final = (
    (0.8595674595992, 0.2134981538014),
    (0.6460604764104, 0.2289674387677),
    (0.1205750620789, 0.2137274526848),
    (0.3340850613712, 0.2290642403242),
    (0.4901123135679, 0.6277975316475),
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_KEYS: Final = {
    "name",
    "role",
    "model_id",
    "summary",
    "licence",
    "source",
    "sha256",
    "input",
    "output",
    "alignment",
}
#: Model ids of the shipped recognisers: an operator's model never shares their template space.
SHIPPED_IDS: Final = frozenset({"dlib-resnet-v1", "sface-2021dec"})


@dataclass(frozen=True)
class Alignment:
    """Where the chip's landmarks go: ``dlib`` (dlib's get_face_chip, bit-exact) or ``similarity``."""

    method: Literal["dlib", "similarity"]
    points: tuple[tuple[float, float], ...]  # chip pixels
    landmarks: tuple[str, ...]
    padding: float = 0.25  # dlib's only


@dataclass(frozen=True)
class OperatorManifest:
    """One operator model, as its manifest states it."""

    name: str
    model_id: str
    summary: str
    licence: str
    source: str
    sha256: str
    width: int
    height: int
    colour: Literal["RGB", "BGR"]
    layout: Literal["NCHW", "NHWC"]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_name: str | None
    output_name: str | None
    dim: int
    alignment: Alignment
    directory: Path | None = None  # where it is registered; None before ``register``

    @property
    def onnx_path(self) -> Path:
        if self.directory is None:
            raise ModelError(f"model {self.name!r} is not registered")
        return self.directory / "model.onnx"

    def to_json(self) -> dict[str, Any]:
        a = self.alignment
        alignment: dict[str, Any] = (
            {"template": "dlib", "padding": a.padding}
            if a.method == "dlib"
            else {"points": [list(p) for p in a.points], "landmarks": list(a.landmarks)}
        )
        return {
            "name": self.name,
            "role": "recogniser",
            "model_id": self.model_id,
            "summary": self.summary,
            "licence": self.licence,
            "source": self.source,
            "sha256": self.sha256,
            "input": {
                "width": self.width,
                "height": self.height,
                "colour": self.colour,
                "layout": self.layout,
                "mean": list(self.mean),
                "std": list(self.std),
                **({"name": self.input_name} if self.input_name else {}),
            },
            "output": {"dim": self.dim, **({"name": self.output_name} if self.output_name else {})},
            "alignment": alignment,
        }


def models_dir(setting: str = "") -> Path:
    """The models directory: the setting, else ``$XDG_DATA_HOME/faceprint/models``."""
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "faceprint" / "models"


def _bad(where: str, message: str) -> ModelError:
    return ModelError(f"malformed manifest {where}: {message}")


def _text(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _bad(where, f"{key!r} must be a non-empty string")
    return value


def _number(raw: dict[str, Any], key: str, where: str, *, positive: bool = False) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(where, f"{key!r} must be a number")
    if positive and value <= 0:
        raise _bad(where, f"{key!r} must be positive")
    return float(value)


def _size(raw: dict[str, Any], key: str, where: str) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 16 <= value <= 1024:
        raise _bad(where, f"{key!r} must be a whole number of pixels between 16 and 1024")
    return value


def _triple(
    raw: dict[str, Any], key: str, where: str, *, positive: bool = False
) -> tuple[float, float, float]:
    value = raw.get(key)
    if not isinstance(value, list) or len(value) != 3:
        raise _bad(where, f"input {key!r} must be a list of 3 numbers (one per channel)")
    nums = tuple(_number({"v": v}, "v", where, positive=positive) for v in value)
    return (nums[0], nums[1], nums[2])


def _choice(raw: dict[str, Any], key: str, options: tuple[str, ...], where: str) -> str:
    value = raw.get(key)
    if value not in options:
        raise _bad(where, f"input {key!r} must be one of {', '.join(options)}, not {value!r}")
    return str(value)


def _alignment(raw: Any, width: int, height: int, where: str) -> Alignment:
    if not isinstance(raw, dict):
        raise _bad(where, "'alignment' must be an object")
    template = raw.get("template")
    if template == "dlib":
        if width != height:
            raise _bad(where, "dlib's alignment cuts square chips: input width and height must be equal")
        padding = _number(raw, "padding", where) if "padding" in raw else 0.25
        if not 0 <= padding <= 1:
            raise _bad(where, "dlib's alignment 'padding' must be between 0 and 1")
        points = tuple(
            (
                float((padding + x) / (2 * padding + 1) * width),
                float((padding + y) / (2 * padding + 1) * width),
            )
            for x, y in DLIB_MEAN_FACE
        )
        return Alignment("dlib", points, LANDMARKS[:5], padding)
    if template is not None:
        raise _bad(
            where, f"alignment 'template' must be 'dlib' (or give 'points' and 'landmarks'), not {template!r}"
        )
    points_raw, names = raw.get("points"), raw.get("landmarks")
    if not isinstance(points_raw, list) or not isinstance(names, list) or len(points_raw) != len(names):
        raise _bad(
            where,
            "alignment needs 'points' (chip pixels) and 'landmarks' (their names), lists of equal length",
        )
    if len(names) < 2:
        raise _bad(where, "alignment needs at least 2 reference points")
    for n in names:
        if n not in LANDMARKS + KEYPOINTS:
            raise _bad(
                where,
                f"faceprint does not place a landmark called {n!r}; it places: {', '.join(LANDMARKS)}; "
                f"and on faces BlazeFace finds: {', '.join(KEYPOINTS)}",
            )
    if len(set(names)) != len(names):
        raise _bad(where, "alignment 'landmarks' must not repeat")
    chip_points: list[tuple[float, float]] = []
    for p in points_raw:
        if not isinstance(p, list) or len(p) != 2:
            raise _bad(where, "each alignment point must be [x, y] in chip pixels")
        x, y = (_number({"v": v}, "v", where) for v in p)
        if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
            raise _bad(where, f"alignment point {p} lies outside the {width}x{height} chip")
        chip_points.append((x, y))
    return Alignment("similarity", tuple(chip_points), tuple(str(n) for n in names))


def parse_manifest(raw: Any, where: str = "") -> OperatorManifest:
    """Validate a manifest (parsed JSON); :class:`ModelError` naming what is wrong."""
    where = where or "(manifest)"
    if not isinstance(raw, dict):
        raise _bad(where, "it must be a JSON object")
    unknown = set(raw) - _KEYS
    if unknown:
        raise _bad(where, f"unknown fields {sorted(unknown)}")
    name = _text(raw, "name", where)
    if not _NAME.match(name):
        raise _bad(where, "'name' must be 1-64 lower-case letters, digits, '.', '_' or '-'")
    if raw.get("role", "recogniser") != "recogniser":
        raise _bad(where, "only recognisers can be added ('role': 'recogniser')")
    model_id = _text(raw, "model_id", where)
    if model_id in SHIPPED_IDS or model_id.endswith("+mirror"):
        raise _bad(where, f"'model_id' {model_id!r} is reserved (a shipped model's, or ends in '+mirror')")
    sha = _text(raw, "sha256", where).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise _bad(where, "'sha256' must be the 64 hex digits of the ONNX file's SHA-256")
    inp, out = raw.get("input"), raw.get("output")
    if not isinstance(inp, dict) or not isinstance(out, dict):
        raise _bad(where, "'input' and 'output' must be objects")
    width, height = _size(inp, "width", where), _size(inp, "height", where)
    dim = out.get("dim")
    if isinstance(dim, bool) or not isinstance(dim, int) or not 2 <= dim <= 4096:
        raise _bad(where, "output 'dim' must be a whole number between 2 and 4096")
    names = {k: v for k, v in (("input", inp.get("name")), ("output", out.get("name"))) if v is not None}
    for k, v in names.items():
        if not isinstance(v, str) or not v:
            raise _bad(where, f"{k} 'name' must be a non-empty string")
    return OperatorManifest(
        name=name,
        model_id=model_id,
        summary=str(raw.get("summary", "")),
        licence=_text(raw, "licence", where),
        source=_text(raw, "source", where),
        sha256=sha,
        width=width,
        height=height,
        colour=_choice(inp, "colour", ("RGB", "BGR"), where),  # type: ignore[arg-type]
        layout=_choice(inp, "layout", ("NCHW", "NHWC"), where),  # type: ignore[arg-type]
        mean=_triple(inp, "mean", where),
        std=_triple(inp, "std", where, positive=True),
        input_name=names.get("input"),
        output_name=names.get("output"),
        dim=dim,
        alignment=_alignment(raw.get("alignment"), width, height, where),
    )


def read_manifest(path: Path) -> OperatorManifest:
    """The manifest in the JSON file ``path``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"manifest {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read manifest {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise _bad(str(path), f"not JSON ({exc})") from None
    return parse_manifest(raw, str(path))


def operator_models(directory: Path) -> dict[str, OperatorManifest]:
    """Every model registered in ``directory``, by name (an unreadable one raises)."""
    out: dict[str, OperatorManifest] = {}
    if not directory.is_dir():
        return out
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith(".") or not (entry / "manifest.json").is_file():
            continue
        m = read_manifest(entry / "manifest.json")
        out[m.name] = registered(m, entry)
    return out


def registered(m: OperatorManifest, directory: Path) -> OperatorManifest:
    """``m`` as registered in ``directory``."""
    return replace(m, directory=directory)


def operator_manifest(directory: Path, name: str) -> OperatorManifest:
    """The registered model ``name``; :class:`ModelError` naming the registered ones otherwise."""
    entry = directory / name
    if not _NAME.match(name) or not (entry / "manifest.json").is_file():
        known = ", ".join(operator_models(directory)) or "none"
        raise ModelError(
            f"no recogniser {name!r} in {directory} (registered: {known}); add it with 'faceprint models add'"
        )
    return registered(read_manifest(entry / "manifest.json"), entry)


# -- the engine's view: which recogniser, and its calibration --------------------------------


def calibration_path(m: OperatorManifest, model_id: str) -> Path:
    """Where the table of ``model_id`` (the model's id, maybe ``+mirror``) is stored with the model."""
    if m.directory is None:
        raise ModelError(f"model {m.name!r} is not registered")
    return m.directory / f"calibration-{model_id}.json"


def recogniser_calibration(settings: Settings, model_id: str) -> Calibration:
    """The score <-> FMR table of the templates ``model_id``: shipped, or stored with the operator's model."""
    from ..calibrate import Calibration, load_calibration
    from .manifest import names

    if not settings.recogniser or settings.recogniser in names("recogniser"):  # a shipped one
        return load_calibration(model_id)
    m = operator_manifest(models_dir(settings.models_dir), settings.recogniser)
    path = calibration_path(m, model_id)
    if not path.is_file():
        raise ModelError(
            f"model {m.name!r} has no calibration table for {model_id!r} templates, so no decision at "
            f"an FMR can be made; measure one on your own labelled photos with "
            f"'faceprint calibrate DIR --model {m.name}' (raw similarity: Engine.similarity)"
        )
    try:
        return Calibration.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read the calibration table {path}: {exc}") from None


def templates_calibration(settings: Settings, model_id: str) -> Calibration:
    """The table of ``model_id`` templates whichever recogniser is set: shipped, else the one stored
    with the registered operator's model that makes them (a store migrated to it: docs/models.md)."""
    from ..calibrate import load_calibration

    try:
        return load_calibration(model_id)
    except ModelError:
        for m in operator_models(models_dir(settings.models_dir)).values():
            if calibration_path(m, model_id).is_file():
                return recogniser_calibration(replace(settings, recogniser=m.name), model_id)
        raise


def save_calibration(m: OperatorManifest, table: Calibration) -> Path:
    """Store ``table`` with model ``m`` (atomically; replaces an older table of the same id)."""
    path = calibration_path(m, table.model)
    fd, tmp = tempfile.mkstemp(prefix=".calibration.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(table.to_json(), indent=1) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
