"""Photo analysis (decode, detect, landmarks, quality, embed) in a pool of worker processes.

The one worker pool (:class:`faceprint.workers.WorkerPool`, as the service's): ``spawn``
processes, each loading its own :class:`~faceprint.engine.Engine` once (dlib and onnxruntime are
not shared across processes), encoded bytes in, frozen results out, typed errors pickled back as
they are. Each worker decodes one photo while the others run inference, so decoding and inference
overlap across the cores. With ``workers=0`` the analysis runs in the calling process. With
``ray=HOST:PORT`` the same tasks run on a Ray cluster's actors instead
(:class:`faceprint.ray_pool.RayPool`, one per CPU, one onnxruntime thread each).
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import Settings
from ..engine import Engine
from ..faces import Face
from ..workers import WorkerPool, one_thread_each

if TYPE_CHECKING:
    from ..ray_pool import NodeShare, RayPool

__all__ = ["Analysis", "AnalysisPool", "analyse"]


@dataclass(frozen=True)
class Analysis:
    width: int
    height: int
    #: Every face with its template and quality (:class:`faceprint.faces.Face`: one face record).
    faces: tuple[Face, ...]


def analyse(engine: Engine, data: bytes, name: str) -> Analysis:
    """Every face in the encoded photo ``data``: box, landmarks, quality and template.

    The photo is decoded only at the sizes detection and alignment need (a JPEG at a quarter of its
    size when its faces are large enough), never necessarily in full.
    """
    from ..imageio import Photo

    s = engine.settings
    photo = Photo(data, max_bytes=s.max_bytes, max_pixels=s.max_pixels, name=name)
    found = engine.embed(photo, quality=True)
    assert all(f.template is not None and f.quality is not None for f in found)
    return Analysis(width=photo.width, height=photo.height, faces=tuple(found))


# -- the pool (faceprint.workers) ----------------------------------------------------------------


def _load(settings: Settings) -> Engine:
    return Engine(settings).load()


def _analyse(engine: Engine, data: bytes, name: str) -> Analysis:
    return analyse(engine, data, name)


class AnalysisPool:
    """``workers`` analysis processes (0: in this process, with ``engine``); a dead worker fails its
    photos (:class:`~faceprint.errors.ModelError`) and is replaced.

    ``ray``: a Ray cluster's address (``HOST:PORT``): ``workers`` actors there instead (``None``
    or 0: one per CPU of the cluster, at most ``at_most`` when given), each with one onnxruntime
    thread (it holds one CPU).
    """

    def __init__(
        self,
        settings: Settings,
        workers: int | None,
        engine: Engine | None = None,
        *,
        ray: str | None = None,
        at_most: int = 0,
    ) -> None:
        self._pool: WorkerPool[Engine] | RayPool[Engine]
        self._ray: RayPool[Engine] | None = None
        if ray is not None:
            from ..ray_pool import RayPool

            one = dataclasses.replace(settings, threads=settings.threads or 1)
            self._pool = self._ray = RayPool(
                ray, _load, (one,), workers, at_most=at_most, died="an analysis worker on Ray died"
            )
        else:
            count = workers or 0
            self._pool = WorkerPool(
                _load,
                (one_thread_each(settings, count),),
                count,
                state=engine,
                died="an analysis worker died",
            )
        self.workers: int = self._pool.workers

    def submit(self, data: bytes, name: str) -> Future[Analysis]:
        return self._pool.submit(_analyse, data, name)

    def result(self, future: Future[Analysis]) -> Analysis:
        return self._pool.result(future)

    def nodes(self) -> tuple[NodeShare, ...]:
        """On Ray: how many photos each node analysed; locally: nothing."""
        return self._ray.nodes() if self._ray is not None else ()

    def close(self) -> None:
        self._pool.close()
