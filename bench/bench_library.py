"""Photo-library indexing throughput: ``faceprint index`` vs the ``face_recognition`` CLI, same folder.

The folder (built once under ``artifacts/library-bench/``, never committed): LFW photos plus
composed group photos of 2-4 LFW faces of different people tiled on one canvas. It is flat, because
``face_recognition KNOWN UNKNOWN`` does not recurse. Both tools run in this script, one after the
other, on all cores: faceprint with one analysis process per core (CNN detector, its default, and
HOG), face_recognition with ``--cpus`` = cores (HOG, its CLI's only detector; it also compares each
face with the known people, a negligible cost). Then ``faceprint index`` is killed with SIGKILL
half-way and run again: the photos and faces must equal those of the uninterrupted run.

    python bench/bench_library.py [--photos 2000] [--composed 400]

Phone-sized mode, ``--phone N``: instead, a flat folder of N composed 4032x3024 JPEGs (1-10 LFW
faces of 40-800 px each, ``tests/compose.py``, seeds ``--seed`` .. ``--seed + N - 1``; built once
under ``artifacts/library-bench/phone-*``) indexed by ``faceprint index`` with its default detector
(and each of ``--phone-detectors``) and by the face_recognition CLI; photos/s, the ratio (issue 13's
target: >= 5x) and faces found against the faces composed. No kill test in this mode. Note: the
face_recognition CLI shrinks every image larger than 1600 px to 1600 px before detecting (its own
speed-up), so on phone photos it finds fewer small faces than ``face_locations`` on the full photo.

    python bench/bench_library.py --phone 240 [--phone-detectors default,hog]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
LFW = ROOT.parent / "shared" / "data" / "lfw"
sys.path.insert(0, str(ROOT))  # tests.compose


def build(folder: Path, lfw: Path, photos: int, composed: int, seed: int) -> int:
    marker = folder / ".complete"
    if marker.exists() and marker.read_text() == f"{photos} {composed} {seed}":
        return sum(1 for p in folder.iterdir() if p.suffix == ".jpg")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = random.Random(seed)
    files = sorted(lfw.glob("*/*.jpg"))
    rng.shuffle(files)
    singles, pool = files[: photos - composed], files[photos - composed :]
    for path in singles:
        shutil.copyfile(path, folder / path.name)
    for i in range(composed):
        count = rng.choice((2, 3, 4))
        chosen: list[Path] = []
        for path in rng.sample(pool, 12):
            if path.parent.name not in {c.parent.name for c in chosen}:
                chosen.append(path)
            if len(chosen) == count:
                break
        cols = 2 if count == 4 else count
        rows = 2 if count == 4 else 1
        canvas = np.full((rows * 250, cols * 250, 3), 255, dtype=np.uint8)
        for k, path in enumerate(chosen):
            r, c = divmod(k, cols)
            canvas[r * 250 : (r + 1) * 250, c * 250 : (c + 1) * 250] = np.asarray(
                Image.open(path).convert("RGB")
            )
        Image.fromarray(canvas).save(folder / f"group_{i:04d}.jpg", quality=92)
    marker.write_text(f"{photos} {composed} {seed}")
    return photos


def build_phone(folder: Path, lfw: Path, photos: int, seed: int) -> int:
    """``photos`` composed 4032x3024 JPEGs in ``folder``; returns how many faces they hold."""
    from tests.compose import compose_photo, lfw_files

    marker = folder / ".complete"
    if marker.exists():
        return int(marker.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    files = lfw_files(lfw)
    faces = 0
    for k in range(seed, seed + photos):
        photo = compose_photo(lfw, k, files=files)
        (folder / f"phone_{k:05d}.jpg").write_bytes(photo.jpeg)
        faces += len(photo.boxes)
    marker.write_text(str(faces))
    return faces


def phone_mode(args: argparse.Namespace, cores: int) -> None:
    import faceprint

    source = (ROOT / "tests" / "compose.py").read_bytes()
    tag = f"phone-{hashlib.sha256(source).hexdigest()[:12]}-{args.seed}-{args.phone}"
    folder = args.out / tag
    faces = build_phone(folder, args.lfw, args.phone, args.seed)
    known = args.out / "known"
    known.mkdir(parents=True, exist_ok=True)
    for person in ("Colin_Powell", "Tony_Blair"):
        src = sorted((args.lfw / person).glob("*.jpg"))[0]
        shutil.copyfile(src, known / f"{person}.jpg")
    load = os.getloadavg()[0]
    print(
        f"{args.phone} composed 4032x3024 photos ({faces:,} faces of 40-800 px), {cores} cores, "
        f"load average {load:.2f} at start"
    )
    print()
    print("| tool | detector | processes | time | photos/s | faces found | ratio to face_recognition |")
    print("|---|---|---|---|---|---|---|")
    rows: list[tuple[str, str, float, float, int]] = []
    for name in args.phone_detectors.split(","):
        detector = None if name == "default" else name
        label = f"{faceprint.Settings().detector} (default)" if detector is None else detector
        store = args.out / f"phone-index-{name}.db"
        seconds, report = faceprint_index(store, folder, detector, cores)
        rows.append(("faceprint index", label, seconds, report["indexed"] / seconds, report["faces"]))
    seconds, lines = face_recognition_cli(folder, known, cores)
    theirs = args.phone / seconds
    for tool, label, secs, rate, found in rows:
        print(
            f"| {tool} | {label} | {cores} | {secs:.1f} s | {rate:.2f} | {found:,} | {rate / theirs:.2f}x |"
        )
    print(
        f"| face_recognition CLI | hog | {cores} | {seconds:.1f} s | {theirs:.2f} | {lines:,} (output lines) | 1.00x |"
    )
    print(
        f"\nload average {os.getloadavg()[0]:.2f} at the end; target (issue 13): >= 5x with the default detector"
    )


def faceprint_index(
    store: Path, folder: Path, detector: str | None, workers: int
) -> tuple[float, dict[str, int]]:
    for path in store.parent.glob(store.name + "*"):
        path.unlink()
    cmd = [sys.executable, "-m", "faceprint", "--store", str(store), "index", str(folder)]
    cmd += [*(["--detector", detector] if detector else []), "--workers", str(workers), "--json"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr)
    return seconds, json.loads(done.stdout)


def face_recognition_cli(folder: Path, known: Path, cpus: int) -> tuple[float, int]:
    exe = shutil.which("face_recognition", path=str(Path(sys.executable).parent))
    if exe is None:
        raise SystemExit("face_recognition is not installed: run bash bench/run.sh library")
    start = time.perf_counter()
    done = subprocess.run([exe, "--cpus", str(cpus), str(known), str(folder)], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return seconds, len(done.stdout.splitlines())


def count(store: Path, sql: str) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10)) as conn:
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.Error:
            return 0


def faces_per_photo(store: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        sql = "SELECT p.digest, COUNT(f.id) FROM photos p LEFT JOIN faces f ON f.photo_id = p.id GROUP BY p.digest"
        return {str(d): int(n) for d, n in conn.execute(sql)}


def kill_and_resume(
    store: Path, folder: Path, detector: str, workers: int, total: int, reference: Path
) -> None:
    for path in store.parent.glob(store.name + "*"):
        path.unlink()
    cmd = [sys.executable, "-m", "faceprint", "--store", str(store), "index", str(folder)]
    cmd += ["--detector", detector, "--workers", str(workers)]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None and (
            not store.exists() or count(store, "SELECT COUNT(*) FROM photos") < total // 2
        ):
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    before = count(store, "SELECT COUNT(*) FROM photos")
    faces_before = count(store, "SELECT COUNT(*) FROM faces")
    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, check=False)
    report = json.loads(done.stdout)
    after = faces_per_photo(store)
    same = after == faces_per_photo(reference)
    print(
        f"kill -9 after {before:,} of {total:,} photos ({faces_before:,} faces committed); re-run indexed "
        f"{report['indexed']:,} and skipped {report['unchanged']:,} unchanged -> {len(after):,} photos, "
        f"{sum(after.values()):,} faces; identical to the uninterrupted run: {same}; "
        f"nothing done twice: {report['indexed'] == total - before - report['failed']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--composed", type=int, default=400)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--lfw", type=Path, default=LFW)
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "library-bench")
    parser.add_argument("--skip-cnn", action="store_true")
    parser.add_argument(
        "--phone", type=int, default=0, help="N composed 4032x3024 photos instead (see above)"
    )
    parser.add_argument(
        "--phone-detectors", default="default", help="with --phone: 'default' and/or detector names"
    )
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    if args.phone:
        phone_mode(args, cores)
        return
    folder = args.out / "photos"
    total = build(folder, args.lfw, args.photos, args.composed, args.seed)
    known = args.out / "known"
    known.mkdir(exist_ok=True)
    for person in ("Colin_Powell", "Tony_Blair"):
        src = sorted((args.lfw / person).glob("*.jpg"))[0]
        shutil.copyfile(src, known / f"{person}.jpg")
    print(f"{total:,} photos ({args.composed} composed of 2-4 faces), {cores} cores")
    print()
    print("| tool | detector | processes | time | photos/s | faces |")
    print("|---|---|---|---|---|---|")
    results: dict[str, float] = {}
    for detector in ("hog",) if args.skip_cnn else ("hog", "cnn"):
        store = args.out / f"index-{detector}.db"
        seconds, report = faceprint_index(store, folder, detector, cores)
        rate = report["indexed"] / seconds
        results[detector] = rate
        print(
            f"| faceprint index | {detector} | {cores} | {seconds:.1f} s | {rate:.2f} | {report['faces']:,} |"
        )
    seconds, lines = face_recognition_cli(folder, known, cores)
    theirs = total / seconds
    print(
        f"| face_recognition CLI | hog | {cores} | {seconds:.1f} s | {theirs:.2f} | {lines:,} (output lines) |"
    )
    print()
    for detector, rate in results.items():
        print(f"faceprint index ({detector}) / face_recognition CLI (hog): {rate / theirs:.2f}x")
    print()
    detector = "hog" if args.skip_cnn else "cnn"
    kill_and_resume(args.out / "killed.db", folder, detector, cores, total, args.out / f"index-{detector}.db")


if __name__ == "__main__":
    main()
