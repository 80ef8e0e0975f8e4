"""Interim exact vector index (replaced by the approximate one from the index branch)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["VectorIndex"]


class VectorIndex:
    def __init__(self, dim: int, *, exact_below: int = 20_000) -> None:
        self.dim = dim
        self._ids = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self._seq = 0
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def seq(self) -> int:
        return self._seq

    def ids(self) -> NDArray[np.int64]:
        return self._ids.copy()

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32], *, seq: int) -> None:
        with self._lock:
            self._ids = np.concatenate([self._ids, ids.astype(np.int64)])
            self._vectors = np.concatenate([self._vectors, vectors.astype(np.float32)])
            self._seq = max(self._seq, seq)

    def remove(self, ids: NDArray[np.int64], *, seq: int) -> None:
        with self._lock:
            keep = ~np.isin(self._ids, ids)
            self._ids, self._vectors = self._ids[keep], self._vectors[keep]
            self._seq = max(self._seq, seq)

    def search(self, queries: NDArray[np.float32], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        with self._lock:
            ids, vectors = self._ids, self._vectors
        q = np.atleast_2d(queries).astype(np.float32)
        out_ids = np.full((len(q), k), -1, dtype=np.int64)
        out_sims = np.full((len(q), k), -np.inf, dtype=np.float32)
        if len(ids) == 0:
            return out_ids, out_sims
        sims = q @ vectors.T
        n = min(k, len(ids))
        order = np.argsort(-sims, axis=1)[:, :n]
        out_ids[:, :n] = ids[order]
        out_sims[:, :n] = np.take_along_axis(sims, order, axis=1)
        return out_ids, out_sims

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / "index.npz.tmp"
        with tmp.open("wb") as fh:
            np.savez(fh, ids=self._ids, vectors=self._vectors, seq=np.int64(self._seq))
        tmp.replace(directory / "index.npz")

    @classmethod
    def load(cls, directory: Path, *, dim: int) -> VectorIndex | None:
        try:
            with np.load(directory / "index.npz") as data:
                index = cls(dim)
                index._ids, index._vectors, index._seq = data["ids"], data["vectors"], int(data["seq"])
        except Exception:
            return None
        if index._vectors.shape[1:] != (dim,):
            return None
        return index
