"""Template protection on LFW: accuracy unchanged, revocation and unlinkability measured, and cost.

    python bench/bench_privacy.py [--lfw ../shared/data/lfw] [--cache artifacts/lfw-embeddings-hog.npz]

Uses the dlib templates of the LFW images (from the cache that ``scripts/calibrate_lfw.py``
writes, else embedded now). Prints:

1. LFW 10-fold accuracy on the engine's templates and on the same templates protected by a store's
   keyed orthogonal transform (must be identical);
2. revocation: templates stolen before a template-key rotation against the same people's templates
   after it, next to strangers under the same two keys and to strangers inside one store
   (means, spread, share above the FMR-1e-3 threshold, Kolmogorov-Smirnov two-sample test);
3. unlinkability: the same people enrolled (other photos) in two stores with different keys;
4. the cost per search of the protection (transform of the probe, key-id check) next to a whole
   ``Store.search`` at ``--n`` templates.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import ks_2samp, mannwhitneyu

from faceprint import open_store
from faceprint.calibrate import load_calibration
from faceprint.evaluate import embed_lfw_images, read_lfw_pairs, ten_fold_accuracy
from faceprint.faces import Template
from faceprint.privacy import TemplateTransform
from faceprint.store import Sample
from faceprint.store.protection import stored_key_ids

ROOT = Path(__file__).resolve().parents[1]
MODEL = "dlib-resnet-v1"


def describe(name: str, values: np.ndarray, threshold: float) -> str:
    return (
        f"{name:<48} n={len(values):>9,}  mean {values.mean():+.4f}  std {values.std():.4f}  "
        f"max {values.max():+.4f}  >= threshold {np.mean(values >= threshold):.2e}"
    )


def report_tests(name: str, genuine: np.ndarray, impostor: np.ndarray) -> None:
    """KS two-sample test, and the AUC an attacker would get using the similarity as a linking score."""
    ks = ks_2samp(genuine, impostor)
    sample = np.random.default_rng(0).choice(impostor, size=min(len(impostor), 200_000), replace=False)
    auc = mannwhitneyu(genuine, sample).statistic / (len(genuine) * len(sample))
    print(f"{name}: KS D={ks.statistic:.4f} (p={ks.pvalue:.3g}); linking AUC {auc:.3f} (0.5 = chance)")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lfw", type=Path, default=ROOT.parent / "shared/data/lfw")
    parser.add_argument("--cache", type=Path, default=ROOT / "artifacts/lfw-embeddings-hog.npz")
    parser.add_argument("--n", type=int, default=200_000, help="store size for the cost measurement")
    args = parser.parse_args()

    files = sorted(str(p.relative_to(args.lfw)) for p in args.lfw.glob("*/*.jpg"))
    if args.cache.is_file() and list(np.load(args.cache)["files"]) == files:
        matrix = np.load(args.cache)["matrix"].astype(np.float32)
    else:
        print(f"embedding {len(files)} LFW images ...", file=sys.stderr)
        matrix, _ = embed_lfw_images(args.lfw, files)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    row = {f: i for i, f in enumerate(files)}
    people = np.array([f.split("/")[0] for f in files])
    threshold = load_calibration(MODEL).threshold(1e-3)
    key1, key2 = (TemplateTransform.from_secret(secrets.token_bytes(32), 128) for _ in range(2))

    # 1. accuracy
    pairs = read_lfw_pairs(args.lfw / "pairs.txt")
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    protected = key1.protect(matrix)
    for name, m in (("engine templates", matrix), ("protected templates (Q x)", protected)):
        scores = np.einsum("ij,ij->i", m[[row[p.a] for p in pairs]], m[[row[p.b] for p in pairs]]).astype(
            np.float64
        )
        accuracies, _ = ten_fold_accuracy(scores, same, folds)
        print(f"LFW 10-fold accuracy, {name:<28} {np.mean(accuracies):.4f}")
    p64, m64 = protected.astype(np.float64), matrix.astype(np.float64)  # float32 dot products round at ~1e-6
    difference = np.abs(p64 @ p64[:500].T - m64 @ m64[:500].T).max()
    print(
        f"max |similarity difference| (float64 dot products), 500 x {len(matrix):,} pairs: {difference:.2e}"
    )

    # 2. revocation: one template per person, stolen under key 1, the store now under key 2
    first = np.unique(people, return_index=True)[1]
    x = matrix[first]
    stolen, rotated = key1.protect(x), key2.protect(x)
    cross = stolen @ rotated.T
    off = ~np.eye(len(x), dtype=bool)
    genuine_stolen, cross_impostor = np.diag(cross), cross[off]
    inside = (x @ x.T)[off]
    print(f"\nrevocation ({len(x):,} people; threshold {threshold:.4f} at FMR 1e-3)")
    print(describe("stolen template vs same person after rotation", genuine_stolen, threshold))
    print(describe("stolen template vs other people after rotation", cross_impostor, threshold))
    print(describe("strangers inside one store (reference)", inside, threshold))
    report_tests("stolen-genuine vs cross-key strangers", genuine_stolen, cross_impostor)

    # 3. unlinkability: store A holds each person's first photo, store B their second
    firsts, seconds = [], []
    for person in np.unique(people):
        idx = np.flatnonzero(people == person)
        if len(idx) >= 2:
            firsts.append(idx[0])
            seconds.append(idx[1])
    a, b = key1.protect(matrix[firsts]), key2.protect(matrix[seconds])
    sims = a @ b.T
    off = ~np.eye(len(firsts), dtype=bool)
    print(f"\nunlinkability ({len(firsts):,} people with two photos, one in each store, different keys)")
    print(describe("same person across stores", np.diag(sims), threshold))
    print(describe("different people across stores", sims[off], threshold))
    print(
        describe(
            "same person, one store (reference)",
            np.einsum("ij,ij->i", matrix[firsts], matrix[seconds]),
            threshold,
        )
    )
    report_tests("same vs different people across stores", np.diag(sims), sims[off])

    # 4. cost per search
    tmp = Path(tempfile.mkdtemp(prefix="faceprint-privacy-"))
    try:
        rng = np.random.default_rng(0)
        with open_store(tmp / "g.db", actor="bench") as store:
            for start in range(0, args.n, 20_000):
                block = rng.standard_normal((min(20_000, args.n - start), 128)).astype(np.float32)
                block /= np.linalg.norm(block, axis=1, keepdims=True)
                store.enroll_many(
                    [
                        (f"s{start + i}", [Sample(Template(v, MODEL), str(start + i))])
                        for i, v in enumerate(block)
                    ],
                    purpose="bench",
                )
            probes = [Template(v, MODEL) for v in matrix[:300]]
            store.search(probes[0], purpose="bench")
            lat = []
            for probe in probes:
                t0 = time.perf_counter()
                store.search(probe, purpose="bench", top_k=1)
                lat.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for probe in probes:
                store.protector.protect(probe.vector[None, :])
                stored_key_ids(store.db)
            cost = (time.perf_counter() - t0) / len(probes)
            t0 = time.perf_counter()
            store.search_many(probes, purpose="bench", top_k=1)
            batched = (time.perf_counter() - t0) / len(probes)
        p50 = float(np.percentile(lat, 50))
        print(f"\ncost per search at {args.n:,} templates")
        print(f"protection (transform of the probe + key-id check): {cost * 1e6:.0f} us")
        print(f"Store.search p50: {p50 * 1e3:.2f} ms -> protection is {cost / p50:.1%} of it")
        print(
            f"Store.search_many per query: {batched * 1e3:.2f} ms -> protection is {cost / batched:.1%} of it"
        )
    finally:
        shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
