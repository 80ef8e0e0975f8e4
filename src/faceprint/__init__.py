"""faceprint: self-hosted, privacy-first face recognition.

>>> import faceprint
>>> engine = faceprint.Engine()
>>> match = engine.verify("a.jpg", "b.jpg", fmr=1e-3)   # doctest: +SKIP
>>> match.is_match, match.similarity, match.fmr          # doctest: +SKIP

``import faceprint`` loads only the error types; every other name is imported on first use, so a
program that embeds faces never loads the vector index, the web framework or a plotting library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    ConsentRequired,
    FaceprintError,
    ImageTooLarge,
    InvalidImage,
    InvalidInput,
    ManyFaces,
    ModelError,
    NoFace,
    NotFound,
    StoreError,
)

if TYPE_CHECKING:
    from .calibrate import Calibration
    from .config import Settings
    from .engine import Engine
    from .faces import Box, Face, Template
    from .imageio import Photo, load_image
    from .library import Library, open_library
    from .match import Match
    from .store import Store, open_store

#: Where each lazily imported name lives.
_LAZY = {
    "Box": "faces",
    "Calibration": "calibrate",
    "Engine": "engine",
    "Face": "faces",
    "Library": "library",
    "Match": "match",
    "Photo": "imageio",
    "Settings": "config",
    "Store": "store",
    "Template": "faces",
    "load_image": "imageio",
    "open_library": "library",
    "open_store": "store",
}

__all__ = [
    "Box",
    "Calibration",
    "ConsentRequired",
    "Engine",
    "Face",
    "FaceprintError",
    "ImageTooLarge",
    "InvalidImage",
    "InvalidInput",
    "Library",
    "ManyFaces",
    "Match",
    "ModelError",
    "NoFace",
    "NotFound",
    "Photo",
    "Settings",
    "Store",
    "StoreError",
    "Template",
    "load_image",
    "open_library",
    "open_store",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'faceprint' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
