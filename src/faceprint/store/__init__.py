"""The gallery store: consented subjects, templates, 1:N search, audit; SQLite by default."""

from .gallery import Probe, Store, default_store_path, open_store
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
    "open_store",
]
