"""1:N identification on LFW photos: faceprint's pipelines and face_recognition's, same photos.

    python bench/identify_lfw.py ../shared/data/lfw [--photos composed|lfw] [--pipelines LIST]
        [--people N] [--plot det.png] [--json out.json] [--cache DIR] [--workers N]

The protocol is :func:`faceprint.identification.build_protocol` (gallery of every person's first
photo plus single-photo distractors, 300 people held out as strangers, up to 2 probes each).
``--photos lfw`` uses the deep-funneled crops as they are; ``--photos composed`` (default) first
places each photo, whole, at a random size (face 40-160 px) and position (centre within 20% of
the middle) in a bigger photo of 300-640 px (``tests/compose.py:compose_portrait``, seeded by the
file name), so detection, face choice and upsampling are exercised, not only LFW's central crop.
Every pipeline sees the same JPEG bytes:

- ``faceprint-blazeface``, ``faceprint-hog``, ``faceprint-cnn``: ``Engine.embed`` (every face, the
  recogniser of ``FACEPRINT_RECOGNISER``, default SFace, mirror-averaged as that recogniser's default
  says; ``+mirror`` / ``+plain``: asked for), the main face chosen as the store does, decided by the
  store's default rule (tables cached per template space);
- ``face_recognition``: ``face_locations`` (HOG, upsample 1) + ``face_encodings`` (5-point
  landmarks, as its default), the first face, the nearest gallery face within distance 0.6.

Faces of every photo are cached per pipeline under ``--cache`` (default /tmp/faceprint-1n), so
re-runs only score. Prints rank-1, FNIR at FPIR 0.1/0.01/0.001 and each rule's FPIR/FNIR/TPIR;
``--plot`` writes the DET curves of all pipelines into one PNG.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
import json
import multiprocessing
import sys
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/compose.py

from faceprint.calibrate import load_calibration
from faceprint.config import Settings
from faceprint.engine import Engine
from faceprint.faces import Box
from faceprint.identification import (
    FaceTable,
    IdentificationReport,
    Protocol,
    build_protocol,
    find_faces,
    people_folders,
    plot_det,
    score_protocol,
)


def composed_folder(lfw: Path, files: Sequence[str], out: Path) -> Path:
    """``out`` holding every file of ``files`` as a composed photo (made once, then reused)."""
    from tests.compose import compose_portrait, lfw_files

    backgrounds = lfw_files(lfw)
    for f in files:
        target = out / f
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        photo = compose_portrait(lfw / f, zlib.crc32(f.encode()), files=backgrounds)
        target.write_bytes(photo.jpeg)
    return out


def _fr_faces(paths: Sequence[str]) -> list[tuple[tuple[int, int], list[tuple[Box, float, np.ndarray]]]]:
    import face_recognition as fr

    out = []
    for path in paths:
        image = fr.load_image_file(path)
        locations = fr.face_locations(image, number_of_times_to_upsample=1, model="hog")
        encodings = fr.face_encodings(image, locations, num_jitters=1, model="small")
        faces = [
            (
                Box(float(left), float(top), float(right), float(bottom)),
                float("nan"),
                np.asarray(enc, np.float32),
            )
            for (top, right, bottom, left), enc in zip(locations, encodings, strict=True)
        ]
        out.append(((int(image.shape[1]), int(image.shape[0])), faces))
    return out


def face_recognition_table(root: Path, files: Sequence[str], workers: int) -> FaceTable:
    paths = [str(root / f) for f in files]
    chunks = [paths[i : i + 8] for i in range(0, len(paths), 8)]
    found: list[tuple[tuple[int, int], list[tuple[Box, float, np.ndarray]]]] = []
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        for i, chunk in enumerate(pool.map(_fr_faces, chunks)):
            found += chunk
            if i % 50 == 0:
                print(f"  face_recognition: {len(found)}/{len(paths)}", file=sys.stderr, flush=True)
    return FaceTable.from_faces(
        files, found, model="", dim=128, pipeline="face_recognition (HOG, upsample 1, first face, 0.6)"
    )


def subset(people: dict[str, list[str]], count: int, seed: int) -> dict[str, list[str]]:
    names = sorted(people)
    rng = np.random.default_rng(seed)
    keep = sorted(names[i] for i in rng.choice(len(names), size=min(count, len(names)), replace=False))
    return {n: people[n] for n in keep}


def report_lines(report: IdentificationReport) -> list[str]:
    lines = [
        f"{report.pipeline}: {report.gallery} subjects enrolled, {report.mated} mated probes, "
        f"{report.non_mated} strangers; {report.refused} gallery photos with rival faces, "
        f"{report.no_face} photos without a face",
        f"  closed-set rank-1 {report.rank1:.4f}; FNIR at FPIR "
        + ", ".join(f"{k}: {v:.4f}" for k, v in report.fnir_at_fpir.items()),
    ]
    for p in report.points:
        lines.append(
            f"  {p.name:48s} threshold {p.threshold:.4f}  FPIR {p.fpir:.4f}  FNIR {p.fnir:.4f}  TPIR {p.tpir:.4f}"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("lfw", type=Path)
    parser.add_argument("--photos", choices=["composed", "lfw"], default="composed")
    parser.add_argument("--pipelines", default="faceprint-blazeface,face_recognition")
    parser.add_argument("--people", type=int, default=0, help="a seeded subset of N people (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--held-out", type=int, default=300)
    parser.add_argument("--per-person", type=int, default=2)
    parser.add_argument(
        "--upsample", type=int, default=None, help="faceprint pipelines (default: each detector's own)"
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/faceprint-1n"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    people = people_folders(args.lfw)
    if args.people:
        people = subset(people, args.people, args.seed)
    protocol: Protocol = build_protocol(
        people, held_out=args.held_out, per_person=args.per_person, seed=args.seed
    )
    files = protocol.files
    root = args.lfw if args.photos == "lfw" else composed_folder(args.lfw, files, args.cache / "composed")
    reports = []
    for name in args.pipelines.split(","):
        # one table per pipeline, grown by the photos a run needs and it lacks (subsets cost nothing)
        up = 1 if not name.startswith("faceprint-") else args.upsample
        detector, _, variant = name.removeprefix("faceprint-").partition("+")
        if name.startswith("faceprint-") and variant not in ("", "mirror", "plain"):
            raise SystemExit(f"unknown variant {variant!r} of {name!r} (+mirror or +plain)")
        if up is None:  # the detector's own default, as a plain engine uses it
            up = Engine(dataclasses.replace(Settings.from_env(), detector=detector)).upsample
        # "+mirror" / "+plain": mirror-averaged or not; neither: the recogniser's own default
        mirrored = {"mirror": True, "plain": False}.get(variant)
        settings = Settings.from_env()
        space = ""  # faceprint's tables are cached per template space (recogniser and mirroring)
        if name.startswith("faceprint-"):
            settings = dataclasses.replace(settings, detector=detector, upsample=up, mirror=mirrored)
            space = "-" + Engine(settings).model_id.replace("+", "-")
        cache = args.cache / f"faces-{args.photos}-{name.partition('+')[0]}{space}-up{up}.npz"
        table = FaceTable.load(cache) if cache.is_file() else None
        missing = [f for f in files if table is None or f not in set(table.files)]
        if missing:
            started = time.perf_counter()
            if name == "face_recognition":
                found = face_recognition_table(root, missing, args.workers)
            elif name.startswith("faceprint-"):
                found = find_faces(root, missing, settings=settings, workers=args.workers)
            else:
                raise SystemExit(f"unknown pipeline {name!r}")
            print(f"{name}: {len(missing)} photos in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            table = found if table is None else table + found
            args.cache.mkdir(parents=True, exist_ok=True)
            table.save(cache)
        assert table is not None
        theirs = name == "face_recognition"
        report = score_protocol(
            protocol,
            table,
            calibration=None if theirs else load_calibration(table.model),
            first_face=theirs,
        )
        reports.append(report)
        print("\n".join(report_lines(report)))
    if args.plot is not None:
        plot_det(
            reports, args.plot, title=f"1:N on LFW ({args.photos} photos), {reports[0].gallery} subjects"
        )
    if args.json is not None:
        args.json.write_text(json.dumps([r.to_json() for r in reports], indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
