"""Face detection at real photo sizes, with ground truth: faceprint's detectors vs face_recognition.

    bash bench/run.sh detect [--detectors hog,cnn] [--photos 60] [--e2e-photos 20]
                             [--peer-cnn-photos 2] [--sets dlib,bald_guys,composed] [--json FILE]

Data sets (every method sees the same JPEG bytes, photo by photo, in one run):

- ``dlib``: the 9 PASCAL VOC photos of dlib's face-detection example set (``training.xml`` and
  ``testing.xml`` in ``../shared/data/detect``, imglab XML, ~500x375 px, 43 faces of 37-109 px).
  Their boxes follow the convention of dlib's HOG detector (faceprint's HOG boxes match them at a
  median width ratio of 1.00). ``ignore="1"`` boxes are neither hits nor false positives.
- ``bald_guys``: ``bald_guys.jpg`` (1986x1545, a collage of 24 portraits). dlib's XML files have no
  boxes for it; ``bench/data/bald_guys.xml`` holds ours (same format and convention: dlib's HOG
  boxes, each checked by eye on the drawn photo; every face is also found by the CNN, and no face is
  missed by both). Reported on its own and with the other 9.
- ``composed``: ``--photos`` phone-sized 4032x3024 JPEGs from ``tests/compose.py`` (LFW faces of
  40-800 px, 1-10 a photo, on varied backgrounds), seeds ``--seed`` .. ``--seed + N - 1``, cached
  under ``artifacts/detect-bench/`` (keyed by a hash of compose.py; never committed). Boxes follow
  dlib's HOG convention (see compose.py).

Methods:

- ``faceprint <name>`` for each ``--detectors`` name (default: the engine's default detector,
  ``faceprint.Settings().detector``, plus ``cnn``): ``faceprint.Engine(detector=name).detect(jpeg)``,
  timed end to end from the JPEG bytes (decode, the engine's downscale, detection and the 5
  landmarks). Other settings come from the ``FACEPRINT_*`` environment like any engine; the header
  prints them.
- ``face_recognition hog``: ``face_recognition.load_image_file(bytes) + face_locations(img)`` (its
  defaults: HOG, upsample 1), timed from the same bytes (decode included, so both sides pay it).
- ``face_recognition cnn``: the same with ``model="cnn"``, on ``dlib`` and ``bald_guys`` (85 s and
  10.6 GB for bald_guys.jpg). At upsample 1 a 12 MP photo needs more than 24 GB (OOM-killed on this
  23 GB machine), so on ``composed`` it runs as ``face_recognition cnn upsample 0`` (faces from
  ~80 px; ~1.5-2 min a photo) on the first ``--peer-cnn-photos`` only; its ratio column compares
  against each method's median on the same photos. ``--no-peer-cnn`` leaves it out.

Matching rule (the same for every method and data set): a detection *hits* a ground-truth face when
its centre lies within 0.35 x the GT box width of the GT centre **and** its width is 0.5-2 x the GT
width. Pairs that pass are assigned one to one, closest (relative centre distance) first. A
detection left over is ignored when it passes the rule against an ``ignore`` box, else it is a false
positive (a second detection of a matched face is one too). Why not IoU: box conventions differ by
detector — HOG's boxes are tight squares from brows to chin, MMOD's (the CNN's) sit higher by ~0.1
box width and are 5-10% larger or smaller, face_recognition trims boxes to the image — and IoU mixes
scale and offset so that one convention loses hits to another at a given threshold, worst for small
faces, where a few pixels are a large share of the box. The centre/size rule accepts any of these
conventions for a correctly found face and still rejects a box on the wrong face, on a face part, or
at a wrong scale. The median width and centre offset of matched boxes relative to the GT box are
reported per method, so a new detector's box convention is visible.

Recall is per GT face size (the GT box width) bucket; ``>=40`` is the recall over faces of 40 px
and up. False positives are per photo; on ``composed`` an unmatched detection whose centre lies in a
pasted LFW square is counted apart ("extra in LFW tiles": LFW photos can show people behind their
subject), not as a false positive. Times are medians and 90th percentiles in ms per photo; the
ratio columns are face_recognition's median / the method's median (above 1: faceprint faster).

End to end (``composed``, first ``--e2e-photos``): ``Engine(detector=name).embed(jpeg)`` (decode,
detect, landmarks and a template for every face) vs face_recognition's default pipeline
(``load_image_file`` + ``face_locations`` + ``face_encodings(img, locations)``; its time is the
detection call above plus ``face_encodings`` on the boxes it found, measured right after). Targets
(issue 13): median <= 300 ms per photo and >= 20x face_recognition's.

Timings are indicative: the 2-core machine is shared; the load average before and after the run is
printed. Every method runs on the same photo before the next photo, so load affects all alike.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import os
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.compose

from tests.compose import compose_photo, lfw_files  # noqa: E402

import faceprint  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
Box = tuple[float, float, float, float]  # left, top, right, bottom
BUCKETS = ((0, 40), (40, 60), (60, 80), (80, 120), (120, 200), (200, 400), (400, math.inf))
CENTRE = 0.35  # max centre distance, in GT widths
SCALE = (0.5, 2.0)  # allowed detection width / GT width


@dataclass
class Photo:
    name: str
    jpeg: bytes
    boxes: list[Box]
    ignore: list[Box] = field(default_factory=list)
    tiles: list[Box] = field(default_factory=list)  # composed: the pasted LFW squares


@dataclass
class Result:
    """One method on one photo."""

    ms: float
    boxes: list[Box]
    hits: list[bool]  # per GT box
    false_positives: int  # outside every LFW tile
    in_tiles: int  # unmatched, inside a pasted LFW square: may be a real face behind its subject
    ignored: int
    matched: list[tuple[Box, Box]]  # (gt, detection)


@dataclass
class Method:
    label: str
    run: Callable[[bytes], list[Box] | None]  # None: not run on this photo (see Method.skips)
    limit: int | None = None  # photos per composed set (peer CNN)
    sets: tuple[str, ...] | None = None  # the data sets it runs on (None: all)
    skips: list[str] = field(default_factory=list)
    results: dict[str, dict[str, Result]] = field(default_factory=dict)  # set -> photo -> result
    e2e_ms: list[float] = field(default_factory=list)
    e2e_faces: list[int] = field(default_factory=list)
    skipped: str = ""


# -- matching ------------------------------------------------------------------------------------


def _passes(det: Box, gt: Box) -> float | None:
    """Relative centre distance when ``det`` may match ``gt`` under the rule, else None."""
    gw = gt[2] - gt[0]
    dw = det[2] - det[0]
    if gw <= 0 or not SCALE[0] <= dw / gw <= SCALE[1]:
        return None
    dx = (det[0] + det[2] - gt[0] - gt[2]) / 2
    dy = (det[1] + det[3] - gt[1] - gt[3]) / 2
    dist = math.hypot(dx, dy) / gw
    return dist if dist <= CENTRE else None


def match(
    dets: Sequence[Box], gts: Sequence[Box], ignore: Sequence[Box], tiles: Sequence[Box] = ()
) -> tuple[list[bool], int, int, int, list[tuple[Box, Box]]]:
    """Hits per GT box, false positives (outside ``tiles``), extras inside tiles, ignored, matches."""
    pairs = sorted(
        (d, i, j)
        for i, det in enumerate(dets)
        for j, gt in enumerate(gts)
        if (d := _passes(det, gt)) is not None
    )
    used_det: set[int] = set()
    hits = [False] * len(gts)
    matched = []
    for _, i, j in pairs:
        if i in used_det or hits[j]:
            continue
        used_det.add(i)
        hits[j] = True
        matched.append((gts[j], dets[i]))
    fp = in_tiles = ignored = 0
    for i, det in enumerate(dets):
        if i in used_det:
            continue
        cx, cy = (det[0] + det[2]) / 2, (det[1] + det[3]) / 2
        if any(_passes(det, box) is not None for box in ignore):
            ignored += 1
        elif any(t[0] <= cx < t[2] and t[1] <= cy < t[3] for t in tiles):
            in_tiles += 1
        else:
            fp += 1
    return hits, fp, in_tiles, ignored, matched


# -- data ------------------------------------------------------------------------------------------


def read_imglab(xml: Path, folder: Path) -> list[Photo]:
    photos = []
    for image in ET.parse(xml).getroot().iter("image"):
        boxes, ignore = [], []
        for b in image.iter("box"):
            left, top = float(b.get("left", 0)), float(b.get("top", 0))
            box = (left, top, left + float(b.get("width", 0)), top + float(b.get("height", 0)))
            (ignore if b.get("ignore") == "1" else boxes).append(box)
        name = image.get("file", "")
        photos.append(Photo(name, (folder / name).read_bytes(), boxes, ignore))
    return photos


def composed_photos(lfw: Path, cache: Path, first: int, count: int) -> list[Photo]:
    """``count`` composed photos from seeds ``first``.., made once and cached as JPEG + JSON."""
    source = (ROOT / "tests" / "compose.py").read_bytes()
    folder = cache / f"composed-{hashlib.sha256(source).hexdigest()[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] | None = None
    photos = []
    for seed in range(first, first + count):
        jpg, meta = folder / f"seed-{seed:05d}.jpg", folder / f"seed-{seed:05d}.json"
        if not (jpg.exists() and meta.exists()):
            if files is None:
                files = lfw_files(lfw)
                if not files:
                    raise SystemExit(f"no LFW images under {lfw}")
            photo = compose_photo(lfw, seed, files=files)
            jpg.write_bytes(photo.jpeg)
            meta.write_text(json.dumps({"boxes": photo.boxes, "people": photo.people, "tiles": photo.tiles}))
        info = json.loads(meta.read_text())
        boxes = [tuple(b) for b in info["boxes"]]
        tiles = [tuple(b) for b in info["tiles"]]
        photos.append(Photo(jpg.name, jpg.read_bytes(), boxes, tiles=tiles))  # type: ignore[arg-type]
    return photos


# -- methods ---------------------------------------------------------------------------------------


def faceprint_method(name: str) -> tuple[Method, faceprint.Engine | None]:
    try:
        engine = faceprint.Engine(detector=name).load()
    except faceprint.FaceprintError as exc:
        return Method(f"faceprint {name}", lambda _: [], skipped=str(exc)), None

    def run(jpeg: bytes) -> list[Box]:
        return [(f.box.left, f.box.top, f.box.right, f.box.bottom) for f in engine.detect(jpeg)]

    return Method(f"faceprint {name}", run), engine


def available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 8 << 30


#: dlib's CNN (as face_recognition runs it) holds about this much memory per pixel of the
#: upsampled image: bald_guys.jpg at upsample 1 (12.3 Mpx) peaked at 10.6 GB; a 4032x3024 photo at
#: upsample 1 (48.8 Mpx) grew past 24 GB and was OOM-killed. Photos that would need more than 60%
#: of the available memory are skipped (and counted on stderr).
CNN_BYTES_PER_PIXEL = 900


def peer_methods(cnn_limit: int, cnn: bool) -> tuple[list[Method], object]:
    import face_recognition as fr

    def runner(model: str, upsample: int, skips: list[str]) -> Callable[[bytes], list[Box] | None]:
        def run(jpeg: bytes) -> list[Box] | None:
            img = fr.load_image_file(io.BytesIO(jpeg))
            if model == "cnn":
                need = img.shape[0] * img.shape[1] * 4**upsample * CNN_BYTES_PER_PIXEL
                if need > 0.6 * available_bytes():
                    skips.append(f"{img.shape[1]}x{img.shape[0]} needs ~{need / 2**30:.0f} GiB")
                    return None
            locs = fr.face_locations(img, upsample, model=model)
            return [
                (float(left), float(top), float(right), float(bottom)) for top, right, bottom, left in locs
            ]

        return run

    hog = Method("face_recognition hog", lambda _: None)
    hog.run = runner("hog", 1, hog.skips)
    methods = [hog]
    if not cnn:
        return methods, fr
    cnn1 = Method("face_recognition cnn", lambda _: None, sets=("dlib", "bald_guys"))
    cnn1.run = runner("cnn", 1, cnn1.skips)
    methods.append(cnn1)
    if cnn_limit:
        # Its default upsample 1 cannot run on 12 MP here (memory); upsample 0 searches the photo
        # at full size, which finds faces down to about 80 px.
        cnn0 = Method("face_recognition cnn upsample 0", lambda _: None, limit=cnn_limit, sets=("composed",))
        cnn0.run = runner("cnn", 0, cnn0.skips)
        methods.append(cnn0)
    return methods, fr


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return (time.perf_counter() - start) * 1000.0, out


# -- report ----------------------------------------------------------------------------------------


def bucket_label(lo: float, hi: float) -> str:
    if lo == 0:
        return f"<{hi:g}"
    return f">={lo:g}" if hi == math.inf else f"{lo:g}-{hi:g}"


def pct(hits: int, total: int) -> str:
    return "-" if total == 0 else f"{100 * hits / total:.0f}% ({hits}/{total})"


def p90(values: list[float]) -> float:
    return float(np.percentile(values, 90)) if values else math.nan


def summarise(method: Method, photos: list[Photo], res: dict[str, Result]) -> dict[str, object]:
    by_bucket = {bucket_label(lo, hi): [0, 0] for lo, hi in BUCKETS}
    ge40 = [0, 0]
    scale, offset = [], []
    for photo in photos:
        r = res[photo.name]
        for box, hit in zip(photo.boxes, r.hits, strict=True):
            w = box[2] - box[0]
            for lo, hi in BUCKETS:
                if lo <= w < hi:
                    by_bucket[bucket_label(lo, hi)][0] += hit
                    by_bucket[bucket_label(lo, hi)][1] += 1
            if w >= 40:
                ge40[0] += hit
                ge40[1] += 1
        for gt, det in r.matched:
            gw = gt[2] - gt[0]
            scale.append((det[2] - det[0]) / gw)
            offset.append(((det[1] + det[3]) - (gt[1] + gt[3])) / 2 / gw)
    times = [res[p.name].ms for p in photos]
    hits_all = sum(sum(res[p.name].hits) for p in photos)
    faces_all = sum(len(p.boxes) for p in photos)
    return {
        "method": method.label,
        "photos": len(photos),
        "faces": faces_all,
        "recall": {k: (v[0] / v[1] if v[1] else None) for k, v in by_bucket.items()},
        "counts": by_bucket,
        "recall_ge40": ge40[0] / ge40[1] if ge40[1] else None,
        "hits_ge40": ge40,
        "recall_all": hits_all / faces_all if faces_all else None,
        "hits_all": [hits_all, faces_all],
        "fp_per_photo": sum(res[p.name].false_positives for p in photos) / len(photos),
        "in_tiles_per_photo": sum(res[p.name].in_tiles for p in photos) / len(photos),
        "median_ms": statistics.median(times),
        "p90_ms": p90(times),
        "box_scale": statistics.median(scale) if scale else None,
        "box_dy": statistics.median(offset) if offset else None,
    }


def print_table(
    set_name: str, photos: list[Photo], methods: list[Method], note: str
) -> list[dict[str, object]]:
    rows = []
    peer_hog = next((m for m in methods if m.label == "face_recognition hog" and set_name in m.results), None)
    peer_cnn = next(
        (m for m in methods if m.label.startswith("face_recognition cnn") and set_name in m.results), None
    )
    for m in methods:
        if set_name not in m.results:
            continue
        done = [p for p in photos if p.name in m.results[set_name]]
        row = summarise(m, done, m.results[set_name])
        if peer_hog is not None:
            row["fr_hog_ratio"] = summarise(peer_hog, done, peer_hog.results[set_name])["median_ms"] / float(
                row["median_ms"]  # type: ignore[arg-type]
            )
        if peer_cnn is not None:
            sub = [p for p in done if p.name in peer_cnn.results[set_name]]
            if sub:
                theirs = summarise(peer_cnn, sub, peer_cnn.results[set_name])["median_ms"]
                ours = statistics.median(m.results[set_name][p.name].ms for p in sub)
                row["fr_cnn_ratio"] = float(theirs) / ours  # type: ignore[arg-type]
                row["fr_cnn_photos"] = len(sub)
        rows.append(row)
    faces = sum(len(p.boxes) for p in photos)
    ign = sum(len(p.ignore) for p in photos)
    print(f"\n### {set_name}: {len(photos)} photos, {faces} faces" + (f" (+{ign} ignore)" if ign else ""))
    if note:
        print(note)
    print()
    labels = [bucket_label(lo, hi) for lo, hi in BUCKETS]
    used = [lab for lab in labels if any(r["counts"][lab][1] for r in rows)]  # type: ignore[index]
    head = ["method", "photos", *[f"recall {lab} px" for lab in used], "recall >=40", "recall all"]
    tiles = any(p.tiles for p in photos)
    head += ["FP/photo", *(["extra in LFW tiles/photo"] if tiles else [])]
    head += ["median ms", "p90 ms", "fr hog / this", "fr cnn / this", "box w/GT w, dy"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        counts = r["counts"]
        cells = [f"{r['method']}", str(r["photos"])]
        cells += [pct(*counts[lab]) for lab in used]  # type: ignore[index]
        cells += [pct(*r["hits_ge40"]), pct(*r["hits_all"])]  # type: ignore[misc]
        cells.append(f"{r['fp_per_photo']:.2f}")
        if tiles:
            cells.append(f"{r['in_tiles_per_photo']:.2f}")
        cells += [f"{r['median_ms']:.0f}", f"{r['p90_ms']:.0f}"]
        cells.append(f"{r['fr_hog_ratio']:.2f}x" if "fr_hog_ratio" in r else "")
        cnn = f"{r['fr_cnn_ratio']:.2f}x" if "fr_cnn_ratio" in r else ""
        if cnn and r["fr_cnn_photos"] != r["photos"]:
            cnn += f" (on {r['fr_cnn_photos']})"
        cells.append(cnn)
        cells.append(f"{r['box_scale']:.2f}, {r['box_dy']:+.2f}" if r["box_scale"] is not None else "")
        print("| " + " | ".join(cells) + " |")
    return rows


# -- main ------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_detectors = ",".join(dict.fromkeys([faceprint.Settings().detector, "cnn"]))
    parser.add_argument(
        "--detectors", default=default_detectors, help=f"faceprint detectors ({default_detectors})"
    )
    parser.add_argument("--sets", default="dlib,bald_guys,composed")
    parser.add_argument("--photos", type=int, default=60, help="composed 4032x3024 photos")
    parser.add_argument("--seed", type=int, default=1000, help="seed of the first composed photo")
    parser.add_argument(
        "--e2e-photos", type=int, default=20, help="composed photos timed end to end (0: none)"
    )
    parser.add_argument(
        "--peer-cnn-photos", type=int, default=2, help="composed photos for fr's CNN (0: none)"
    )
    parser.add_argument("--no-peer", action="store_true", help="faceprint only (no face_recognition)")
    parser.add_argument(
        "--no-peer-cnn", action="store_true", help="no face_recognition CNN (the slowest part)"
    )
    parser.add_argument("--detect-dir", type=Path, default=DATA / "detect")
    parser.add_argument("--lfw", type=Path, default=DATA / "lfw")
    parser.add_argument("--cache", type=Path, default=ROOT / "artifacts" / "detect-bench")
    parser.add_argument("--json", type=Path, help="write the summaries and per-photo results here")
    args = parser.parse_args()

    sets: dict[str, list[Photo]] = {}
    wanted = args.sets.split(",")
    if "dlib" in wanted:
        sets["dlib"] = [
            p
            for x in ("training.xml", "testing.xml")
            for p in read_imglab(args.detect_dir / x, args.detect_dir)
        ]
    if "bald_guys" in wanted:
        sets["bald_guys"] = read_imglab(ROOT / "bench" / "data" / "bald_guys.xml", args.detect_dir)
    if "composed" in wanted and args.photos:
        sets["composed"] = composed_photos(args.lfw, args.cache, args.seed, args.photos)

    methods: list[Method] = []
    engines: dict[str, faceprint.Engine] = {}
    for name in args.detectors.split(","):
        method, engine = faceprint_method(name.strip())
        if method.skipped:
            print(f"skipped {method.label}: {method.skipped}", file=sys.stderr)
            continue
        methods.append(method)
        if engine is not None:
            engines[method.label] = engine
    fr = None
    if not args.no_peer:
        try:
            peers, fr = peer_methods(args.peer_cnn_photos, not args.no_peer_cnn)
            methods += peers
        except ImportError:
            print(
                "face_recognition is not installed: run this through bash bench/run.sh detect",
                file=sys.stderr,
            )
            return 2
    if not methods:
        return 2

    load_before = os.getloadavg()
    settings = next(iter(engines.values())).settings if engines else faceprint.Settings()
    print(
        f"# faceprint detection benchmark ({os.cpu_count()} cores, load average {load_before[0]:.2f} at start)\n"
        f"faceprint {faceprint.__version__}: backend {settings.backend}, upsample {settings.upsample}, "
        f"detect_max_side {settings.detect_max_side}; matching: centre within {CENTRE} GT widths, "
        f"width ratio {SCALE[0]}-{SCALE[1]}"
    )
    warm = next(iter(sets.values()))[0].jpeg if sets else None
    if warm is not None:
        for m in methods:
            m.run(warm)
            m.skips.clear()  # loads models and builds / reads cached graphs outside the timings

    started = time.perf_counter()
    for set_name, photos in sets.items():
        for k, photo in enumerate(photos):
            for m in methods:
                if (m.sets is not None and set_name not in m.sets) or (m.limit is not None and k >= m.limit):
                    continue
                ms, boxes = timed(lambda m=m, photo=photo: m.run(photo.jpeg))
                if boxes is None:
                    continue
                assert isinstance(boxes, list)
                hits, fp, in_tiles, ignored, matched = match(boxes, photo.boxes, photo.ignore, photo.tiles)
                result = Result(ms, boxes, hits, fp, in_tiles, ignored, matched)
                m.results.setdefault(set_name, {})[photo.name] = result
                if set_name == "composed" and k < args.e2e_photos:
                    if m.label in engines:
                        engine = engines[m.label]
                        ems, faces = timed(lambda engine=engine, photo=photo: engine.embed(photo.jpeg))
                        m.e2e_ms.append(ems)
                        m.e2e_faces.append(len(faces))  # type: ignore[arg-type]
                    elif m.label == "face_recognition hog" and fr is not None:
                        img = fr.load_image_file(io.BytesIO(photo.jpeg))  # type: ignore[attr-defined]
                        locs = [(int(b[1]), int(b[2]), int(b[3]), int(b[0])) for b in boxes]
                        ems, encs = timed(lambda img=img, locs=locs: fr.face_encodings(img, locs))  # type: ignore[attr-defined]
                        m.e2e_ms.append(ms + ems)
                        m.e2e_faces.append(len(encs))  # type: ignore[arg-type]
            print(
                f"  {set_name} {k + 1}/{len(photos)} ({time.perf_counter() - started:.0f} s)", file=sys.stderr
            )

    notes = {
        "dlib": "dlib's PASCAL VOC example photos (~500x375); GT boxes in HOG convention.",
        "bald_guys": "bald_guys.jpg (1986x1545); GT: bench/data/bald_guys.xml (our annotation).",
        "composed": f"4032x3024 JPEGs from tests/compose.py, seeds {args.seed}-{args.seed + args.photos - 1}; "
        "GT boxes in HOG convention. FP/photo: detections on the background; 'extra in LFW tiles': "
        "unmatched detections inside a pasted LFW photo (real people behind its subject, or false). "
        "face_recognition's CNN at its default upsample 1 needs >24 GB on 12 MP (OOM-killed here), so "
        f"it runs at upsample 0 on the first {args.peer_cnn_photos} photos only (~1.5 min each).",
    }
    for m in methods:
        if m.skips:
            print(f"{m.label} skipped {len(m.skips)} photos: {m.skips[0]}", file=sys.stderr)
    if "dlib" in sets and "bald_guys" in sets:  # the whole example folder, from the same runs
        sets = {"dlib": sets["dlib"], "bald_guys": sets["bald_guys"], **sets}
        sets["dlib + bald_guys"] = sets["dlib"] + sets["bald_guys"]
        notes["dlib + bald_guys"] = (
            "All 10 photos of ../shared/data/detect that have boxes (the two tables above)."
        )
        for m in methods:
            if "dlib" in m.results and "bald_guys" in m.results:
                m.results["dlib + bald_guys"] = {**m.results["dlib"], **m.results["bald_guys"]}
        sets = {k: sets[k] for k in ("dlib", "bald_guys", "dlib + bald_guys", "composed") if k in sets}
    report: dict[str, object] = {"sets": {}}
    for set_name, photos in sets.items():
        report["sets"][set_name] = print_table(set_name, photos, methods, notes[set_name])  # type: ignore[index]

    e2e = [m for m in methods if m.e2e_ms]
    peer = next((m for m in e2e if m.label == "face_recognition hog"), None)
    if e2e:
        n = len(e2e[0].e2e_ms)
        print(
            f"\n### end to end: decode + detect + landmarks + template of every face, {n} composed photos\n"
        )
        print(
            "| method | median ms | p90 ms | faces/photo | fr default / this | target <= 300 ms | target >= 20x |"
        )
        print("|---|---|---|---|---|---|---|")
        rows = []
        for m in e2e:
            med = statistics.median(m.e2e_ms)
            ratio = statistics.median(peer.e2e_ms) / med if peer is not None else math.nan
            ours = m.label.startswith("faceprint")
            rows.append({"method": m.label, "median_ms": med, "p90_ms": p90(m.e2e_ms), "ratio": ratio})
            print(
                f"| {m.label} | {med:.0f} | {p90(m.e2e_ms):.0f} | {statistics.fmean(m.e2e_faces):.1f} | "
                f"{ratio:.2f}x | {('met' if med <= 300 else 'missed') if ours else ''} | "
                f"{('met' if ratio >= 20 else 'missed') if ours and peer else ''} |"
            )
        report["end_to_end"] = rows
    load_after = os.getloadavg()
    print(
        f"\n{time.perf_counter() - started:.0f} s; load average {load_before[0]:.2f} at start, "
        f"{load_after[0]:.2f} at the end (this run uses about 1 core; timings are indicative)."
    )
    if args.json:
        report["per_photo"] = {
            m.label: {
                s: {
                    p: {"ms": r.ms, "boxes": r.boxes, "hits": r.hits, "fp": r.false_positives}
                    for p, r in res.items()
                }
                for s, res in m.results.items()
            }
            for m in methods
        }
        report["load_average"] = [load_before, load_after]
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
