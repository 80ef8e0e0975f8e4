"""Grouping faces into people: strict, constrained agglomeration on unit templates, incremental.

Pure numpy on arrays; :mod:`faceprint.library` feeds it the store's faces and writes the answer back.

The algorithm (see ``docs/library.md``):

1. **Candidate links.** Every pair of *seed* faces (good quality) whose cosine similarity reaches
   ``link`` — a threshold from the model's calibration table (a low false-match rate per pair). On an
   incremental run only pairs that touch a *new* face are computed: new x all, proportional to the new
   faces.
2. **Gated merging, strongest link first.** Links are taken in decreasing similarity; the two groups
   they join are merged only when (a) their *average* similarity — ``sum_a . sum_b / (n_a n_b)`` for
   unit vectors, O(d) from the groups' vector sums — reaches ``average``, so one chance look-alike
   cannot chain two people together (single linkage's failure, and DBSCAN's); (b) no photo holds a
   face of both (cannot-link: two faces in one photo are two people); (c) no face of one group was
   declared *not* the person the other group is (the user's ``people not`` / ``split``); (d) they are
   not two people the user has confirmed (named, merged or split by hand).
3. **Attaching the rest.** Faces left alone (low-quality faces, which never seed, and unlinked seeds)
   join the person whose average similarity is highest, only when it reaches ``attach`` and leads the
   runner-up by ``margin``, and the constraints above allow it.

Groups smaller than ``min_faces`` are not people: their faces stay unassigned (label ``-1``) and take
part again in later runs. Existing assignments are never undone by a run; people only grow or merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .calibrate import Calibration
from .errors import InvalidInput

__all__ = ["BCubed", "ClusterParams", "Clustering", "bcubed", "cluster_faces"]

UNASSIGNED = -1
_CHUNK = 1024


@dataclass(frozen=True)
class ClusterParams:
    """Thresholds (cosine similarities of unit templates) and the smallest group that is a person."""

    link: float = 0.9525  # dlib-resnet-v1 at FMR 1e-5 per pair
    average: float = 0.9406  # dlib-resnet-v1 at FMR 1e-4 per pair
    attach: float = 0.9465
    margin: float = 0.02
    min_faces: int = 2

    def __post_init__(self) -> None:
        for name in ("link", "average", "attach"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise InvalidInput(f"{name} must be a similarity between -1 and 1")
        if self.margin < 0:
            raise InvalidInput("margin must not be negative")
        if self.min_faces < 1:
            raise InvalidInput("min_faces must be at least 1")

    @classmethod
    def from_calibration(
        cls, calibration: Calibration, *, link_fmr: float = 1e-5, average_fmr: float = 1e-4, **kw: float
    ) -> ClusterParams:
        """Thresholds at false-match rates of ``calibration``: links at ``link_fmr`` per pair, group
        averages at ``average_fmr`` (``attach`` halfway between them)."""
        link = calibration.threshold(link_fmr)
        average = calibration.threshold(average_fmr)
        values: dict[str, float] = {"link": link, "average": average, "attach": (link + average) / 2}
        values.update(kw)
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class Clustering:
    """The answer of :func:`cluster_faces`.

    ``labels[i]`` is face ``i``'s person: an existing label, a new label (``>= first_new``), or ``-1``.
    ``merged`` maps each existing label that was merged into another to the label it joined.
    """

    labels: NDArray[np.int64]
    first_new: int
    merged: dict[int, int] = field(default_factory=dict)
    links: int = 0  # candidate links examined
    attached: int = 0  # faces attached in step 3


class _Groups:
    """Union-find over faces with, per root: vector sum, size, photos, existing labels, forbidden labels."""

    def __init__(
        self,
        vectors: NDArray[np.float32],
        photos: NDArray[np.int64],
        labels: NDArray[np.int64],
        forbid: dict[int, set[int]],
        pinned: frozenset[int],
    ) -> None:
        n = len(vectors)
        self.parent = np.arange(n)
        self.sum: dict[int, NDArray[np.float64]] = {}
        self.size: dict[int, int] = {}
        self.photos: dict[int, set[int]] = {}
        self.labels: dict[int, set[int]] = {}
        self.forbid: dict[int, set[int]] = {}
        self.pinned = pinned
        # existing people start as one group each
        first: dict[int, int] = {}
        for i in range(n):
            lab = int(labels[i])
            if lab != UNASSIGNED and lab in first:
                root = first[lab]
                self.parent[i] = root
                self.sum[root] += vectors[i]
                self.size[root] += 1
                self.photos[root].add(int(photos[i]))
                self.forbid[root] |= forbid.get(i, set())
                continue
            if lab != UNASSIGNED:
                first[lab] = i
            self.sum[i] = vectors[i].astype(np.float64)
            self.size[i] = 1
            self.photos[i] = {int(photos[i])}
            self.labels[i] = set() if lab == UNASSIGNED else {lab}
            self.forbid[i] = set(forbid.get(i, set()))

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = int(self.parent[root])
        while self.parent[i] != root:
            self.parent[i], i = root, int(self.parent[i])
        return root

    def allowed(self, a: int, b: int) -> bool:
        """May groups (roots) ``a`` and ``b`` be one person, constraints only?"""
        if not self.photos[a].isdisjoint(self.photos[b]):
            return False
        if not self.forbid[a].isdisjoint(self.labels[b]) or not self.forbid[b].isdisjoint(self.labels[a]):
            return False
        return not (self.labels[a] & self.pinned and self.labels[b] & self.pinned)

    def average(self, a: int, b: int) -> float:
        return float(self.sum[a] @ self.sum[b]) / (self.size[a] * self.size[b])

    def union(self, a: int, b: int) -> int:
        if self.size[a] < self.size[b]:
            a, b = b, a
        self.parent[b] = a
        self.sum[a] += self.sum.pop(b)
        self.size[a] += self.size.pop(b)
        self.photos[a] |= self.photos.pop(b)
        self.labels[a] |= self.labels.pop(b)
        self.forbid[a] |= self.forbid.pop(b)
        return a


def _links(
    vectors: NDArray[np.float32], rows: NDArray[np.int64], cols: NDArray[np.bool_], threshold: float
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
    """Pairs (row face, other face) with similarity >= ``threshold``; other faces limited to ``cols``,
    and each pair of two row faces once."""
    is_row = np.zeros(len(vectors), dtype=bool)
    is_row[rows] = True
    targets = np.flatnonzero(cols)
    t_vectors = vectors[targets]
    out_i: list[NDArray[np.int64]] = []
    out_j: list[NDArray[np.int64]] = []
    out_s: list[NDArray[np.float32]] = []
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        sims = vectors[chunk] @ t_vectors.T
        ii, jj = np.nonzero(sims >= threshold)
        a, b = chunk[ii], targets[jj]
        keep = (a != b) & (~is_row[b] | (a < b))
        out_i.append(a[keep])
        out_j.append(b[keep])
        out_s.append(sims[ii, jj][keep])
    if not out_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_s)


def cluster_faces(
    vectors: NDArray[np.float32],
    photos: Sequence[int] | NDArray[np.int64],
    *,
    params: ClusterParams | None = None,
    seeds: Sequence[bool] | NDArray[np.bool_] | None = None,
    labels: Sequence[int] | NDArray[np.int64] | None = None,
    new: Sequence[bool] | NDArray[np.bool_] | None = None,
    forbid: Iterable[tuple[int, int]] = (),
    pinned: Iterable[int] = (),
) -> Clustering:
    """Group the faces (rows of ``vectors``, unit templates) into people.

    ``photos[i]`` identifies the photo of face ``i`` (faces of one photo are never one person).
    ``seeds`` marks faces good enough to create and link groups (default: all). ``labels`` holds
    existing people (``-1``: unassigned); ``new`` marks the faces not seen by an earlier run (default:
    all) — only links touching them are computed. ``forbid`` lists (face, label) pairs: that face is
    not that person. ``pinned`` labels are people the user confirmed: two of them are never merged.
    """
    params = params or ClusterParams()
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise InvalidInput("vectors must be a 2-d array of templates")
    n = len(x)
    photo = np.asarray(photos, dtype=np.int64)
    seed = np.ones(n, dtype=bool) if seeds is None else np.asarray(seeds, dtype=bool)
    lab = np.full(n, UNASSIGNED, dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    fresh = np.ones(n, dtype=bool) if new is None else np.asarray(new, dtype=bool)
    for name, arr in (("photos", photo), ("seeds", seed), ("labels", lab), ("new", fresh)):
        if arr.shape != (n,):
            raise InvalidInput(f"{name} must have one entry per face ({n}), not shape {arr.shape}")
    first_new = int(lab.max(initial=UNASSIGNED)) + 1
    forbidden: dict[int, set[int]] = {}
    for face, person in forbid:
        forbidden.setdefault(int(face), set()).add(int(person))
    groups = _Groups(x, photo, lab, forbidden, frozenset(int(p) for p in pinned))

    # 1-2. candidate links touching a new seed face, strongest first, merged through the gates
    rows = np.flatnonzero(fresh & seed)
    i_idx, j_idx, sims = _links(x, rows, seed, params.link)
    order = np.argsort(-sims, kind="stable")
    for k in order:
        a, b = groups.find(int(i_idx[k])), groups.find(int(j_idx[k]))
        if a == b or not groups.allowed(a, b):
            continue
        if groups.average(a, b) >= params.average:
            groups.union(a, b)

    # 3. attach lone faces to the clearly closest person
    roots = np.array([groups.find(i) for i in range(n)])
    people = [r for r in groups.size if groups.size[r] >= params.min_faces or groups.labels[r]]
    alone = [i for i in range(n) if groups.size[roots[i]] == 1 and not groups.labels[roots[i]]]
    attached = 0
    if people and alone:
        means = np.stack([groups.sum[r] / groups.size[r] for r in people]).astype(np.float32)
        scores = x[alone] @ means.T
        rows_i = np.arange(len(alone))
        best = scores.argmax(axis=1)
        top = scores[rows_i, best]
        scores[rows_i, best] = -np.inf
        second = scores.max(axis=1) if len(people) > 1 else np.full(len(alone), -np.inf)
        for row in np.flatnonzero((top >= params.attach) & (top - second >= params.margin)):
            i, target = alone[int(row)], people[int(best[row])]
            if groups.allowed(groups.find(i), target):
                roots[i] = target
                groups.photos[target].add(int(photo[i]))  # a second face of this photo may not follow
                attached += 1

    # labels: existing groups keep their (smallest) label; new groups of min_faces get new labels
    counts: dict[int, int] = {}
    for r in roots:
        counts[int(r)] = counts.get(int(r), 0) + 1
    out = np.full(n, UNASSIGNED, dtype=np.int64)
    merged: dict[int, int] = {}
    label_of: dict[int, int] = {}
    next_label = first_new
    for i in range(n):
        r = int(roots[i])
        if r not in label_of:
            existing = groups.labels.get(r) or set()
            if existing:
                keep = min(existing)
                merged.update({old: keep for old in existing if old != keep})
                label_of[r] = keep
            elif counts[r] >= params.min_faces:
                label_of[r] = next_label
                next_label += 1
            else:
                label_of[r] = UNASSIGNED
        out[i] = label_of[r]
    return Clustering(labels=out, first_new=first_new, merged=merged, links=len(sims), attached=attached)


@dataclass(frozen=True)
class BCubed:
    """BCubed precision, recall and F1 of a clustering against true identities."""

    precision: float
    recall: float
    f: float
    clusters: int  # people found (groups of two or more; unassigned faces count as singletons)
    classes: int  # true people with two or more faces


def bcubed(truth: Sequence[int] | NDArray[np.int64], predicted: Sequence[int] | NDArray[np.int64]) -> BCubed:
    """BCubed scores of ``predicted`` labels against ``truth``; ``-1`` (unassigned) in either counts as
    a singleton cluster each (so two clusterings can be compared with each other too)."""
    t = _singletons(np.asarray(truth, dtype=np.int64))
    p = _singletons(np.asarray(predicted, dtype=np.int64))
    if t.shape != p.shape or t.ndim != 1:
        raise InvalidInput("truth and predicted must be 1-d and of the same length")
    if len(t) == 0:
        return BCubed(1.0, 1.0, 1.0, 0, 0)
    _, t_idx = np.unique(t, return_inverse=True)
    _, p_idx = np.unique(p, return_inverse=True)
    pair = t_idx.astype(np.int64) * (int(p_idx.max()) + 1) + p_idx
    _, pair_idx, pair_counts = np.unique(pair, return_inverse=True, return_counts=True)
    both = pair_counts[pair_idx].astype(np.float64)
    t_size = np.bincount(t_idx)[t_idx].astype(np.float64)
    p_size = np.bincount(p_idx)[p_idx].astype(np.float64)
    precision = float(np.mean(both / p_size))
    recall = float(np.mean(both / t_size))
    f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return BCubed(
        precision=precision,
        recall=recall,
        f=f,
        clusters=int(np.sum(np.bincount(p_idx) >= 2)),
        classes=int(np.sum(np.bincount(t_idx) >= 2)),
    )


def _singletons(labels: NDArray[np.int64]) -> NDArray[np.int64]:
    out = labels.copy()
    lone = out == UNASSIGNED
    out[lone] = out.max(initial=0) + 1 + np.arange(int(lone.sum()))
    return out
