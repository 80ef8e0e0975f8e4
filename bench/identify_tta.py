"""Test-time augmentation and gallery crowding on the 1:N protocol: which template pipeline ranks best.

    python bench/identify_tta.py ../shared/data/lfw [--photos composed|lfw] [--cache DIR] [--workers N]

Same protocol and photos as ``bench/identify_lfw.py`` (:func:`faceprint.identification.build_protocol`;
``composed`` photos are made by that script into ``--cache``/composed, or here if missing). For
every photo the default front end finds every face (plain templates, for the face choice and the
protocol's bookkeeping); the main face is then cut into 9 chips (dlib's chip with padding 0.25, the
same at padding 0.2 and 0.3 (the face 7% larger, 6% smaller), four shifts of 3 px, rotations of -6
and +6 degrees) and their mirror images, and all
18 are embedded. Printed: rank-1, FNIR at FPIR 0.1 / 0.01 and the store's default rule (with the
plain model's calibration, so its FPIR is only indicative) for averages of chosen views used on the
gallery side only or on both sides; then rank-1 when each gallery subject's score is lowered by half
its *crowding* (the mean similarity of its template to its k nearest other gallery templates, the
CSLS correction of hubness) for k = 0 (none), 10, 20, 50.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
import functools
import multiprocessing
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent))

from faceprint.align import face_chip
from faceprint.calibrate import load_calibration
from faceprint.choice import main_face
from faceprint.config import Settings
from faceprint.engine import Engine
from faceprint.errors import FaceprintError
from faceprint.identification import FaceTable, Protocol, build_protocol, people_folders, score_protocol
from faceprint.models.registry import load_embedder
from identify_lfw import composed_folder

VIEWS = ["dlib chip", "padding 0.2", "padding 0.3", "left", "right", "up", "down", "-6 deg", "+6 deg"]
SETS = {
    "mirror": [0, 9],
    "scales": [0, 1, 2],
    "scales + mirror": [0, 1, 2, 9, 10, 11],
    "shifts + mirror": [0, 3, 4, 5, 6, 9, 12, 13, 14, 15],
    "rotations + mirror": [0, 7, 8, 9, 16, 17],
    "all 18": list(range(18)),
}
_state: dict[str, Any] = {}


def _init() -> None:
    settings = dataclasses.replace(Settings.from_env(), threads=1, mirror=False, recogniser="resnet")
    _state["engine"] = Engine(settings).load()
    _state["embedder"] = load_embedder(threads=1)


def _rotated(points: NDArray[np.float64], degrees: float) -> NDArray[np.float64]:
    centre = points.mean(axis=0)
    a = np.deg2rad(degrees)
    turn = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.asarray((points - centre) @ turn.T + centre)


def views(image: NDArray[np.uint8], points: NDArray[np.float64]) -> list[NDArray[np.uint8]]:
    """The 9 chips of :data:`VIEWS` and their mirror images (18)."""
    out = [
        face_chip(image, points),
        face_chip(image, points, padding=0.2),
        face_chip(image, points, padding=0.3),
    ]
    big = face_chip(image, points, size=160, padding=0.3)  # its central 150 px are dlib's chip
    out += [np.ascontiguousarray(big[y : y + 150, x : x + 150]) for x, y in ((2, 5), (8, 5), (5, 2), (5, 8))]
    out += [face_chip(image, _rotated(points, d)) for d in (-6.0, 6.0)]
    return out + [np.ascontiguousarray(c[:, ::-1]) for c in out]


def _work(paths: list[str]) -> list[Any]:
    engine, embedder = _state["engine"], _state["embedder"]
    found = []
    for path in paths:
        try:
            rgb = engine.load_image(path)
            faces = engine.embed(rgb)
        except FaceprintError:
            found.append(((0, 0), [], None))
            continue
        size = (int(rgb.shape[1]), int(rgb.shape[0]))
        if not faces:
            found.append((size, [], None))
            continue
        k = main_face([f.box for f in faces], *size)
        vectors = embedder.embed_chips(views(rgb, faces[k].landmarks))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        rows = [(f.box, float(f.score), f.template.vector) for f in faces if f.template is not None]
        found.append((size, rows, (k, vectors.astype(np.float32))))
    return found


def embed_all(root: Path, files: list[str], workers: int) -> list[Any]:
    paths = [str(root / f) for f in files]
    chunks = [paths[i : i + 8] for i in range(0, len(paths), 8)]
    out: list[Any] = []
    started = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init) as pool:
        for i, part in enumerate(pool.map(_work, chunks)):
            out += part
            if i % 100 == 0:
                print(
                    f"  {len(out)}/{len(paths)} photos, {time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                )
    return out


@functools.cache
def main_rows(table: FaceTable) -> NDArray[np.int64]:
    """Per photo, the table row of its main face (-1: none): chosen once per table, used by every line."""
    return table.choose()[0]


def with_views(table: FaceTable, found: list[Any], picks: list[int]) -> NDArray[np.float32]:
    """The table's templates with each main face's replaced by the mean of views ``picks``."""
    chosen = main_rows(table)
    templates = table.templates.copy()
    for i, (_, _, extra) in enumerate(found):
        if extra is not None:
            mean = extra[1][picks].mean(axis=0)
            templates[chosen[i]] = mean / np.linalg.norm(mean)
    return templates


def gallery_of(protocol: Protocol, table: FaceTable, templates: NDArray[np.float32]) -> NDArray[np.float32]:
    chosen = main_rows(table)
    row = {f: i for i, f in enumerate(table.files)}
    zero = np.zeros(templates.shape[1], np.float32)
    return np.stack([templates[chosen[row[f]]] if chosen[row[f]] >= 0 else zero for _, f in protocol.gallery])


def crowded_rank1(protocol: Protocol, table: FaceTable, templates: NDArray[np.float32], k: int) -> float:
    """Closed-set rank-1 when each gallery template's score is lowered by half its crowding (top-k mean)."""
    chosen = main_rows(table)
    row = {f: i for i, f in enumerate(table.files)}
    gallery = gallery_of(protocol, table, templates)
    enrolled = np.linalg.norm(gallery, axis=1) > 0
    zero = np.zeros(templates.shape[1], np.float32)
    probes = np.stack([templates[chosen[row[f]]] if chosen[row[f]] >= 0 else zero for _, f in protocol.mated])
    index = {s: i for i, (s, _) in enumerate(protocol.gallery)}
    truth = np.array([index[s] for s, _ in protocol.mated])
    crowding = np.zeros(len(gallery))
    if k:
        near = gallery @ gallery.T
        np.fill_diagonal(near, -np.inf)
        near[:, ~enrolled] = -np.inf
        crowding = -np.sort(-near, axis=1)[:, :k].mean(axis=1)
    scores = probes @ gallery.T - crowding[None, :] / 2
    scores[:, ~enrolled] = -np.inf
    ok = (np.argmax(scores, axis=1) == truth) & (np.linalg.norm(probes, axis=1) > 0)
    return float(ok.mean())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("lfw", type=Path)
    parser.add_argument("--photos", choices=["composed", "lfw"], default="composed")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/faceprint-1n"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    protocol = build_protocol(people_folders(args.lfw), held_out=300, per_person=2, seed=0)
    files = protocol.files
    root = args.lfw if args.photos == "lfw" else composed_folder(args.lfw, files, args.cache / "composed")
    cache = args.cache / f"tta-{args.photos}.pkl"
    if cache.is_file():
        found = pickle.loads(cache.read_bytes())
    else:
        found = embed_all(root, files, args.workers)
        args.cache.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(found))
    table = FaceTable.from_faces(files, [(s, rows) for s, rows, _ in found], model="dlib-resnet-v1", dim=128)
    calibration = load_calibration("dlib-resnet-v1")

    print("| views averaged | side | rank-1 | FNIR @ FPIR 0.1 | 0.01 | default rule FPIR | TPIR |")
    print("|---|---|---|---|---|---|---|")

    def line(name: str, side: str, templates: NDArray[np.float32] | None, both: bool) -> None:
        probe_table = (
            table if templates is None or not both else dataclasses.replace(table, templates=templates)
        )
        gallery = None if templates is None else gallery_of(protocol, table, templates)
        r = score_protocol(protocol, probe_table, calibration=calibration, gallery_templates=gallery)
        d = r.default
        print(
            f"| {name} | {side} | {r.rank1:.4f} | {r.fnir_at_fpir['0.1']:.3f} | {r.fnir_at_fpir['0.01']:.3f} "
            f"| {d.fpir:.4f} | {d.tpir:.3f} |"
        )

    line("none (dlib's chip)", "-", None, False)
    for name, picks in SETS.items():
        templates = with_views(table, found, picks)
        line(name, "gallery", templates, False)
        line(name, "both", templates, True)
    print("\n| templates | crowding k = 0 | 10 | 20 | 50 |\n|---|---|---|---|---|")
    for name, templates in (
        ("plain", table.templates),
        ("mirror", with_views(table, found, SETS["mirror"])),
        ("scales + mirror", with_views(table, found, SETS["scales + mirror"])),
    ):
        cells = " | ".join(f"{crowded_rank1(protocol, table, templates, k):.4f}" for k in (0, 10, 20, 50))
        print(f"| {name} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
