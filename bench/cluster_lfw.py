"""Clustering quality on LFW: faceprint's people clustering vs Immich's and face_recognition's DBSCAN.

All three run in this script on the same embeddings: dlib's ResNet (128-d) of the 7,701 LFW images in
which the HOG detector found a face (``artifacts/lfw-embeddings-hog.npz`` from
``scripts/calibrate_lfw.py``, unit vectors, plus ``artifacts/lfw-raw.npy``, the raw dlib descriptors
that face_recognition returns). Identities are known by folder. BCubed precision/recall/F, faces left
unassigned counting as one singleton each.

Baselines:
- face_recognition's clustering example (pyimagesearch ``cluster_faces.py``):
  ``sklearn.cluster.DBSCAN(metric="euclidean")`` with sklearn's defaults eps=0.5, min_samples=5, on
  the raw encodings; label -1 (noise) = unassigned. DBSCAN is reimplemented in numpy exactly as
  sklearn's ``dbscan_inner`` (core: >= min_samples neighbours within eps, itself included).
- Immich (server/src/services/person.service.ts ``handleRecognizeFaces``): faces in order; a face's
  ``minFaces`` (3) nearest within ``maxDistance`` (0.5, cosine distance), itself included; fewer than 2
  -> unassigned; fewer than minFaces -> non-core, deferred to the end; a face joins the first of those
  matches that has a person, else the nearest face within maxDistance that has one; a core face
  without one creates a person. Immich's 0.5 is a cosine distance tuned for its ArcFace model; on
  dlib's embeddings we also run it at euclidean 0.5 on the raw descriptors (face_recognition's scale),
  and report both.

    python bench/cluster_lfw.py                 # the table (thresholds from the calibration table)
    python bench/cluster_lfw.py --incremental   # 90% then +10% vs all at once, with times
    python bench/cluster_lfw.py --tune          # calibrated settings on each half of the identities
    python bench/cluster_lfw.py --embeddings artifacts/lfw-embeddings-sface-2021dec+mirror-blazeface.npz \
        --model sface-2021dec+mirror          # another model's templates (a calibrate_lfw.py cache)
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from faceprint.calibrate import load_calibration
from faceprint.cluster import UNASSIGNED, BCubed, ClusterParams, bcubed, cluster_faces

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def load(
    artifacts: Path, embeddings: Path | None = None
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64], list[str]]:
    data = np.load(embeddings or artifacts / "lfw-embeddings-hog.npz")
    files = [str(f) for f in data["files"]]
    unit = np.asarray(data["matrix"], dtype=np.float32)
    raw_path = artifacts / "lfw-raw.npy"
    raw = np.load(raw_path).astype(np.float32) if raw_path.exists() and embeddings is None else unit
    names = [f.split("/")[0] for f in files]
    _, truth = np.unique(names, return_inverse=True)
    return unit, raw, truth.astype(np.int64), files


def dbscan(x: NDArray[np.float32], eps: float, min_samples: int) -> NDArray[np.int64]:
    """sklearn's DBSCAN (euclidean, brute force): the same core rule and the same labelling order."""
    n = len(x)
    sq = np.sum(x.astype(np.float64) ** 2, axis=1)
    neighbours: list[NDArray[np.int64]] = []
    for start in range(0, n, 1024):
        block = x[start : start + 1024].astype(np.float64)
        d2 = sq[start : start + 1024, None] + sq[None, :] - 2 * block @ x.T.astype(np.float64)
        for row in d2:
            neighbours.append(np.flatnonzero(row <= eps * eps))
    core = np.array([len(nb) >= min_samples for nb in neighbours])
    labels = np.full(n, UNASSIGNED, dtype=np.int64)
    label = 0
    for i in range(n):
        if labels[i] != UNASSIGNED or not core[i]:
            continue
        stack = [i]
        while stack:
            p = stack.pop()
            if labels[p] == UNASSIGNED:
                labels[p] = label
                if core[p]:
                    stack.extend(int(q) for q in neighbours[p] if labels[q] == UNASSIGNED)
        label += 1
    return labels


def immich(x: NDArray[np.float32], max_distance: float, min_faces: int, *, metric: str) -> NDArray[np.int64]:
    """Immich's handleRecognizeFaces over every face in order, deferred non-core faces at the end."""
    n = len(x)
    xd = x.astype(np.float64)
    if metric == "cosine":
        unit = xd / np.linalg.norm(xd, axis=1, keepdims=True)

        def distances(i: int) -> NDArray[np.float64]:
            out: NDArray[np.float64] = 1.0 - unit @ unit[i]
            return out
    else:
        sq = np.sum(xd**2, axis=1)

        def distances(i: int) -> NDArray[np.float64]:
            out: NDArray[np.float64] = np.sqrt(np.maximum(sq + sq[i] - 2 * xd @ xd[i], 0.0))
            return out

    person = np.full(n, UNASSIGNED, dtype=np.int64)
    next_person = 0
    queue = [(i, False) for i in range(n)]
    pos = 0
    while pos < len(queue):
        i, deferred = queue[pos]
        pos += 1
        if person[i] != UNASSIGNED:
            continue
        d = distances(i)
        within = np.flatnonzero(d < max_distance)
        nearest = within[np.argsort(d[within], kind="stable")][:min_faces]
        if min_faces > 1 and len(nearest) <= 1:
            continue
        is_core = len(nearest) >= min_faces
        if not is_core and not deferred:
            queue.append((i, True))
            continue
        with_person = [int(j) for j in nearest if person[j] != UNASSIGNED]
        pid = int(person[with_person[0]]) if with_person else UNASSIGNED
        if pid == UNASSIGNED:
            candidates = within[person[within] != UNASSIGNED]
            if len(candidates):
                pid = int(person[candidates[np.argmin(d[candidates])]])
        if is_core and pid == UNASSIGNED:
            pid = next_person
            next_person += 1
        if pid != UNASSIGNED:
            person[i] = pid
    return person


def ours(unit: NDArray[np.float32], params: ClusterParams) -> NDArray[np.int64]:
    photos = np.arange(len(unit))  # one face per LFW image (the largest); no cannot-links here
    return cluster_faces(unit, photos, params=params).labels


def row(name: str, score: BCubed, seconds: float) -> str:
    return (
        f"| {name} | {score.precision:.4f} | {score.recall:.4f} | {score.f:.4f} | {score.clusters:,} | "
        f"{score.classes:,} | {seconds:.1f} s |"
    )


def timed(fn: Callable[[], NDArray[np.int64]]) -> tuple[NDArray[np.int64], float]:
    start = time.perf_counter()
    labels = fn()
    return labels, time.perf_counter() - start


MODEL = ["dlib-resnet-v1"]  # the templates' model (--model): its calibration sets the thresholds


def default_params() -> ClusterParams:
    return ClusterParams.from_calibration(load_calibration(MODEL[0]))


def table(unit: NDArray[np.float32], raw: NDArray[np.float32], truth: NDArray[np.int64]) -> None:
    params = default_params()
    print(f"{len(unit):,} faces of {len(np.unique(truth)):,} people (LFW, {MODEL[0]})")
    print(
        f"faceprint thresholds (from the shipped calibration table): link {params.link:.4f}, "
        f"average {params.average:.4f}, attach {params.attach:.4f}, margin {params.margin}"
    )
    print()
    print(
        "| method | BCubed P | BCubed R | BCubed F | people found (>=2 faces) | true people (>=2 faces) | time |"
    )
    print("|---|---|---|---|---|---|---|")
    runs: list[tuple[str, Callable[[], NDArray[np.int64]]]] = [
        ("faceprint (strict linkage, calibrated)", lambda: ours(unit, params)),
        ("Immich (cosine distance 0.5, min 3 faces)", lambda: immich(raw, 0.5, 3, metric="cosine")),
        ("Immich rule at euclidean 0.5 (dlib scale), min 3", lambda: immich(raw, 0.5, 3, metric="euclidean")),
        ("face_recognition example (DBSCAN eps 0.5, min_samples 5)", lambda: dbscan(raw, 0.5, 5)),
    ]
    for name, fn in runs:
        labels, seconds = timed(fn)
        print(row(name, bcubed(truth, labels), seconds))


def split(files: list[str]) -> NDArray[np.bool_]:
    """Half of the identities (by a hash of the name): True = tuning half."""
    return np.array([hashlib.sha256(f.split("/")[0].encode()).digest()[0] % 2 == 0 for f in files])


def tune(unit: NDArray[np.float32], truth: NDArray[np.int64], files: list[str]) -> None:
    """Calibrated settings (FMR of the link and of the average gate) on each half of the identities."""
    half = split(files)
    calibration = load_calibration(MODEL[0])
    print("| link FMR | average FMR | half A: P / R / F | half B: P / R / F | all: P / R / F |")
    print("|---|---|---|---|---|")
    for link_fmr, average_fmr in ((1e-5, 1e-4), (2e-5, 1e-4), (1e-5, 5e-5), (3e-5, 1e-4), (3e-5, 1e-3)):
        params = ClusterParams.from_calibration(calibration, link_fmr=link_fmr, average_fmr=average_fmr)
        cells = []
        for mask in (half, ~half, np.ones(len(half), dtype=bool)):
            s = bcubed(truth[mask], ours(unit[mask], params))
            cells.append(f"{s.precision:.4f} / {s.recall:.4f} / {s.f:.4f}")
        print(f"| {link_fmr:g} | {average_fmr:g} | {' | '.join(cells)} |")


def incremental(unit: NDArray[np.float32], truth: NDArray[np.int64], seed: int) -> None:
    params = default_params()
    n = len(unit)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    x, t = unit[order], truth[order]
    photos = np.arange(n)
    cut = int(n * 0.9)
    start = time.perf_counter()
    whole = cluster_faces(x, photos, params=params).labels
    t_whole = time.perf_counter() - start
    start = time.perf_counter()
    first = cluster_faces(x[:cut], photos[:cut], params=params).labels
    t_first = time.perf_counter() - start
    labels = np.concatenate([first, np.full(n - cut, UNASSIGNED, dtype=np.int64)])
    new = np.arange(n) >= cut
    start = time.perf_counter()
    second = cluster_faces(x, photos, params=params, labels=labels, new=new).labels
    t_second = time.perf_counter() - start
    agree = bcubed(whole, second)
    print(f"{n:,} faces in random order (seed {seed}); first run {cut:,} faces, second run +{n - cut:,}")
    print("| run | BCubed F vs truth | P | R | time |")
    print("|---|---|---|---|---|")
    for name, labs, seconds in (
        ("all at once", whole, t_whole),
        ("90% (first run)", None, t_first),
        ("90% + 10% incremental", second, t_second),
    ):
        if labs is None:
            print(f"| {name} | — | — | — | {seconds:.2f} s |")
            continue
        s = bcubed(t, labs)
        print(f"| {name} | {s.f:.4f} | {s.precision:.4f} | {s.recall:.4f} | {seconds:.2f} s |")
    print()
    print(
        f"incremental vs all-at-once: BCubed F {agree.f:.4f} (P {agree.precision:.4f}, R {agree.recall:.4f}); "
        f"the +10% run took {t_second / t_whole:.0%} of the all-at-once time"
    )
    print()
    print("| new faces | incremental run | vs all at once (F) |")
    print("|---|---|---|")
    for share in (0.01, 0.05, 0.1, 0.2, 0.4):
        cut = int(n * (1 - share))
        first = cluster_faces(x[:cut], photos[:cut], params=params).labels
        labels = np.concatenate([first, np.full(n - cut, UNASSIGNED, dtype=np.int64)])
        start = time.perf_counter()
        again = cluster_faces(x, photos, params=params, labels=labels, new=np.arange(n) >= cut).labels
        seconds = time.perf_counter() - start
        print(f"| {n - cut:,} ({share:.0%}) | {seconds:.2f} s | {bcubed(whole, again).f:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", type=Path, default=ARTIFACTS)
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--incremental", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--embeddings", type=Path, default=None, help="another scripts/calibrate_lfw.py cache"
    )
    parser.add_argument("--model", default=MODEL[0], help="the model of --embeddings (its calibration table)")
    args = parser.parse_args()
    MODEL[0] = args.model
    unit, raw, truth, files = load(args.artifacts, args.embeddings)
    if args.tune:
        tune(unit, truth, files)
    elif args.incremental:
        incremental(unit, truth, args.seed)
    else:
        table(unit, raw, truth)


if __name__ == "__main__":
    main()
