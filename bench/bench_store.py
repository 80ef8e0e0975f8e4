"""The gallery store end to end at a million templates: SQLite bulk insert, index, search latency.

    bash bench/run.sh store [--n 1000000] [--per 5] [--queries 300]

Enrols ``--n`` templates (``n / per`` synthetic subjects with ``--per`` noisy near-duplicate
templates each, the same clustered generator as ``bench_index.py``) plus one real LFW template
per person (from the cached ``artifacts/lfw-embeddings-hog.npz`` when present) through
``Store.enroll_many`` in batches of ``--batch`` subjects per transaction, then measures: insert
time (SQLite with synchronous=FULL, consent and audit rows, plus keeping the vector index in step),
saving and reloading the index, a full rebuild from the database, RAM, and ``Store.search``
latency (template probes; includes consent filtering and the fsynced audit row) next to a numpy
brute-force scan of the same matrix, with rank-1 agreement against exact search.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import faceprint
from bench_index import ROOT, make_dataset, real_templates, reset_peak, rss_mb
from faceprint.faces import Template
from faceprint.store import Sample

MODEL = "dlib-resnet-v1"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--per", type=int, default=5)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--batch", type=int, default=10_000, help="subjects per transaction")
    parser.add_argument("--real", type=Path, default=ROOT / "artifacts/lfw-embeddings-hog.npz")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to build the store (default: a temp dir)"
    )
    args = parser.parse_args()

    real, people = real_templates(args.real, None, 0)
    data = make_dataset(args.n, args.per, real, people, args.queries, seed=1)
    n_real = len({p for p in people})
    synthetic = args.n - n_real
    base_rss = rss_mb()
    tmp = tempfile.TemporaryDirectory(prefix="faceprint-bench-store-", dir=args.dir)
    path = Path(tmp.name) / "gallery.db"
    rows: list[tuple[str, str]] = []

    reset_peak()
    started = time.perf_counter()
    with faceprint.open_store(path, actor="bench") as store:
        # subject s<k> owns rows k*per .. k*per+per-1 of the synthetic part; each real row is a subject
        owners = [f"s{r // args.per}" for r in range(synthetic)] + [f"lfw{r}" for r in range(n_real)]
        batch: list[tuple[str, list[Sample]]] = []
        current: str | None = None
        for r in range(args.n):  # rows of one subject are contiguous
            name = owners[r]
            sample = Sample(Template(data.vectors[r], MODEL), f"{name}:{r}")
            if name != current:
                if len(batch) >= args.batch:
                    store.enroll_many(batch, purpose="bench")
                    batch = []
                batch.append((name, []))
                current = name
            batch[-1][1].append(sample)
        if batch:
            store.enroll_many(batch, purpose="bench")
        insert_s = time.perf_counter() - started
        subjects = len(store)
        t0 = time.perf_counter()
    close_s = time.perf_counter() - t0
    insert_peak = rss_mb("VmHWM") - base_rss
    db_mb = sum(p.stat().st_size for p in Path(tmp.name).rglob("*") if p.is_file()) / 2**20
    rows.append(("templates / subjects", f"{args.n:,} / {subjects:,}"))
    rows.append(
        (
            "bulk insert (enroll_many, index kept in step)",
            f"{insert_s:.1f} s ({args.n / insert_s:,.0f} templates/s)",
        )
    )
    rows.append(("close (saves the index)", f"{close_s:.1f} s"))
    rows.append(("files on disk (db + WAL + index)", f"{db_mb:,.0f} MB"))
    rows.append(("RSS peak while inserting (above data)", f"{insert_peak:,.0f} MB"))

    with faceprint.open_store(path, actor="bench") as store:
        t0 = time.perf_counter()
        store.check()
        load_s = time.perf_counter() - t0
        rows.append(("reopen: load index + integrity check + compare ids", f"{load_s:.1f} s"))
        reset_peak()
        before = rss_mb()
        t0 = time.perf_counter()
        store.rebuild_index()
        rows.append(("index rebuild from the database", f"{time.perf_counter() - t0:.1f} s"))
        rows.append(("RSS of the open store (process, data excluded)", f"{rss_mb() - base_rss:,.0f} MB"))
        rows.append(("RSS peak during rebuild (above the open store)", f"{rss_mb('VmHWM') - before:,.0f} MB"))

        queries = data.queries
        times = []
        hits = agree = 0
        exact = queries @ data.vectors.T
        truth = np.argmax(exact, axis=1)
        for q, row in zip(queries, truth, strict=True):
            t0 = time.perf_counter()
            result = store.search(Template(q, MODEL), purpose="bench", top_k=1, fmr=0.5)
            times.append(time.perf_counter() - t0)
            matches = result.faces[0].matches
            if matches:
                hits += 1
                agree += matches[0].subject == owners[row]
        lat = np.asarray(times) * 1000
        rows.append(
            (
                "Store.search p50 / p99 (template probe, audited)",
                f"{np.percentile(lat, 50):.2f} / {np.percentile(lat, 99):.2f} ms",
            )
        )
        rows.append(("rank-1 subject equal to exact search (answered)", f"{agree}/{hits}"))
        for label, options in (
            ("default rule (fpir 0.01, cohort-normalised), top_k 1", {"top_k": 1}),
            ("default rule (fpir 0.01, cohort-normalised), top_k 5", {}),
            ("--fmr 1e-3 (no cohort), top_k 5", {"fmr": 1e-3}),
        ):
            times = []
            for q in queries:
                t0 = time.perf_counter()
                found = store.search(Template(q, MODEL), purpose="bench", **options)
                times.append(time.perf_counter() - t0)
            lat = np.asarray(times) * 1000
            rows.append(
                (
                    f"Store.search p50 / p99, {label}",
                    f"{np.percentile(lat, 50):.2f} / {np.percentile(lat, 99):.2f} ms ({found.rule})",
                )
            )
        # gallery crowding: the same searches with it on (the default) and off, interleaved
        plain_settings = dataclasses.replace(faceprint.Settings.from_env(), crowding=False)
        with faceprint.open_store(path, actor="bench", settings=plain_settings) as plain:
            plain.search(Template(queries[0], MODEL), purpose="bench")  # loads its index
            for top_k in (1, 5):
                on, off, reordered = [], [], []
                for q in queries:
                    for target, out in ((store, on), (plain, off)):
                        t0 = time.perf_counter()
                        found = target.search(Template(q, MODEL), purpose="bench", top_k=top_k, fmr=0.5)
                        out.append(time.perf_counter() - t0)
                        if target is store:
                            reordered.append(any(m.crowding is not None for m in found.faces[0].matches))
                mask = np.asarray(reordered)
                for label, times in (("crowding on (default)", on), ("crowding off", off)):
                    lat = np.asarray(times) * 1000
                    some = f"{np.percentile(lat[mask], 50):.2f} ms" if mask.any() else "-"
                    rows.append(
                        (
                            f"Store.search p50 / p99, fmr 0.5, top_k {top_k}, {label}",
                            f"{np.percentile(lat, 50):.2f} / {np.percentile(lat, 99):.2f} ms; p50 of the "
                            f"{int(mask.sum())}/{len(mask)} searches it reorders: {some}",
                        )
                    )
        probes = [Template(q, MODEL) for q in queries]
        t0 = time.perf_counter()
        batched = store.search_many(probes, purpose="bench", top_k=1, fmr=0.5)
        per_query = (time.perf_counter() - t0) / len(probes) * 1000
        rows.append(("Store.search_many, ms/query (one audit transaction)", f"{per_query:.2f}"))
        assert len(batched) == len(probes)
        t0 = time.perf_counter()
        for q in queries[:50]:
            _ = data.vectors @ q
        rows.append(
            ("numpy brute force, ms/query (same matrix)", f"{(time.perf_counter() - t0) / 50 * 1000:.1f}")
        )
    tmp.cleanup()

    width = max(len(k) for k, _ in rows)
    print(f"\nfaceprint store at {args.n:,} templates ({args.per} per synthetic subject)\n")
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
