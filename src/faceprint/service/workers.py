"""Inference off the event loop: a pool of worker processes, each with its own engine and store.

Why processes and not threads: dlib's Python bindings hold the GIL while they detect and embed
(measured: two threads with two engines embed 2.6 photos/s against 2.7 for one thread), so
threads would serialise inference on one core. Each worker process opens the same store (the
store is safe across processes: one writer, readers in snapshots, the vector index caught up
from the ``changes`` feed before every search) and loads the models once. Requests carry encoded
image bytes in and frozen result dataclasses out; typed errors are pickled back as they are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..config import Settings
from ..engine import Engine
from ..faces import Face
from ..gallery import Gallery, open_store
from ..masked_enrol import verify_images
from ..match import Match
from ..store import EnrollResult, SearchResult
from ..workers import WorkerPool, one_thread_each

__all__ = ["InferencePool"]

T = TypeVar("T")

# -- inside a worker process (faceprint.workers builds the store once per process) -------------


def _open(path: str, settings: Settings) -> Gallery:
    return open_store(path, engine=Engine(settings).load(), settings=settings, actor="service")


def _ready(store: Gallery) -> bool:
    if store.model_id is not None:
        store.indexed_ids()  # load (or rebuild) the vector index now, not at the first search
    return True


def _detect(store: Gallery, image: bytes) -> list[Face]:
    return store.engine.detect(image)


def _verify(store: Gallery, a: bytes, b: bytes, fmr: float, face_a: int | None, face_b: int | None) -> Match:
    engine = store.engine
    engine.calibration.threshold(fmr)  # reject a bad fmr before any image work
    pair = (a, engine.choose_face(a, index=face_a).face), (b, engine.choose_face(b, index=face_b).face)
    return verify_images(engine, *pair, fmr=fmr)


def _search(store: Gallery, image: bytes, options: dict[str, Any]) -> SearchResult:
    return store.search(image, **options)


def _add_faces(
    store: Gallery, subject: str, images: Sequence[bytes], options: dict[str, Any]
) -> EnrollResult:
    return store.add_faces(subject, list(images), **options)


# -- in the server process -----------------------------------------------------------------------


class InferencePool:
    """``workers`` processes running the library's inference verbs; restarted if one dies."""

    def __init__(self, store_path: str, settings: Settings, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self._pool = WorkerPool(
            _open,
            (str(store_path), one_thread_each(settings, workers)),
            workers,
            died="an inference worker died",
        )
        self.busy = 0

    async def warm(self) -> None:
        """Start every worker and load its models and index (the first request is then fast)."""
        await asyncio.gather(*(self._call(_ready) for _ in range(self.workers)))

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        self.busy += 1
        try:
            return await self._pool.call(fn, *args)
        finally:
            self.busy -= 1

    async def detect(self, image: bytes) -> list[Face]:
        return await self._call(_detect, image)

    async def verify(
        self, a: bytes, b: bytes, fmr: float, *, face_a: int | None = None, face_b: int | None = None
    ) -> Match:
        return await self._call(_verify, a, b, fmr, face_a, face_b)

    async def search(self, image: bytes, **options: Any) -> SearchResult:
        return await self._call(_search, image, options)

    async def add_faces(self, subject: str, images: Sequence[bytes], **options: Any) -> EnrollResult:
        return await self._call(_add_faces, subject, list(images), options)

    def close(self) -> None:
        self._pool.close()
