"""faceprint: self-hosted, privacy-first face recognition.

>>> import faceprint
>>> engine = faceprint.Engine()
>>> match = engine.verify("a.jpg", "b.jpg", fmr=1e-3)   # doctest: +SKIP
>>> match.is_match, match.similarity, match.fmr          # doctest: +SKIP
"""

from .calibrate import Calibration
from .config import Settings
from .engine import Engine
from .errors import FaceprintError, ImageTooLarge, InvalidImage, InvalidInput, ModelError, NoFace
from .faces import Box, Face, Template
from .imageio import load_image
from .match import Match

__all__ = [
    "Box",
    "Calibration",
    "Engine",
    "Face",
    "FaceprintError",
    "ImageTooLarge",
    "InvalidImage",
    "InvalidInput",
    "Match",
    "ModelError",
    "NoFace",
    "Settings",
    "Template",
    "load_image",
]

__version__ = "0.1.0"
