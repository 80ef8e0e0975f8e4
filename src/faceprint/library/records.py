"""What the photo library returns: frozen records of index and cluster runs, people and faces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..faces import Box
from ..ray_pool import NodeShare

__all__ = ["ClusterReport", "IndexFailure", "IndexReport", "LibraryFace", "Person"]


@dataclass(frozen=True)
class IndexFailure:
    """A file that could not be indexed (unreadable, corrupt, too large); the run went on."""

    path: str
    code: str
    message: str


@dataclass(frozen=True)
class IndexReport:
    """One ``Library.index`` run over a folder."""

    files: int  # image files found under the folder
    indexed: int  # photos decoded, detected and embedded in this run
    faces: int  # faces stored by this run
    unchanged: int  # files already indexed at the same path (same size and mtime): not even read
    known: int  # files whose content was already indexed (moved, renamed, duplicate): not decoded
    duplicates: int  # paths under the folder holding the same bytes as another path there (one photo)
    removed: int  # paths under the folder that are gone (their photos are dropped when no path is left)
    failures: tuple[IndexFailure, ...] = field(default_factory=tuple)
    seconds: float = 0.0
    #: On a Ray cluster (``index(..., ray=...)``): the photos each node analysed; else empty.
    nodes: tuple[NodeShare, ...] = ()

    @property
    def photos_per_second(self) -> float:
        return self.indexed / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "indexed": self.indexed,
            "faces": self.faces,
            "unchanged": self.unchanged,
            "known": self.known,
            "duplicates": self.duplicates,
            "removed": self.removed,
            "failed": len(self.failures),
            "failures": [{"path": f.path, "code": f.code, "message": f.message} for f in self.failures],
            "seconds": round(self.seconds, 3),
            "nodes": [n.to_json() for n in self.nodes],
        }


@dataclass(frozen=True)
class ClusterReport:
    """One ``Library.cluster`` run."""

    faces: int  # faces of the library's template model
    new_faces: int  # faces no earlier run had seen
    assigned: int  # faces given a person by this run
    people: int  # people after the run
    new_people: int  # people created by this run
    merged: int  # existing people merged into others
    unassigned: int  # faces in no person (yet)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "faces": self.faces,
            "new_faces": self.new_faces,
            "assigned": self.assigned,
            "people": self.people,
            "new_people": self.new_people,
            "merged": self.merged,
            "unassigned": self.unassigned,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Person:
    """A group of faces believed to be one person; ``pinned`` once the user named or edited it."""

    id: int
    name: str | None
    faces: int
    photos: int
    pinned: bool

    @property
    def label(self) -> str:
        return self.name or f"#{self.id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "faces": self.faces,
            "photos": self.photos,
            "pinned": self.pinned,
        }


@dataclass(frozen=True)
class LibraryFace:
    """One indexed face: where it is (photo paths, box), its quality and its person. No template."""

    id: int
    photo_id: int
    paths: tuple[str, ...]
    box: Box
    quality: float
    reasons: tuple[str, ...]
    person_id: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "photo_id": self.photo_id,
            "paths": list(self.paths),
            "box": self.box.as_list(),
            "quality": round(self.quality, 4),
            "reasons": list(self.reasons),
            "person": self.person_id,
        }
