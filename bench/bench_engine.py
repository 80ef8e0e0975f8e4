"""faceprint vs face_recognition, same images, same dlib models, one run.

    bash bench/run.sh [--lfw ../shared/data/lfw] [--faces ../shared/data/faces] [--images 100]

Prints ms per image for detection (HOG, upsample 1), ms per face for embedding, end-to-end ms
per photo, and the ratio (peer / faceprint: above 1 means faceprint is faster). Both libraries
run in this process on the same decoded images, interleaved image by image, so machine load
affects both alike. Note: importing face_recognition loads dlib's 68-point landmark model (its
import-time side effect); faceprint never opens that file.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

import faceprint
from faceprint.align import face_chip
from faceprint.imageio import RGBImage, load_image

ROOT = Path(__file__).resolve().parents[1]


def pick_images(lfw: Path | None, faces: Path | None, count: int) -> list[tuple[str, RGBImage]]:
    from faceprint.demo import sample_images

    images = [(name, rgb) for name, rgb in sample_images().items()]
    if faces is not None and faces.is_dir():
        images += [(p.name, load_image(p)) for p in sorted(faces.glob("*.[jp][pn]g"))]
    if lfw is not None and lfw.is_dir():
        files = sorted(lfw.glob("*/*.jpg"))
        random.Random(0).shuffle(files)
        images += [(p.name, load_image(p)) for p in files[: max(0, count - len(images))]]
    return images[:count] if count else images


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return (time.perf_counter() - start) * 1000.0, out


def machine_peak_gflops() -> float:
    """fp32 peak: cores x clock x FLOPs per cycle (2 FMA units x 8 lanes x 2 with AVX2+FMA, else SSE)."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    mhz = [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")]
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    per_cycle = 64 if "avx512f" in flags else 32 if "fma" in flags and "avx2" in flags else 8
    return (os.cpu_count() or 1) * (max(mhz) if mhz else 2000.0) / 1000.0 * per_cycle


def onnx_table(images: list[tuple[str, RGBImage]], fr: object) -> None:
    """The onnx backend vs dlib's wheel: embedder, CNN detector, end to end (issue 3's table)."""
    import dlib

    from faceprint.models import dlib_backend
    from faceprint.models.dlib_net import read_resnet
    from faceprint.models.onnx_graph import net_flops
    from faceprint.models.registry import model_path

    ours = faceprint.Engine(faceprint.Settings(backend="onnx", detector="cnn", upsample=0)).load()
    ref_emb = dlib_backend.ResNetEmbedder(model_path("resnet"))
    ref_det = dlib_backend.CnnDetector(model_path("cnn"))
    chips = []
    for _, rgb in images:
        for face in ours.detect(rgb):
            chips.append(face_chip(rgb, face.landmarks))
    chips = (chips * (64 // max(1, len(chips)) + 1))[:64]
    emb = ours._embedder_model()
    emb.embed_chips(chips[:2])
    rows = []
    t_single, _ = timed(lambda: [emb.embed_chips([c]) for c in chips[:16]])
    t_batch, _ = timed(lambda: emb.embed_chips(chips))
    r_single, _ = timed(lambda: [ref_emb.embed_chips([c]) for c in chips[:16]])
    r_batch, _ = timed(lambda: ref_emb.embed_chips(chips))
    rows.append(("embedder, faces/s single", 16000 / t_single, 16000 / r_single))
    rows.append(("embedder, faces/s batched (64)", 64000 / t_batch, 64000 / r_batch))
    for w, h in ((640, 480), (1280, 720)):
        rgb = np.ascontiguousarray(np.asarray(Image.fromarray(images[0][1]).resize((w, h))))
        det = ours._models(embed=False)[0]
        det.detect(rgb, 0)
        t, _ = timed(lambda rgb=rgb, det=det: det.detect(rgb, 0))
        r, _ = timed(lambda rgb=rgb: ref_det.detect(rgb, 0))
        rows.append((f"CNN detector, ms per {w}x{h}", t, r))
    e2e_ours, e2e_fr = [], []
    for _, rgb in images[:20]:
        e2e_ours.append(timed(lambda rgb=rgb: ours.embed(rgb))[0])
        e2e_fr.append(
            timed(lambda rgb=rgb: fr.face_encodings(rgb, fr.face_locations(rgb, 1, "hog"), 1, "small"))[0]
        )  # type: ignore[attr-defined]
    print(f"\nonnx backend vs dlib {dlib.__version__} wheel ({os.cpu_count()} cores)")
    print(f"{'measure':34} {'ours':>10} {'dlib':>10} {'ratio':>7}")
    for label, a, b in rows:
        ratio = a / b if "faces/s" in label else b / a
        print(f"{label:34} {a:10.1f} {b:10.1f} {ratio:7.2f}")
    a, b = statistics.fmean(e2e_ours), statistics.fmean(e2e_fr)
    print(f"{'end to end ms/photo (CNN vs fr HOG)':34} {a:10.1f} {b:10.1f} {b / a:7.2f}")
    gflop = net_flops(read_resnet(model_path("resnet")), 150) / 1e9
    achieved = gflop * 64000 / t_batch
    peak = machine_peak_gflops()
    print(
        f"embedder: {gflop:.3f} GFLOP/face, {achieved:.1f} GFLOP/s achieved of ~{peak:.0f} GFLOP/s peak "
        f"({100 * achieved / peak:.0f}%)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lfw", type=Path, default=ROOT.parent / "shared/data/lfw")
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared/data/faces")
    parser.add_argument("--images", type=int, default=100, help="how many images (0 = all found)")
    args = parser.parse_args()

    try:
        import face_recognition as fr
    except ImportError:
        print("face_recognition is not installed: run this through bench/run.sh", file=sys.stderr)
        return 2

    images = pick_images(args.lfw, args.faces, args.images)
    engine = faceprint.Engine(faceprint.Settings(detector="hog", upsample=1, backend="dlib")).load()
    # warm both up once
    engine.embed(images[0][1])
    fr.face_encodings(images[0][1], fr.face_locations(images[0][1], 1, "hog"), 1, "small")

    rows: dict[str, list[float]] = {
        k: [] for k in ("fp_det", "fr_det", "fp_emb", "fr_emb", "fp_e2e", "fr_e2e")
    }
    faces_total = 0
    for _, rgb in images:
        t, faces = timed(lambda rgb=rgb: engine.detect(rgb))
        rows["fp_det"].append(t)
        t, locations = timed(lambda rgb=rgb: fr.face_locations(rgb, 1, "hog"))
        rows["fr_det"].append(t)
        assert isinstance(faces, list) and isinstance(locations, list)
        if faces:
            boxes = [f.box for f in faces]
            t, _ = timed(lambda rgb=rgb, boxes=boxes: engine.embed(rgb, boxes=boxes))
            rows["fp_emb"].append(t / len(boxes))
            t, _ = timed(lambda rgb=rgb, loc=locations: fr.face_encodings(rgb, loc, 1, "small"))
            rows["fr_emb"].append(t / max(1, len(locations)))
            faces_total += len(boxes)
        t, _ = timed(lambda rgb=rgb: engine.embed(rgb))
        rows["fp_e2e"].append(t)
        t, _ = timed(lambda rgb=rgb: fr.face_encodings(rgb, fr.face_locations(rgb, 1, "hog"), 1, "small"))
        rows["fr_e2e"].append(t)

    cpu = os.cpu_count()
    print(f"{len(images)} images ({faces_total} faces), {cpu} cores, dlib {__import__('dlib').__version__}")
    print(f"{'measure':34} {'faceprint':>10} {'face_recognition':>17} {'ratio':>7}")
    for label, key in (
        ("detection, ms/image (mean)", "det"),
        ("embedding, ms/face (mean)", "emb"),
        ("end to end, ms/photo (mean)", "e2e"),
    ):
        ours, peer = statistics.fmean(rows[f"fp_{key}"]), statistics.fmean(rows[f"fr_{key}"])
        print(f"{label:34} {ours:10.1f} {peer:17.1f} {peer / ours:7.2f}")
    for label, key in (("detection, ms/image (median)", "det"), ("end to end, ms/photo (median)", "e2e")):
        ours, peer = float(np.median(rows[f"fp_{key}"])), float(np.median(rows[f"fr_{key}"]))
        print(f"{label:34} {ours:10.1f} {peer:17.1f} {peer / ours:7.2f}")
    print("faceprint's detection includes the 5 landmarks; face_recognition's face_locations does not.")
    onnx_table(images, fr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
