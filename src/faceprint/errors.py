"""The one exception hierarchy of faceprint.

Every error that faceprint raises on purpose is a :class:`FaceprintError`. Third-party errors
(Pillow, dlib, OS) are translated where they enter, so callers catch one base class; the CLI
turns these into a one-line message and exit status 2.
"""

from __future__ import annotations

__all__ = [
    "ClusterUnavailable",
    "ConsentRequired",
    "FaceprintError",
    "ImageTooLarge",
    "InvalidImage",
    "InvalidInput",
    "ManyFaces",
    "MissingExtra",
    "ModelError",
    "NoFace",
    "NotFound",
    "StoreError",
    "StoreUnavailable",
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


class MissingExtra(FaceprintError):
    """An optional part of faceprint is needed that is not installed; the message names the extra
    that installs it (``pip install 'faceprint[server]'``, ``[plot]``, ``[postgres]``)."""

    code = "missing_extra"


class ManyFaces(InvalidInput):
    """Several faces were found where exactly one was required (enrolment is never a guess)."""

    code = "many_faces"


class ConsentRequired(FaceprintError):
    """The operation needs a consent record (a declared purpose) that is missing, different or expired."""

    code = "consent_required"


class NotFound(FaceprintError):
    """The named subject (or other record) does not exist."""

    code = "not_found"


class StoreError(FaceprintError):
    """The gallery store cannot be opened or used: locked, corrupt, newer than this code, wrong model."""

    code = "store_error"


class StoreUnavailable(StoreError):
    """The store's database server cannot be reached now (down, restarting, overloaded): try again.

    Nothing was written by the operation that raised it, unless its message says what was: a write
    committed in the database while a vector engine (Milvus) was down is applied to it from the
    change feed as soon as it is back, before any search is answered.
    """

    code = "store_unavailable"


class ClusterUnavailable(FaceprintError):
    """The compute cluster named for the work (a Ray address) cannot be used: nothing answers
    there, it refuses this client (token authentication), or it has no CPU. Nothing was written."""

    code = "cluster_unavailable"


class PhotoGone(NotFound):
    """The photo a face was found in has moved, changed or gone since it was indexed: re-index."""

    code = "photo_gone"
