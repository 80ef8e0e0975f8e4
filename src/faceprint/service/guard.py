"""The HTTP boundary: error shape, body size limit, per-key rate limit, metrics and access log.

Nothing here sees an image or a template: the access log and the metrics name the route
template (``/v1/subjects/{name}``, never the name), the method, the status, the time taken and
the API key's name.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import FaceprintError
from ..store import rate_buckets
from ..store.database import Database

__all__ = ["Guard", "Metrics", "RateLimiter", "Refusal", "error_body", "status_of"]

log = logging.getLogger("faceprint.service")

#: FaceprintError.code -> HTTP status. Every client mistake is a 4xx; a store or model that
#: cannot work is the server's problem (503), never the client's.
_STATUS = {
    "invalid_input": 400,
    "invalid_image": 400,
    "image_too_large": 413,
    "many_faces": 422,
    "no_face": 422,
    "consent_required": 409,
    "not_found": 404,
    "photo_gone": 410,
    "job_running": 409,
    "store_error": 503,
    "store_unavailable": 503,
    "model_error": 503,
}

#: HTTP status -> error code, for refusals made by the HTTP layer itself.
_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    410: "gone",
}


def status_of(exc: FaceprintError) -> int:
    return _STATUS.get(exc.code, 400)


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class Refusal(HTTPException):
    """A refusal by the HTTP layer (no key, wrong scope, too fast, too large, wrong media type)."""

    def __init__(
        self, status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code or _CODES.get(status, "invalid_request")


def code_of(exc: HTTPException) -> str:
    return exc.code if isinstance(exc, Refusal) else _CODES.get(exc.status_code, "invalid_request")


class RateLimiter:
    """A token bucket per API key: ``per_minute`` requests a minute, bursts of a tenth of that.

    ``shared``: a PostgreSQL store's database holds the buckets (:mod:`faceprint.store.rate_buckets`),
    so every replica of the service draws on the same budget; else they live in this process.
    """

    def __init__(self, per_minute: int, shared: Database | None = None) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, per_minute / 10.0)
        self.shared = None if shared is None else rate_buckets.SharedBuckets(shared)
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, last refill)
        self._lock = threading.Lock()

    def take(self, key_id: str, cost: float = 1.0) -> float:
        """0 if a request (costing ``cost`` requests) may go now, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        if self.shared is not None:
            return self.shared.take(key_id, cost, self.rate, self.capacity)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= cost:
                self._buckets[key_id] = (tokens - cost, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (cost - tokens) / self.rate


class Metrics:
    """Prometheus metrics of one app (its own registry: several apps in one process stay apart)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "faceprint_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.seconds = Histogram(
            "faceprint_http_request_seconds",
            "HTTP request duration",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.inflight = Gauge("faceprint_http_inflight", "HTTP requests in progress", registry=self.registry)
        self.inference_busy = Gauge(
            "faceprint_inference_busy", "inference calls queued or running", registry=self.registry
        )
        self.subjects = Gauge("faceprint_subjects", "subjects in the store", registry=self.registry)


class _BodyTooLarge(Refusal):
    pass


class Guard:
    """Pure ASGI middleware around the app: body limit, security headers, metrics, access log.

    The body limit is enforced twice before anything is decoded: a ``Content-Length`` above it is
    refused before a byte is read, and a body without one (chunked) is cut off as soon as the
    bytes received pass it.
    """

    def __init__(self, app: ASGIApp, *, max_body: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        sent_start = False
        limit = self.max_body

        async def send_wrapper(message: Message) -> None:
            nonlocal status, sent_start
            if message["type"] == "http.response.start":
                status = int(message["status"])
                sent_start = True
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))  # unless the route chose (thumbnails)
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (
                        b"content-security-policy",
                        b"default-src 'self'; img-src 'self' blob: data:; frame-ancestors 'none'",
                    ),
                ]
                message = {**message, "headers": headers}
            await send(message)

        received = 0

        async def receive_wrapper() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(413, f"the request body exceeds {limit} bytes")
            return message

        self.metrics.inflight.inc()
        try:
            length = _content_length(scope)
            if length is not None and length > limit:
                await _send_error(
                    send_wrapper, 413, "payload_too_large", f"the request body exceeds {limit} bytes"
                )
            else:
                try:
                    await self.app(scope, receive_wrapper, send_wrapper)
                except _BodyTooLarge as exc:
                    if sent_start:
                        raise
                    await _send_error(send_wrapper, 413, exc.code, str(exc.detail))
        finally:
            self.metrics.inflight.dec()
            route = scope.get("route")
            template = getattr(route, "path_format", None) or (
                "static" if scope["path"].startswith("/admin") else "other"
            )
            seconds = time.perf_counter() - started
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.seconds.labels(template).observe(seconds)
            key = scope.get("state", {}).get("key_name", "-")
            log.info("%s %s %d %.1fms key=%s", scope["method"], template, status, seconds * 1000, key)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
