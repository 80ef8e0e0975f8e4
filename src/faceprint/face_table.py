"""Every face of every photo of an identification protocol, with templates: :class:`FaceTable`,
found by :func:`find_faces` in the worker pool (:mod:`faceprint.identification` scores it)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .choice import main_face, rivals
from .config import Settings
from .engine import Engine
from .errors import FaceprintError, InvalidInput
from .faces import Box
from .workers import WorkerPool, one_thread_each

__all__ = ["FaceTable", "find_faces"]

Progress = Callable[[int], None]


@dataclass(frozen=True, eq=False)
class FaceTable:
    """Every face found in a set of photos: row ``j`` of the arrays is one face of photo ``image[j]``.

    Faces of a photo keep the order the pipeline gave them (faceprint: largest first).
    """

    files: tuple[str, ...]
    sizes: NDArray[np.int64]  # (photos, 2): width, height
    image: NDArray[np.int64]  # (faces,) photo index
    boxes: NDArray[np.float64]  # (faces, 4): left, top, right, bottom
    scores: NDArray[np.float64]  # (faces,) detector score (NaN when the pipeline gives none)
    templates: NDArray[np.float32]  # (faces, dim) unit vectors
    model: str
    pipeline: str = ""

    def save(self, path: str | os.PathLike[str]) -> None:
        np.savez(
            path,
            files=np.array(self.files),
            sizes=self.sizes,
            image=self.image,
            boxes=self.boxes,
            scores=self.scores,
            templates=self.templates,
            model=np.array(self.model),
            pipeline=np.array(self.pipeline),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FaceTable:
        with np.load(path) as data:
            return cls(
                files=tuple(str(f) for f in data["files"]),
                sizes=data["sizes"],
                image=data["image"],
                boxes=data["boxes"],
                scores=data["scores"],
                templates=data["templates"],
                model=str(data["model"]),
                pipeline=str(data["pipeline"]),
            )

    @classmethod
    def from_faces(
        cls,
        files: Sequence[str],
        found: Sequence[tuple[tuple[int, int], Sequence[tuple[Box, float, NDArray[np.float32]]]]],
        *,
        model: str,
        dim: int,
        pipeline: str = "",
    ) -> FaceTable:
        """From per photo ``((width, height), [(box, score, template), ...])``."""
        rows = [(i, f) for i, (_, faces) in enumerate(found) for f in faces]
        return cls(
            files=tuple(files),
            sizes=np.array([size for size, _ in found], dtype=np.int64).reshape(-1, 2),
            image=np.array([i for i, _ in rows], dtype=np.int64),
            boxes=np.array([f[0].as_list() for _, f in rows], dtype=np.float64).reshape(-1, 4),
            scores=np.array([f[1] for _, f in rows], dtype=np.float64),
            templates=np.array([f[2] for _, f in rows], dtype=np.float32).reshape(-1, dim),
            model=model,
            pipeline=pipeline,
        )

    def subset(self, files: Sequence[str]) -> FaceTable:
        """The faces of ``files`` only (each must be in the table), in that order."""
        row = {f: i for i, f in enumerate(self.files)}
        missing = [f for f in files if f not in row]
        if missing:
            raise InvalidInput(f"the face table lacks {len(missing)} photo(s), e.g. {missing[0]}")
        picks = [row[f] for f in files]
        faces = [np.flatnonzero(self.image == i) for i in picks]
        rows = np.concatenate(faces) if faces else np.zeros(0, dtype=np.int64)
        return dataclasses.replace(
            self,
            files=tuple(files),
            sizes=self.sizes[picks].reshape(-1, 2),
            image=np.repeat(np.arange(len(picks)), [len(f) for f in faces]).astype(np.int64),
            boxes=self.boxes[rows],
            scores=self.scores[rows],
            templates=self.templates[rows],
        )

    def __add__(self, other: FaceTable) -> FaceTable:
        """Both tables' photos (``other``'s appended; photos in both are taken from ``self``)."""
        extra = [f for f in other.files if f not in set(self.files)]
        more = other.subset(extra)
        return dataclasses.replace(
            self,
            files=self.files + more.files,
            sizes=np.concatenate([self.sizes, more.sizes]),
            image=np.concatenate([self.image, more.image + len(self.files)]),
            boxes=np.concatenate([self.boxes, more.boxes]),
            scores=np.concatenate([self.scores, more.scores]),
            templates=np.concatenate([self.templates, more.templates]),
        )

    def choose(self, *, tie: float | None = None, first: bool = False) -> tuple[NDArray[np.int64], int]:
        """Per photo: the row of its main face (-1: no face), and how many photos have rival faces.

        ``first`` takes the pipeline's first face instead (what ``face_recognition`` users do).
        """
        chosen = np.full(len(self.files), -1, dtype=np.int64)
        rivalled = 0
        starts = np.searchsorted(self.image, np.arange(len(self.files) + 1))
        for i in range(len(self.files)):
            lo, hi = int(starts[i]), int(starts[i + 1])
            if lo == hi:
                continue
            boxes = [Box(*b) for b in self.boxes[lo:hi]]
            if first:
                pick = 0
            else:
                w, h = (int(v) for v in self.sizes[i])
                pick = main_face(boxes, w, h) if tie is None else main_face(boxes, w, h, tie=tie)
            rivalled += bool(rivals(boxes, list(self.scores[lo:hi]), pick))
            chosen[i] = lo + pick
        return chosen, rivalled


_CHUNK = 8


def _load(settings: Settings) -> Engine:
    return Engine(settings).load()


def _faces_of(
    engine: Engine, paths: Sequence[str]
) -> list[tuple[tuple[int, int], list[tuple[Box, float, NDArray[np.float32]]]]]:
    out: list[tuple[tuple[int, int], list[tuple[Box, float, NDArray[np.float32]]]]] = []
    for path in paths:
        try:
            rgb = engine.load_image(path)
        except FaceprintError:
            out.append(((0, 0), []))
            continue
        faces = engine.embed(rgb)
        out.append(
            (
                (int(rgb.shape[1]), int(rgb.shape[0])),
                [(f.box, float(f.score), f.template.vector) for f in faces if f.template is not None],
            )
        )
    return out


def find_faces(
    root: str | os.PathLike[str],
    files: Sequence[str],
    *,
    settings: Settings | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> FaceTable:
    """Every face of every photo (``files`` under ``root``) with its template, in ``workers`` processes.

    An unreadable photo counts as one without faces.
    """
    root = Path(root)
    settings = settings or Settings.from_env()
    workers = workers or os.cpu_count() or 1
    processes = 0 if workers == 1 else workers  # one worker: in this process
    settings = one_thread_each(settings, processes)
    engine = Engine(settings)
    paths = [str(root / f) for f in files]
    chunks = [paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    found: list[tuple[tuple[int, int], list[tuple[Box, float, NDArray[np.float32]]]]] = []
    with WorkerPool(_load, (settings,), processes) as pool:
        for chunk in pool.map(_faces_of, chunks):
            found += chunk
            if progress is not None:
                progress(len(chunk))
    pipeline = f"faceprint {settings.detector} upsample {settings.upsample} backend {settings.backend}"
    return FaceTable.from_faces(files, found, model=engine.model_id, dim=engine.dim, pipeline=pipeline)
