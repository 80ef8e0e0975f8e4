"""The one exception hierarchy of faceprint.

Every error that faceprint raises on purpose is a :class:`FaceprintError`. Third-party errors
(Pillow, dlib, OS) are translated where they enter, so callers catch one base class; the CLI
turns these into a one-line message and exit status 2.
"""

from __future__ import annotations

__all__ = [
    "FaceprintError",
    "ImageTooLarge",
    "InvalidImage",
    "InvalidInput",
    "ModelError",
    "NoFace",
]


class FaceprintError(Exception):
    """Base class of every error faceprint raises on purpose."""

    #: A short, stable, machine-readable code (used by the CLI's JSON output and the service).
    code = "faceprint_error"


class InvalidInput(FaceprintError):
    """An argument has the wrong type, shape or value."""

    code = "invalid_input"


class InvalidImage(InvalidInput):
    """The bytes are not a decodable image (empty, truncated, wrong format, corrupt)."""

    code = "invalid_image"


class ImageTooLarge(InvalidImage):
    """The image exceeds the byte or pixel limit; rejected before its pixels are decoded."""

    code = "image_too_large"


class NoFace(FaceprintError):
    """No face was found where one was required."""

    code = "no_face"


class ModelError(FaceprintError):
    """A model file is missing, unreadable or of an unknown kind."""

    code = "model_error"
