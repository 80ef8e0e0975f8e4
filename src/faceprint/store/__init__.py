"""The gallery store: consented subjects, templates, 1:N search, audit; SQLite by default.

The store takes templates and never runs a model; :func:`faceprint.open_store` opens one with the
engine in front (:class:`faceprint.gallery.Gallery`), to enrol and search images.
"""

from .gallery import Probe, Store, default_store_path
from .keys import SCOPES, ApiKey, ApiKeys
from .records import (
    AuditEntry,
    Consent,
    EnrollResult,
    EraseResult,
    FaceSearch,
    Sample,
    SearchResult,
    StoreCheck,
    Subject,
    SubjectMatch,
)

__all__ = [
    "SCOPES",
    "ApiKey",
    "ApiKeys",
    "AuditEntry",
    "Consent",
    "EnrollResult",
    "EraseResult",
    "FaceSearch",
    "Probe",
    "Sample",
    "SearchResult",
    "Store",
    "StoreCheck",
    "Subject",
    "SubjectMatch",
    "default_store_path",
]
