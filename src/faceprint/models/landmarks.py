"""dlib's 5-point shape predictor in numpy: a cascade of regression-tree forests.

Follows ``dlib::shape_predictor::operator()``: at each cascade the feature pixels (anchored to
the current shape by a similarity transform from the mean shape) are read as grey values
(``(r + g + b) // 3``), every tree of the forest is walked on pixel differences, and the leaf
increments are summed in order in float32, as dlib does. Points come out rounded to whole pixels,
as dlib's ``point`` does.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidInput, ModelError
from ..imageio import RGBImage
from .dlib_shape_predictor import ShapePredictorModel, read_shape_predictor
from .onnx_graph import cache_dir, cached_file, file_sha256

__all__ = ["NumpyShapePredictor", "fit_box", "similarity_transform"]


@dataclass(frozen=True)
class _Cascade:
    idx1: NDArray[np.int64]  # (trees, splits)
    idx2: NDArray[np.int64]
    thresh: NDArray[np.float32]
    leaves: NDArray[np.float32]  # (trees, leaves, 2 * parts)
    anchors: NDArray[np.int64]  # (features,)
    deltas: NDArray[np.float32]  # (features, 2)


def similarity_transform(
    src: NDArray[np.floating], dst: NDArray[np.floating]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """dlib's ``find_similarity_transform`` (Umeyama): the (2, 2) matrix and translation, float64.

    In two dimensions Umeyama's SVD solution has a closed form: the best rotation-and-scale
    ``[[a, -b], [b, a]]`` comes from the dot and cross products of the centred point sets (a
    tenth of the SVD's cost, called 15 times per face).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mean_src, mean_dst = src.mean(axis=0), dst.mean(axis=0)
    ds, dd = src - mean_src, dst - mean_dst
    sigma_src = float(np.sum(ds * ds))
    if sigma_src == 0:
        return np.eye(2), mean_dst - mean_src
    a = float(np.sum(ds[:, 0] * dd[:, 0] + ds[:, 1] * dd[:, 1])) / sigma_src
    b = float(np.sum(ds[:, 0] * dd[:, 1] - ds[:, 1] * dd[:, 0])) / sigma_src
    m = np.array([[a, -b], [b, a]])
    return m, mean_dst - m @ mean_src


def fit_box(
    mean_shape: NDArray[np.floating], points: NDArray[np.floating]
) -> tuple[float, float, float, float]:
    """The box a shape predictor expects for a face whose points are ``points``.

    A predictor starts from its mean shape (``mean_shape``, in units of the box) placed in the
    detector's box, and was trained on boxes in which the landmarks sit, on average, at that mean
    shape. The upright box (scale and shift, no rotation) that puts the mean shape closest to
    ``points`` in least squares is therefore the box it was trained to start from, whichever
    detector found the face. ``points`` may be any subset of the shape's points (with the matching
    rows of ``mean_shape``). Returned as (left, top, right, bottom), right/bottom exclusive, with
    dlib's inclusive mapping of the unit square onto ``(right - 1) - left``.
    """
    mean = np.asarray(mean_shape, dtype=np.float64).reshape(-1, 2)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    mc, pc = mean - mean.mean(axis=0), pts - pts.mean(axis=0)
    side = float(np.sum(mc * pc) / max(float(np.sum(mc * mc)), 1e-12))
    left, top = pts.mean(axis=0) - side * mean.mean(axis=0)
    return (float(left), float(top), float(left + side + 1), float(top + side + 1))


def _round(values: NDArray[np.float64]) -> NDArray[np.int64]:
    """dlib's conversion of a double point to an integer one: floor(v + 0.5)."""
    return np.floor(values + 0.5).astype(np.int64)


class NumpyShapePredictor:
    """dlib's 5-point shape predictor without dlib (``shape_predictor_5_face_landmarks.dat``)."""

    name = "dlib-5pt"

    def __init__(self, path: Path, *, cache: str = "") -> None:
        self._cascades, self._initial = _load(path, cache)
        self.mean_shape: NDArray[np.float64] = self._initial.reshape(-1, 2).astype(np.float64)
        self.mean_shape.setflags(write=False)

    def locate(self, image: RGBImage, box: tuple[float, float, float, float]) -> NDArray[np.float64]:
        points: NDArray[np.float64] = self.locate_many(image, [box])[0]
        return points

    def locate_many(
        self, image: RGBImage, boxes: Sequence[tuple[float, float, float, float]]
    ) -> NDArray[np.float64]:
        """The 5 points of every face in ``boxes`` at once: an (n, 5, 2) array.

        The same arithmetic as dlib's, vectorised over faces (each face's numbers are computed
        exactly as they would be alone), so one call costs about what one face used to.
        """
        if image.ndim not in (2, 3):
            raise InvalidInput(f"expected an image array, got shape {image.shape}")
        n = len(boxes)
        if n == 0:
            return np.zeros((0, 5, 2), dtype=np.float64)
        height, width = image.shape[:2]
        rounded = np.array([[round(v) for v in box] for box in boxes], dtype=np.float64)
        left, top = rounded[:, 0:1], rounded[:, 1:2]
        # dlib's rectangle is inclusive: right - 1, bottom - 1; the unit square maps onto it
        sx, sy = (rounded[:, 2:3] - 1) - left, (rounded[:, 3:4] - 1) - top
        initial_points = self._initial.reshape(-1, 2)
        shape = np.repeat(self._initial[None, :], n, axis=0)  # (n, 2 * parts), float32
        rows = np.arange(n)[:, None]
        for cascade in self._cascades:
            m32 = _similarity_many(initial_points, shape.reshape(n, -1, 2)).astype(np.float32)  # (n, 2, 2)
            d = cascade.deltas
            moved_x = m32[:, 0, 0, None] * d[None, :, 0] + m32[:, 0, 1, None] * d[None, :, 1]
            moved_y = m32[:, 1, 0, None] * d[None, :, 0] + m32[:, 1, 1, None] * d[None, :, 1]
            anchor = shape.reshape(n, -1, 2)[:, cascade.anchors]  # (n, features, 2)
            px = (moved_x + anchor[:, :, 0]).astype(np.float64) * sx + left
            py = (moved_y + anchor[:, :, 1]).astype(np.float64) * sy + top
            ix, iy = _round(px), _round(py)
            inside = (ix >= 0) & (iy >= 0) & (ix < width) & (iy < height)
            features = np.zeros(ix.shape, dtype=np.float32)
            features[inside] = _grey(image[iy[inside], ix[inside]])
            n_trees, n_splits = cascade.idx1.shape
            f1, f2 = features[:, cascade.idx1], features[:, cascade.idx2]  # (n, trees, splits)
            go_left = ((f1 - f2) > cascade.thresh[None]).reshape(n, -1)
            offsets = np.arange(0, n_trees * n_splits, n_splits)[None, :]
            node = np.zeros((n, n_trees), dtype=np.int64)
            while node[0, 0] < n_splits:  # complete trees: every walk has the same depth
                node = 2 * node + 2 - go_left[rows, offsets + node]
            increments = cascade.leaves[np.arange(n_trees)[None, :], node - n_splits]  # (n, trees, 2p)
            stacked = np.concatenate([shape[:, None, :], increments], axis=1)
            shape = np.add.accumulate(stacked, axis=1, dtype=np.float32)[:, -1]
        points = shape.reshape(n, -1, 2).astype(np.float64)
        xs = _round(points[:, :, 0] * sx + left)
        ys = _round(points[:, :, 1] * sy + top)
        return np.stack([xs, ys], axis=2).astype(np.float64)


def _similarity_many(src: NDArray[np.floating], dst: NDArray[np.floating]) -> NDArray[np.float64]:
    """:func:`similarity_transform`'s matrix for every face: ``src`` (p, 2), ``dst`` (n, p, 2)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    ds = src - src.mean(axis=0)
    dd = dst - dst.mean(axis=1, keepdims=True)
    sigma_src = float(np.sum(ds * ds))
    if sigma_src == 0:
        return np.repeat(np.eye(2)[None], len(dst), axis=0)
    a = np.sum(ds[None, :, 0] * dd[:, :, 0] + ds[None, :, 1] * dd[:, :, 1], axis=1) / sigma_src
    b = np.sum(ds[None, :, 0] * dd[:, :, 1] - ds[None, :, 1] * dd[:, :, 0], axis=1) / sigma_src
    return np.stack([np.stack([a, -b], axis=1), np.stack([b, a], axis=1)], axis=1)


def _grey(pixels: NDArray[np.generic]) -> NDArray[np.float32]:
    """dlib's grey value of RGB pixels, ``(r + g + b) // 3``, read only where features sample.

    Converting just the few hundred sampled pixels, not the whole image, keeps a face's
    landmarks independent of the photo's size.
    """
    if pixels.ndim == 1:
        return pixels.astype(np.float32)
    grey: NDArray[np.float32] = (pixels.astype(np.uint16).sum(axis=1) // 3).astype(np.float32)
    return grey


def _to_cascades(model: ShapePredictorModel) -> list[_Cascade]:
    cascades = []
    for forest, anchors, deltas in zip(model.forests, model.anchor_idx, model.deltas, strict=True):
        splits = {tree.idx1.size for tree in forest}
        n_leaves = splits.pop() + 1 if len(splits) == 1 else 0
        if n_leaves == 0 or n_leaves & (n_leaves - 1):
            raise ModelError("shape predictor trees must be complete and of equal depth")
        cascades.append(
            _Cascade(
                np.stack([t.idx1 for t in forest]),
                np.stack([t.idx2 for t in forest]),
                np.stack([t.thresh for t in forest]),
                np.stack([t.leaves for t in forest]),
                anchors,
                deltas,
            )
        )
    return cascades


_FIELDS = ("idx1", "idx2", "thresh", "leaves", "anchors", "deltas")


def _load(path: Path, cache: str) -> tuple[list[_Cascade], NDArray[np.float32]]:
    """The predictor's arrays, parsed once from the ``.dat`` file and cached as ``.npz``."""
    loaded: dict[str, NDArray[np.generic]] = {}

    def build() -> bytes:
        model = read_shape_predictor(path)
        arrays: dict[str, NDArray[np.generic]] = {"initial": model.initial_shape}
        for i, c in enumerate(_to_cascades(model)):
            for f in _FIELDS:
                arrays[f"{f}{i}"] = getattr(c, f)
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        loaded.update(arrays)
        return buf.getvalue()

    def valid(p: Path) -> bool:
        with np.load(p) as npz:
            loaded.update({k: npz[k] for k in npz.files})
        return "initial" in loaded and "idx10" in loaded

    cached_file(cache_dir(cache), f"{path.stem}-{file_sha256(path)[:16]}.npz", build, valid)
    count = sum(1 for k in loaded if k.startswith("idx1") and k[4:].isdigit())
    cascades = [_Cascade(*(np.asarray(loaded[f"{f}{i}"]) for f in _FIELDS)) for i in range(count)]
    return cascades, np.asarray(loaded["initial"], dtype=np.float32)
