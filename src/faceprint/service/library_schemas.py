"""Request and response bodies of the photo library routes (``/v1/library/...``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ErasedOut",
    "FaceOut",
    "FacesOut",
    "IndexIn",
    "JobOut",
    "MergeIn",
    "NameIn",
    "NotIn",
    "PeopleOut",
    "PersonOut",
    "PhotoOut",
    "PhotosOut",
    "SplitIn",
    "StatsOut",
]

#: Row ids: positive and within SQLite's and PostgreSQL's 64-bit integers.
Id = Annotated[int, Field(ge=1, le=2**62)]
FaceIds = Annotated[list[Id], Field(min_length=1, max_length=10_000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class IndexIn(_In):
    folder: Annotated[str, Field(min_length=1, max_length=4096, description="a folder the server reads")]


class NameIn(_In):
    name: Annotated[str, Field(min_length=1, max_length=200)]


class MergeIn(_In):
    other: Annotated[Id, Field(description="the person whose faces join this one; they are deleted")]


class SplitIn(_In):
    faces: FaceIds


class NotIn(_In):
    faces: FaceIds


class JobOut(_Out):
    id: int
    state: Literal["running", "done", "failed", "cancelled"]
    phase: Literal["indexing", "clustering", "finished"]
    total: int | None
    done: int
    seconds: float
    indexed: int | None
    faces: int | None
    failed: int | None
    people: int | None
    error: str | None


class StatsOut(_Out):
    photos: int
    paths: int
    faces: int
    people: int
    unassigned: int
    roots: list[str] = Field(description="the folders this server may index (faceprint serve --library)")


class PersonOut(_Out):
    id: int
    name: str | None
    faces: int
    photos: int
    pinned: bool
    cover: int | None = Field(default=None, description="the face id of their best-quality face")


class PeopleOut(_Out):
    people: list[PersonOut]
    total: int


class FaceOut(_Out):
    id: int
    photo_id: int
    box: list[float]
    quality: float
    reasons: list[str]
    person: int | None
    person_name: str | None


class FacesOut(_Out):
    faces: list[FaceOut]
    total: int


class PhotoOut(_Out):
    id: int
    width: int
    height: int
    faces: list[FaceOut]


class PhotosOut(_Out):
    photos: list[PhotoOut]
    total: int


class ErasedOut(_Out):
    person: int
    faces: int
