"""Photo analysis (decode, detect, landmarks, quality, embed) in a pool of worker processes.

The one worker pool (:class:`faceprint.workers.WorkerPool`, as the service's): ``spawn``
processes, each loading its own :class:`~faceprint.engine.Engine` once (dlib and onnxruntime are
not shared across processes), encoded bytes in, frozen results out, typed errors pickled back as
they are. Each worker decodes one photo while the others run inference, so decoding and inference
overlap across the cores. With ``workers=0`` the analysis runs in the calling process.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

from ..config import Settings
from ..engine import Engine
from ..faces import Face
from ..workers import WorkerPool, one_thread_each

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
    photos (:class:`~faceprint.errors.ModelError`) and is replaced."""

    def __init__(self, settings: Settings, workers: int, engine: Engine | None = None) -> None:
        self.workers = workers
        self._pool = WorkerPool(
            _load,
            (one_thread_each(settings, workers),),
            workers,
            state=engine,
            died="an analysis worker died",
        )

    def submit(self, data: bytes, name: str) -> Future[Analysis]:
        return self._pool.submit(_analyse, data, name)

    def result(self, future: Future[Analysis]) -> Analysis:
        return self._pool.result(future)

    def close(self) -> None:
        self._pool.close()
