"""Photo libraries: index a folder's faces, group them into people, incrementally, with corrections.

>>> import faceprint
>>> with faceprint.open_library("photos.db") as library:          # doctest: +SKIP
...     library.index("~/Pictures")
...     library.cluster()
...     library.people()
"""

from .library import DEFAULT_PURPOSE, EXTENSIONS, Library, open_library
from .records import ClusterReport, IndexFailure, IndexReport, LibraryFace, Person

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
