"""The FastAPI app: every route authenticates, checks a scope, and calls one library verb.

Inference verbs (detect, verify, search, enrol) run in :class:`InferencePool`'s worker
processes; the store's other verbs (subjects, consent, erase, audit, keys) are quick SQLite work
and run in the default thread pool of this process. Errors leave as
``{"error": {"code", "message"}}`` with a 4xx for every client mistake.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from .. import __version__
from ..config import Settings
from ..errors import FaceprintError, StoreUnavailable
from ..gallery import Gallery as Store
from ..gallery import open_store
from ..store import ApiKey
from ..store.gallery import default_store_path
from . import library_routes
from . import schemas as s
from .access import Service, require, service_of
from .bodies import images_and_params
from .guard import Guard, Metrics, RateLimiter, code_of, error_body, status_of
from .readiness import readiness
from .workers import InferencePool

__all__ = ["Service", "create_app"]

log = logging.getLogger("faceprint.service")
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": s.ErrorOut, "description": why}
    for status, why in {
        400: "bad input (invalid image, invalid value)",
        401: "no API key, or an unknown or revoked one",
        403: "the key lacks the route's scope",
        413: "body or image too large",
        415: "neither multipart/form-data nor application/json",
        422: "no face, several faces, or a malformed request",
        429: "rate limit of the key exceeded",
    }.items()
}


def create_app(
    settings: Settings | None = None,
    store_path: str | os.PathLike[str] | None = None,
    *,
    workers: int | None = None,
) -> FastAPI:
    """The service over the store at ``store_path`` (default: ``settings.store`` or the default path).

    ``workers`` inference processes (default: one per core). The store and the workers open when
    the app starts (ASGI lifespan) and close when it stops.
    """
    settings = settings or Settings.from_env()
    path = str(store_path or settings.store or default_store_path())
    count = workers or os.cpu_count() or 1
    metrics = Metrics()
    # One image at the byte limit, base64-encoded, plus room for the other fields.
    max_body = settings.max_bytes * 4 // 3 + 1024 * 1024

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(path, settings=settings, actor="service")
        pool = InferencePool(path, settings, count)
        sweeper: asyncio.Task[None] | None = None
        try:
            await pool.warm()
            shared = store.db if store.db.dialect == "postgres" else None  # one budget for every replica
            limiter = RateLimiter(settings.rate_limit, shared)
            app.state.service = Service(settings, store, pool, limiter, metrics)
            library_routes.start(app)  # warm the People page's first thumbnails
            sweeper = asyncio.create_task(_sweep_forever(store, settings.sweep_minutes))
            log.info("faceprint service ready: %d inference worker(s)", count)
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
            pool.close()
            store.close()

    app = FastAPI(
        title="faceprint",
        version=__version__,
        description="Self-hosted face recognition: detection, calibrated 1:1 verification and consented "
        "1:N search. Every route needs an API key (`Authorization: Bearer <key>`) with the route's scope.",
        lifespan=lifespan,
        responses=_ERRORS,
        docs_url=None,  # Swagger UI and ReDoc load scripts from a CDN: nothing outside the host
        redoc_url=None,
    )
    app.add_middleware(Guard, max_body=max_body, metrics=metrics)
    _handlers(app)
    _routes(app)
    app.include_router(library_routes.router)
    app.mount(
        "/admin", StaticFiles(directory=str(files("faceprint.service") / "static"), html=True), name="admin"
    )
    return app


# -- errors --------------------------------------------------------------------------------------


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(FaceprintError)
    async def faceprint_error(request: Request, exc: FaceprintError) -> JSONResponse:
        # The database is unreachable for now (PostgreSQL down or restarting): say when to retry.
        headers = {"Retry-After": "2"} if isinstance(exc, StoreUnavailable) else None
        return JSONResponse(error_body(exc.code, str(exc)), status_code=status_of(exc), headers=headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(code_of(exc), str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", _describe(exc.errors())), status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # the route's template, so that no subject name reaches the log
        route = getattr(request.scope.get("route"), "path_format", "?")
        log.error("unexpected %s on %s %s", type(exc).__name__, request.method, route)
        return JSONResponse(error_body("internal", "internal error"), status_code=500)


def _describe(errors: Any) -> str:
    """Validation errors as text: where and what, never the value sent (it may be an image)."""
    parts = []
    for err in list(errors)[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _sweep_forever(store: Store, minutes: int) -> None:
    """The retention sweep at start and every ``minutes`` (erasures are audited by the store)."""
    while minutes > 0:
        try:
            erased = await run_in_threadpool(store.sweep, actor="service:retention")
            if erased:
                log.info("retention sweep erased %d subject(s)", len(erased))  # counts only, never names
        except FaceprintError as exc:
            log.warning("retention sweep failed: %s", exc.code)
        await asyncio.sleep(minutes * 60)


async def _sync(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await run_in_threadpool(fn, *args, **kwargs)


# -- routes ----------------------------------------------------------------------------------------

SubjectName = Annotated[str, PathParam(min_length=1, max_length=200, description="the subject's name")]


def _routes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/admin/")

    @app.get("/v1/health", response_model=s.HealthOut, tags=["service"])
    async def health(request: Request) -> dict[str, Any]:
        """Liveness: no key needed, no data returned."""
        return {"status": "ok", "version": __version__, "workers": service_of(request).pool.workers}

    @app.get(
        "/v1/ready",
        response_model=s.ReadyOut,
        tags=["service"],
        responses={503: {"model": s.ReadyOut, "description": "not ready: a check failed"}},
    )
    async def ready(request: Request) -> JSONResponse:
        """Readiness: the database answers, the key file is there, the index is in step with the
        change feed. 503 (and the failing check) while any is not. No key needed, no data returned."""
        checks = await _sync(readiness, service_of(request).store)
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks},
            status_code=200 if ok else 503,
            headers={} if ok else {"retry-after": "1"},
        )

    @app.get(
        "/metrics",
        tags=["service"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}},
    )
    async def metrics(request: Request, key: Annotated[ApiKey, Depends(require("admin"))]) -> Response:
        """Prometheus metrics (requests, latency, queue, subjects): counts only, never biometric data."""
        service = service_of(request)
        service.metrics.subjects.set(await _sync(len, service.store))
        service.metrics.inference_busy.set(service.pool.busy)
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/key", response_model=s.KeyOut, tags=["service"])
    async def key_info(request: Request, key: Annotated[ApiKey, Depends(require(None))]) -> dict[str, Any]:
        """The calling key's name and scopes (the admin page's log-in check)."""
        return {"name": key.name, "key_id": key.key_id, "scopes": sorted(key.scopes)}

    @app.post(
        "/v1/detect", response_model=s.DetectOut, tags=["faces"], openapi_extra=s.request_body(s.DetectIn)
    )
    async def detect(request: Request, key: Annotated[ApiKey, Depends(require("detect"))]) -> dict[str, Any]:
        """Every face in the image: box, detector score, 5 landmarks; largest first."""
        _, images = await images_and_params(request, s.DetectIn)
        faces = await service_of(request).pool.detect(images["image"][0])
        return {"faces": [f.to_json() for f in faces]}

    @app.post(
        "/v1/verify", response_model=s.VerifyOut, tags=["faces"], openapi_extra=s.request_body(s.VerifyIn)
    )
    async def verify(request: Request, key: Annotated[ApiKey, Depends(require("verify"))]) -> dict[str, Any]:
        """Are the largest faces of images ``a`` and ``b`` the same person, at false match rate ``fmr``?

        ``face_a``/``face_b`` choose another face by its index in ``/v1/detect``'s list (0 = largest)."""
        params, images = await images_and_params(request, s.VerifyIn)
        match = await service_of(request).pool.verify(
            images["a"][0], images["b"][0], params.fmr, face_a=params.face_a, face_b=params.face_b
        )
        return match.to_json()

    @app.post(
        "/v1/search", response_model=s.SearchOut, tags=["gallery"], openapi_extra=s.request_body(s.SearchIn)
    )
    async def search(request: Request, key: Annotated[ApiKey, Depends(require("search"))]) -> dict[str, Any]:
        """Who is this? Subjects consented to ``purpose`` whose best template passes the threshold.

        By default at most ``fpir`` = 1% of strangers get a name (threshold at FMR = FPIR / subjects);
        ``fmr`` fixes the per-comparison rate instead. The answer says which threshold it used and
        why (``threshold``, ``rule``). The audit log records the key's name and the purpose.
        """
        params, images = await images_and_params(request, s.SearchIn)
        result = await service_of(request).pool.search(
            images["image"][0],
            purpose=params.purpose,
            actor=f"key:{key.name}",
            top_k=params.top_k,
            fmr=params.fmr,
            fpir=params.fpir,
            all_faces=params.all_faces,
        )
        return result.to_json()

    @app.get("/v1/subjects", response_model=s.SubjectsOut, tags=["gallery"])
    async def list_subjects(
        request: Request,
        key: Annotated[ApiKey, Depends(require("enroll"))],
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """The subjects with their consent and template counts, by name."""
        found = await _sync(service_of(request).store.subjects)
        return {"subjects": [x.to_json() for x in found[offset : offset + limit]], "total": len(found)}

    @app.post("/v1/subjects", response_model=s.SubjectOut, status_code=201, tags=["gallery"])
    async def create_subject(
        request: Request, body: s.CreateSubjectIn, key: Annotated[ApiKey, Depends(require("enroll"))]
    ) -> dict[str, Any]:
        """Record a subject and its consent (purpose, evidence, expiry); enrol faces next."""
        subject = await _sync(
            service_of(request).store.create_subject,
            body.subject,
            purpose=body.purpose,
            evidence=body.evidence,
            expires_at=body.expires_at,
            actor=f"key:{key.name}",
        )
        return subject.to_json()

    @app.get("/v1/subjects/{name:path}", response_model=s.SubjectOut, tags=["gallery"])
    async def show_subject(
        request: Request, name: SubjectName, key: Annotated[ApiKey, Depends(require("enroll"))]
    ) -> dict[str, Any]:
        """One subject with its consent and template count."""
        return (await _sync(service_of(request).store.subject, name)).to_json()

    @app.post(
        "/v1/subjects/{name:path}/faces",
        response_model=s.EnrollOut,
        tags=["gallery"],
        openapi_extra=s.request_body(s.EnrollIn),
    )
    async def enroll(
        request: Request, name: SubjectName, key: Annotated[ApiKey, Depends(require("enroll"))]
    ) -> dict[str, Any]:
        """Enrol the face of each photo into the subject, under its consent. All or nothing."""
        params, images = await images_and_params(request, s.EnrollIn)
        result = await service_of(request).pool.add_faces(
            name,
            images["images"],
            actor=f"key:{key.name}",
            largest_face=params.largest_face,
            masked_copies=params.masked_copies,
        )
        return {
            "subject": result.subject,
            "created": result.created,
            "added": result.added,
            "skipped": result.skipped,
        }

    @app.delete("/v1/subjects/{name:path}", response_model=s.EraseOut, tags=["gallery"])
    async def erase(
        request: Request,
        name: SubjectName,
        key: Annotated[ApiKey, Depends(require("erase"))],
        reason: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> dict[str, Any]:
        """Erase the subject: consent, templates, and their bytes on disk. The audit log keeps the fact."""
        result = await _sync(service_of(request).store.erase, name, actor=f"key:{key.name}", reason=reason)
        return {"subject": result.subject, "templates": result.templates, "wal_cleared": result.wal_cleared}

    @app.get("/v1/audit", response_model=s.AuditOut, tags=["gallery"])
    async def audit(
        request: Request,
        key: Annotated[ApiKey, Depends(require("audit"))],
        limit: Annotated[int, Query(ge=1, le=10000)] = 100,
        subject: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    ) -> dict[str, Any]:
        """The audit log, newest first: who did what, when, for which purpose (never biometric data)."""
        entries = await _sync(service_of(request).store.audit, limit=limit, subject=subject)
        return {"entries": [e.to_json() for e in entries]}
