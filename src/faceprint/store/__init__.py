"""The gallery store: consented subjects, templates, 1:N search, audit; SQLite by default."""

from .gallery import Probe, Store, default_store_path, open_store
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
    "open_store",
]
