"""Embed occluded chips (bench/occluded_lfw_chips.py's output) for a grid of occlusion variants.

    .venv/bin/python bench/occluded_lfw_embed.py /tmp/wt3/chips.npz /tmp/wt3/occ.npz [--rows 62,70,78,86]

For every variant (first painted row, fill) and every image: the occluded bare chip's and the
occluded masked chip's embeddings, plain and of the mirrored chip (raw vectors; mirror averaging
is done when scoring). Saved to an .npz of templates (no images).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from numpy.typing import NDArray

from faceprint.config import Settings
from faceprint.engine import Engine
from faceprint.occlusion import occlude_chip
from faceprint.workers import WorkerPool, one_thread_each

CHUNK = 64


def engine(settings: Settings) -> Engine:
    return Engine(settings).load()


def embed(eng: Engine, job: tuple[NDArray[np.uint8], int, str, bool]) -> NDArray[np.float32]:
    chips, row, fill, mirror = job
    edited = [occlude_chip(c, row, fill) for c in chips]
    if mirror:
        edited = [np.ascontiguousarray(c[:, ::-1]) for c in edited]
    return np.stack([t.vector for t in eng.chip_templates(edited)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("chips")
    ap.add_argument("out")
    ap.add_argument("--rows", default="62,70,78,86")
    ap.add_argument("--fills", default="grey,upper")
    ap.add_argument("--mirror", default="0,1")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--sides", default="bare=bare_chip,masked=masked_chip", help="name=chip array, comma-separated"
    )
    args = ap.parse_args(argv)
    z = np.load(args.chips)
    files = z["files"]
    sides = {side: z[key] for side, key in (part.split("=") for part in args.sides.split(","))}
    variants = [
        (int(r), f, bool(int(m)))
        for r in args.rows.split(",")
        for f in args.fills.split(",")
        for m in args.mirror.split(",")
    ]
    settings = one_thread_each(Settings.from_env(), args.workers)
    out: dict[str, NDArray[np.float32]] = {"files": files}
    started = time.perf_counter()
    with WorkerPool(engine, (settings,), args.workers, died="a worker died") as pool:
        for row, fill, mirror in variants:
            for side, chips in sides.items():
                jobs = [(chips[i : i + CHUNK], row, fill, mirror) for i in range(0, len(chips), CHUNK)]
                key = f"{side}_{row}_{fill}_{int(mirror)}"
                out[key] = np.concatenate(list(pool.map(embed, jobs))).astype(np.float32)
                print(f"{key} {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
            np.savez(args.out, **out)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
