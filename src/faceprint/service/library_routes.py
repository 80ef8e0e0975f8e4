"""The photo library over HTTP (``/v1/library/...``): each route a thin shell over a library verb.

Reads need the scope ``library:read``, changes ``library:write``; the corrections are audited by
the library with the key's name as the actor. The folder to index must lie under one of the
roots the server was started with (``faceprint serve --library FOLDER``): a key can never make
the server read photos elsewhere. Thumbnails are cut from the photo on disk on request (see
:mod:`faceprint.library.thumbnails`) and may be cached privately by the browser.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ..errors import FaceprintError, InvalidInput
from ..library import Library, browse
from ..library.thumbnails import Thumbnailer
from ..store import ApiKey
from . import library_schemas as s
from .access import Service, require
from .guard import Refusal
from .library_jobs import IndexJobs
from .schemas import ErrorOut

__all__ = ["router", "start"]

log = logging.getLogger("faceprint.service")

router = APIRouter(tags=["library"])
Reader = Annotated[ApiKey, Depends(require("library:read"))]
Writer = Annotated[ApiKey, Depends(require("library:write"))]
#: A thumbnail counts as a tenth of a request against the key's rate limit: a page of the grid
#: asks for 60 at once.
Viewer = Annotated[ApiKey, Depends(require("library:read", cost=0.1))]
PersonId = Annotated[int, PathParam(ge=1, le=2**62, description="the person's id")]
FaceId = Annotated[int, PathParam(ge=1, le=2**62, description="the face's id")]
PhotoId = Annotated[int, PathParam(ge=1, le=2**62, description="the photo's id")]
Offset = Annotated[int, Query(ge=0, le=2**40)]
_IMAGE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}, "description": "a JPEG"},
    404: {"model": ErrorOut, "description": "no such face or photo (erased)"},
    410: {"model": ErrorOut, "description": "the photo moved or changed since it was indexed"},
}
_CACHE = {"Cache-Control": "private, max-age=3600"}


@dataclass
class _State:
    """What the library routes of one app share: the indexing job and the thumbnail cache."""

    service: Service
    jobs: IndexJobs = field(default_factory=IndexJobs)
    thumbnails: Thumbnailer | None = None

    def library(self, key: ApiKey) -> Library:
        return Library(self.service.store, actor=f"key:{key.name}")


_lock = threading.Lock()
#: Cover thumbnails cut ahead, into the in-memory cache, at start and after each index job: the
#: first pages of the grid, in both orders, at the size the People page asks for.
WARM_PAGES = 2
WARM_SIZE = 160


def start(app: FastAPI) -> None:
    """At the service's start: cut the grid's first cover thumbnails in the background."""
    state = _state_of(app.state)
    _warm_later(state)


def _warm_later(state: _State) -> None:
    threading.Thread(target=_warm, args=(state,), daemon=True, name="warm-covers").start()


def _warm(state: _State) -> None:
    thumbs = state.thumbnails
    if thumbs is None:
        return
    try:
        lib = Library(state.service.store, actor="service")
        for unnamed in ("last", "first"):
            cards, _ = browse.people_page(lib, limit=WARM_PAGES * 60, unnamed=unnamed)
            for card in cards:
                if card.cover is not None:
                    with contextlib.suppress(FaceprintError):
                        thumbs.face(browse.face_source(lib, card.cover), WARM_SIZE)
    except Exception as exc:  # the store closed under it (shutdown), or it failed: only speed is lost
        log.info("cover thumbnails not warmed: %s", type(exc).__name__)


def _state(request: Request) -> _State:
    return _state_of(request.app.state)


def _state_of(app_state: Any) -> _State:
    with _lock:
        state: _State | None = getattr(app_state, "library", None)
        service: Service = app_state.service
        if state is None or state.service is not service:
            state = _State(service, thumbnails=Thumbnailer(service.settings))
            app_state.library = state
    return state


def _roots(service: Service) -> list[Path]:
    return [Path(r).resolve() for r in service.settings.library_roots.split(os.pathsep) if r.strip()]


def _folder(service: Service, text: str) -> Path:
    roots = _roots(service)
    if not roots:
        raise Refusal(403, "this server indexes no folder: start it with `faceprint serve --library FOLDER`")
    if "\x00" in text or any(ord(c) < 32 for c in text):
        raise InvalidInput("the folder must be a path of printable characters")
    path = Path(text)
    try:
        resolved = (path if path.is_absolute() else roots[0] / path).resolve()
    except (OSError, RuntimeError, ValueError):
        raise InvalidInput("the folder cannot be resolved") from None
    if not any(resolved == r or resolved.is_relative_to(r) for r in roots):
        raise Refusal(403, "the folder is not under a library folder this server was started with")
    if not resolved.is_dir():
        raise InvalidInput("not a folder")
    return resolved


# -- the page --------------------------------------------------------------------------------------


@router.get("/people", include_in_schema=False)
async def people_page_redirect() -> RedirectResponse:
    return RedirectResponse("/admin/people.html")


# -- indexing --------------------------------------------------------------------------------------


@router.post("/v1/library/index", response_model=s.JobOut, status_code=202)
async def start_index(request: Request, body: s.IndexIn, key: Writer) -> dict[str, Any]:
    """Index a folder under the server's library folders, then group the faces into people: a
    background job (one at a time). Follow it with ``GET /v1/library/index``."""
    state = _state(request)
    folder = await run_in_threadpool(_folder, state.service, body.folder)
    job = state.jobs.start(
        lambda: state.library(key),
        folder,
        workers=state.service.pool.workers,
        done=lambda: _warm_later(state),
    )
    return job.to_json()


@router.get("/v1/library/index", response_model=s.JobOut)
async def index_status(request: Request, key: Reader) -> dict[str, Any]:
    """The latest index job: state, files done of total, and its counts once finished."""
    job = _state(request).jobs.latest
    if job is None:
        raise Refusal(404, "no index job has run since the server started")
    return job.to_json()


@router.delete("/v1/library/index", response_model=s.JobOut)
async def cancel_index(request: Request, key: Writer) -> dict[str, Any]:
    """Cancel the running index job (photos written so far stay; a later run resumes)."""
    job = _state(request).jobs.cancel()
    if job is None:
        raise Refusal(404, "no index job has run since the server started")
    return job.to_json()


@router.get("/v1/library/stats", response_model=s.StatsOut)
async def stats(request: Request, key: Reader) -> dict[str, Any]:
    """Counts: photos, paths, faces, people, unassigned faces; and the folders the server may index."""
    state = _state(request)
    counts = await run_in_threadpool(state.library(key).stats)
    return {**counts, "roots": [str(r) for r in _roots(state.service)]}


# -- people ------------------------------------------------------------------------------------------


@router.get("/v1/library/people", response_model=s.PeopleOut)
async def people(
    request: Request,
    key: Reader,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=browse.MAX_PAGE)] = 60,
    unnamed: Literal["first", "last"] = "last",
) -> dict[str, Any]:
    """People, most faces first (the unnamed ones first or last), each with a cover face id."""
    lib = _state(request).library(key)
    cards, total = await run_in_threadpool(
        browse.people_page, lib, offset=offset, limit=limit, unnamed=unnamed
    )
    return {"people": [c.to_json() for c in cards], "total": total}


@router.get("/v1/library/people/{person}", response_model=s.PersonOut)
async def person(request: Request, person: PersonId, key: Reader) -> dict[str, Any]:
    """One person: name, face and photo counts."""
    found = await run_in_threadpool(_state(request).library(key).person, person)
    return found.to_json()


@router.put("/v1/library/people/{person}/name", response_model=s.PersonOut)
async def name_person(request: Request, person: PersonId, body: s.NameIn, key: Writer) -> dict[str, Any]:
    """Name (or rename) the person; a named person is never merged with another named one."""
    found = await run_in_threadpool(_state(request).library(key).name, person, body.name)
    return found.to_json()


@router.post("/v1/library/people/{person}/merge", response_model=s.PersonOut)
async def merge_people(request: Request, person: PersonId, body: s.MergeIn, key: Writer) -> dict[str, Any]:
    """``other``'s faces become this person's; ``other`` is deleted."""
    found = await run_in_threadpool(_state(request).library(key).merge, person, body.other)
    return found.to_json()


@router.post("/v1/library/people/{person}/split", response_model=s.PersonOut)
async def split_person(request: Request, person: PersonId, body: s.SplitIn, key: Writer) -> dict[str, Any]:
    """Move these faces of the person into a new person (returned); the two stay apart."""
    found = await run_in_threadpool(_state(request).library(key).split, person, body.faces)
    return found.to_json()


@router.post("/v1/library/people/{person}/not", response_model=s.FacesOut)
async def not_person(request: Request, person: PersonId, body: s.NotIn, key: Writer) -> dict[str, Any]:
    """These faces are not this person: they leave them and no later run puts them back."""
    lib = _state(request).library(key)

    def run() -> list[dict[str, Any]]:
        lib.person(person)  # 404 before anything changes
        for face in body.faces:
            lib.not_(face, person)
        return [_face_json(lib, f) for f in body.faces]

    faces = await run_in_threadpool(run)
    return {"faces": faces, "total": len(faces)}


def _face_json(lib: Library, face_id: int) -> dict[str, Any]:
    src = browse.face_source(lib, face_id)
    card = browse.photo(lib, src.photo_id)
    return next(f.to_json() for f in card.faces if f.id == face_id)


@router.delete("/v1/library/people/{person}", response_model=s.ErasedOut)
async def erase_person(request: Request, person: PersonId, key: Writer) -> dict[str, Any]:
    """Erase the person: their faces (templates, boxes) and record, with no bytes left behind."""
    state = _state(request)
    count = await run_in_threadpool(state.library(key).erase, person)
    if state.thumbnails is not None:
        state.thumbnails.forget()  # no cut of an erased face stays in memory
    return {"person": person, "faces": count}


@router.get("/v1/library/people/{person}/faces", response_model=s.FacesOut)
async def person_faces(
    request: Request,
    person: PersonId,
    key: Reader,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=browse.MAX_PAGE)] = 100,
) -> dict[str, Any]:
    """The person's faces, best quality first."""
    lib = _state(request).library(key)
    faces, total = await run_in_threadpool(browse.person_faces, lib, person, offset=offset, limit=limit)
    return {"faces": [f.to_json() for f in faces], "total": total}


@router.get("/v1/library/people/{person}/photos", response_model=s.PhotosOut)
async def person_photos(
    request: Request,
    person: PersonId,
    key: Reader,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=browse.MAX_PAGE)] = 50,
) -> dict[str, Any]:
    """The photos showing the person, each with every face in it."""
    lib = _state(request).library(key)
    photos, total = await run_in_threadpool(browse.person_photos, lib, person, offset=offset, limit=limit)
    return {"photos": [p.to_json() for p in photos], "total": total}


@router.get("/v1/library/review", response_model=s.FacesOut)
async def review(
    request: Request,
    key: Reader,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=browse.MAX_PAGE)] = 100,
) -> dict[str, Any]:
    """Faces to review: those in no person first, then low-quality faces (with a quality reason)."""
    lib = _state(request).library(key)
    faces, total = await run_in_threadpool(browse.review_page, lib, offset=offset, limit=limit)
    return {"faces": [f.to_json() for f in faces], "total": total}


# -- photos and thumbnails -------------------------------------------------------------------------


@router.get("/v1/library/photos/{photo}", response_model=s.PhotoOut)
async def photo(request: Request, photo: PhotoId, key: Reader) -> dict[str, Any]:
    """One photo's size and every face in it, boxed, with its person."""
    card = await run_in_threadpool(browse.photo, _state(request).library(key), photo)
    return card.to_json()


@router.get("/v1/library/faces/{face}/thumbnail", response_class=Response, responses=_IMAGE)
async def face_thumbnail(
    request: Request,
    face: FaceId,
    key: Viewer,
    size: Annotated[int, Query(ge=16, le=1024)] = 160,
) -> Response:
    """A square JPEG of the face, cut from its photo now (never stored)."""
    state = _state(request)
    lib = state.library(key)
    assert state.thumbnails is not None
    thumbs = state.thumbnails

    def cut() -> bytes:
        return thumbs.face(browse.face_source(lib, face), size)

    return Response(await run_in_threadpool(cut), media_type="image/jpeg", headers=_CACHE)


@router.get("/v1/library/photos/{photo}/preview", response_class=Response, responses=_IMAGE)
async def photo_preview(
    request: Request,
    photo: PhotoId,
    key: Viewer,
    size: Annotated[int, Query(ge=64, le=4096)] = 1280,
) -> Response:
    """The photo as a JPEG whose longer side is at most ``size`` (EXIF orientation applied)."""
    state = _state(request)
    lib = state.library(key)
    assert state.thumbnails is not None
    thumbs = state.thumbnails

    def cut() -> bytes:
        return thumbs.preview(browse.photo_source(lib, photo), size)

    return Response(await run_in_threadpool(cut), media_type="image/jpeg", headers=_CACHE)
