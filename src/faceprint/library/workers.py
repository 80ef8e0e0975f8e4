"""Photo analysis (decode, detect, landmarks, quality, embed) in a pool of worker processes.

The same pattern as the service's :class:`~faceprint.service.workers.InferencePool`: ``spawn``
processes, each loading its own :class:`~faceprint.engine.Engine` once (dlib and onnxruntime are
not shared across processes), encoded bytes in, frozen results out, typed errors pickled back as
they are. Each worker decodes one photo while the others run inference, so decoding and inference
overlap across the cores. With ``workers=0`` the analysis runs in the calling process.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..config import Settings
from ..engine import Engine
from ..faces import Box
from ..quality import Quality

__all__ = ["Analysis", "AnalysisPool", "FoundFace", "analyse"]


@dataclass(frozen=True, eq=False)
class FoundFace:
    box: Box
    score: float
    landmarks: NDArray[np.float64]
    vector: NDArray[np.float32]  # the engine's template (unit vector), sealed before it is stored
    model: str
    quality: Quality


@dataclass(frozen=True)
class Analysis:
    width: int
    height: int
    faces: tuple[FoundFace, ...]


def analyse(engine: Engine, data: bytes, name: str) -> Analysis:
    """Every face in the encoded photo ``data``: box, landmarks, quality and template.

    The photo is decoded only at the sizes detection and alignment need (a JPEG at a quarter of its
    size when its faces are large enough), never necessarily in full.
    """
    from ..imageio import Photo

    s = engine.settings
    photo = Photo(data, max_bytes=s.max_bytes, max_pixels=s.max_pixels, name=name)
    found = []
    for face in engine.embed(photo, quality=True):
        assert face.template is not None and face.quality is not None
        found.append(
            FoundFace(
                box=face.box,
                score=float(face.score),
                landmarks=np.asarray(face.landmarks, dtype=np.float64),
                vector=np.asarray(face.template.vector, dtype=np.float32),
                model=face.template.model,
                quality=face.quality,
            )
        )
    return Analysis(width=photo.width, height=photo.height, faces=tuple(found))


# -- inside a worker process ----------------------------------------------------------------------

_engine: Engine | None = None


def _init(settings: Settings) -> None:
    global _engine
    _engine = Engine(settings).load()


def _analyse(data: bytes, name: str) -> Analysis:
    assert _engine is not None, "worker not initialised"
    return analyse(_engine, data, name)


class _InProcess(Executor):
    """``workers=0``: the same interface, run at submit time in this process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(analyse(self.engine, *args))
        except BaseException as exc:  # delivered through the future, like a process pool's
            future.set_exception(exc)
        return future


class AnalysisPool:
    """``workers`` analysis processes (0: in this process, with ``engine``)."""

    def __init__(self, settings: Settings, workers: int, engine: Engine | None = None) -> None:
        self.workers = workers
        if workers == 0:
            self.executor: Executor = _InProcess(engine or Engine(settings))
            return
        # one onnxruntime thread per worker unless set: the workers are the parallelism
        per_worker = settings if settings.threads else dataclasses.replace(settings, threads=1)
        self.executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init,
            initargs=(per_worker,),
        )

    def submit(self, data: bytes, name: str) -> Future[Analysis]:
        return self.executor.submit(_analyse, data, name)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
