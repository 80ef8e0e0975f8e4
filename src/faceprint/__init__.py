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
    from .gallery import Gallery, open_store
    from .gallery import Gallery as Store
    from .imageio import Photo, load_image
    from .library import Library, open_library
    from .match import Match

#: Where each lazily imported name lives.
_LAZY = {
    "Box": "faces",
    "Calibration": "calibrate",
    "Engine": "engine",
    "Face": "faces",
    "Gallery": "gallery",
    "Library": "library",
    "Match": "match",
    "Photo": "imageio",
    "Settings": "config",
    "Store": "gallery",
    "Template": "faces",
    "load_image": "imageio",
    "open_library": "library",
    "open_store": "gallery",
}

__all__ = [
    "Box",
    "Calibration",
    "ConsentRequired",
    "Engine",
    "Face",
    "FaceprintError",
    "Gallery",
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
    # ``Store``: the gallery with its engine (faceprint.store.Store is the template store beneath)
    value = getattr(importlib.import_module(f".{module}", __name__), "Gallery" if name == "Store" else name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
