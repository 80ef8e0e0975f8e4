"""dlib's ``shape_predictor`` read from its file: a cascade of regression-tree forests.

Written from dlib's ``dlib/image_processing/shape_predictor.h``; run by :mod:`.landmarks`. The
primitives are :mod:`.dlib_format`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .dlib_format import Stream, read_model_file

__all__ = ["RegressionTree", "ShapePredictorModel", "read_shape_predictor"]


@dataclass(frozen=True)
class RegressionTree:
    """A complete binary tree: split features (idx1, idx2, thresh) and leaf shape increments."""

    idx1: NDArray[np.int64] = field(repr=False)
    idx2: NDArray[np.int64] = field(repr=False)
    thresh: NDArray[np.float32] = field(repr=False)
    leaves: NDArray[np.float32] = field(repr=False)  # (n_leaves, 2 * n_parts)


@dataclass(frozen=True)
class ShapePredictorModel:
    """dlib's ``shape_predictor``: a cascade of regression-tree forests over pixel differences."""

    initial_shape: NDArray[np.float32] = field(repr=False)  # (2 * n_parts,)
    forests: tuple[tuple[RegressionTree, ...], ...] = field(repr=False)
    anchor_idx: tuple[NDArray[np.int64], ...] = field(repr=False)
    deltas: tuple[NDArray[np.float32], ...] = field(repr=False)  # (n_features, 2) per cascade

    @property
    def num_parts(self) -> int:
        return self.initial_shape.size // 2


def read_shape_predictor(path: Path) -> ShapePredictorModel:
    """``shape_predictor_5_face_landmarks.dat`` (any dlib shape predictor file)."""
    s = Stream(read_model_file(path), path.name)
    s.version(1, 1)
    initial = s.float_matrix().reshape(-1).astype(np.float32)
    forests = []
    for _ in range(s.read_int()):
        trees = []
        for _ in range(s.read_int()):
            n_splits = s.read_int()
            splits = [(s.read_int(), s.read_int(), s.read_float()) for _ in range(n_splits)]
            leaves = [s.float_matrix().reshape(-1) for _ in range(s.read_int())]
            if len(leaves) != n_splits + 1 or any(leaf.size != initial.size for leaf in leaves):
                raise s.fail("malformed regression tree")
            trees.append(
                RegressionTree(
                    np.array([sp[0] for sp in splits], dtype=np.int64),
                    np.array([sp[1] for sp in splits], dtype=np.int64),
                    np.array([sp[2] for sp in splits], dtype=np.float32),
                    np.array(leaves, dtype=np.float32),
                )
            )
        forests.append(tuple(trees))
    anchors = tuple(
        np.array([s.read_int() for _ in range(s.read_int())], dtype=np.int64) for _ in range(s.read_int())
    )
    deltas = tuple(
        np.array([(s.read_float(), s.read_float()) for _ in range(s.read_int())], dtype=np.float32).reshape(
            -1, 2
        )
        for _ in range(s.read_int())
    )
    if not s.at_end() or len(anchors) != len(forests) or len(deltas) != len(forests):
        raise s.fail("malformed shape predictor")
    return ShapePredictorModel(initial, tuple(forests), anchors, deltas)
