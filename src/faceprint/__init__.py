"""faceprint: self-hosted, privacy-first face recognition.

>>> import faceprint
>>> engine = faceprint.Engine()
>>> match = engine.verify("a.jpg", "b.jpg", fmr=1e-3)   # doctest: +SKIP
>>> match.is_match, match.similarity, match.fmr          # doctest: +SKIP
"""

from .calibrate import Calibration
from .config import Settings
from .engine import Engine
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
from .faces import Box, Face, Template
from .imageio import Photo, load_image
from .library import Library, open_library
from .match import Match
from .store import Store, open_store

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
