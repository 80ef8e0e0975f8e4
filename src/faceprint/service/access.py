"""What every route shares: the :class:`Service` state, and :func:`require`, the key-and-scope check."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ..config import Settings
from ..gallery import Gallery as Store
from ..store import ApiKey
from .guard import Metrics, RateLimiter, Refusal
from .workers import InferencePool

__all__ = ["Service", "require", "service_of"]

_bearer = HTTPBearer(auto_error=False, description="an API key from `faceprint keys create`")


@dataclass
class Service:
    """What the routes share: the store (this process), the inference pool, limits and metrics."""

    settings: Settings
    store: Store
    pool: InferencePool
    limiter: RateLimiter
    metrics: Metrics


def service_of(request: Request) -> Service:
    """The service state of the app serving ``request``."""
    service: Service = request.app.state.service
    return service


def require(scope: str | None, cost: float = 1.0) -> Callable[..., Coroutine[Any, Any, ApiKey]]:
    """A dependency: the request's API key, valid, holding ``scope`` (``None``: any) and within its rate
    (the request counting as ``cost`` requests)."""

    async def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> ApiKey:
        service = service_of(request)
        secret = credentials.credentials if credentials else request.headers.get("x-api-key")
        if not secret:
            raise Refusal(401, "an API key is required (Authorization: Bearer <key>)", headers=_challenge)
        key = await run_in_threadpool(service.store.keys.authenticate, secret)
        if key is None:
            raise Refusal(401, "unknown or revoked API key", headers=_challenge)
        request.state.key_name = key.name
        if scope is not None and not key.allows(scope):
            raise Refusal(403, f"the key {key.name!r} lacks the scope {scope!r}")
        wait = await run_in_threadpool(service.limiter.take, key.key_id, cost)  # a round trip when shared
        if wait > 0:
            raise Refusal(429, "rate limit exceeded; slow down", headers={"Retry-After": str(int(wait) + 1)})
        return key

    return dependency


_challenge = {"WWW-Authenticate": "Bearer"}
