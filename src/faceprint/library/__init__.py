"""Photo libraries: index a folder's faces, group them into people, incrementally, with corrections.

>>> import faceprint
>>> with faceprint.open_library("photos.db") as library:          # doctest: +SKIP
...     library.index("~/Pictures")
...     library.cluster()
...     library.people()

The names below import on first use: the store imports :mod:`faceprint.library.tables` (the
library's schema steps and re-sealer) whenever it opens, without the engine behind the library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .library import DEFAULT_PURPOSE, EXTENSIONS, Library, open_library
    from .records import ClusterReport, IndexFailure, IndexReport, LibraryFace, Person

#: Where each name lives.
_LAZY = {
    "DEFAULT_PURPOSE": "library",
    "EXTENSIONS": "library",
    "Library": "library",
    "open_library": "library",
    "ClusterReport": "records",
    "IndexFailure": "records",
    "IndexReport": "records",
    "LibraryFace": "records",
    "Person": "records",
}

__all__ = [
    "DEFAULT_PURPOSE",
    "EXTENSIONS",
    "ClusterReport",
    "IndexFailure",
    "IndexReport",
    "Library",
    "LibraryFace",
    "Person",
    "open_library",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
