"""The gallery's vectors on a Milvus server vs the in-memory index (faiss IVF), one run per size.

    bash bench/run.sh milvus [--sizes 100000,1000000] [--index HNSW] [--queries 500]

For each size: ``--sizes`` synthetic clustered 128-d unit templates (bench_index.py's data set:
noisy near-duplicates of random identities; queries are noisy copies of enrolled templates and
fresh random vectors). The in-memory :class:`VectorIndex` and a Milvus collection
(:class:`MilvusVectors`, the store's own client; a server started by scripts/milvus.sh on a
fresh data directory, killed at the end) get the same vectors. Printed per engine: time to
insert, to build the index (Milvus: flush, index build, load), RAM (this process's RSS growth
for the in-memory index; the server's RSS above idle for Milvus), single-query latency p50 / p99
(the store's consistency: at the last write's guarantee timestamp), recall@1 against exact
search (genuine-like queries / random ones). Then what consistency costs on Milvus: a search
straight after a delete at Strong, at the marker's guarantee, and the marker itself (the wait an
erasure adds).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import make_dataset, rss_mb
from faceprint.store.milvus import MilvusConfig, MilvusVectors
from faceprint.store.vector_index import VectorIndex, exact_search

ROOT = Path(__file__).resolve().parents[1]


def server_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def latency(search: object, queries: np.ndarray, singles: int) -> tuple[float, float]:
    times = []
    for q in queries[:singles]:
        start = time.perf_counter()
        search(q[None, :], 10)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    ms = np.asarray(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def recall1(found: np.ndarray, truth: np.ndarray, kinds: dict[str, np.ndarray]) -> str:
    """recall@1 of the genuine-like queries / of the random ones (every neighbour a stranger)."""
    hit = found[:, 0] == truth[:, 0]
    return " / ".join(f"{float(np.mean(hit[kinds[k]])):.3f}" for k in ("synthetic", "random") if k in kinds)


def run_size(n: int, index: str, queries: int, url: str, pid: int) -> list[str]:
    data = make_dataset(n, 5, np.zeros((0, 128), np.float32), [], queries, seed=n)
    truth_ids = exact_search(data.vectors, data.queries, 1)[0]
    truth = data.ids[truth_ids]
    lines = []

    base = rss_mb()
    start = time.perf_counter()
    memory = VectorIndex(128)
    memory.add(data.ids, data.vectors, seq=1)
    build = time.perf_counter() - start
    p50, p99 = latency(memory.search, data.queries, queries)
    found, _ = memory.search(data.queries, 1)
    lines.append(
        f"| {n:,} | in-memory (faiss IVF + re-rank) | - | {build:.1f} | {rss_mb() - base:.0f} | "
        f"{p50:.2f} | {p99:.2f} | {recall1(found, truth, data.kinds)} |"
    )
    del memory

    idle = server_rss_mb(pid)
    config = MilvusConfig.parse(f"{url}?index={index}&timeout=600")
    vectors = MilvusVectors(config, f"bench_{n}_{index.lower()}", 128, create=True)
    start = time.perf_counter()
    purposes = np.zeros(n, dtype=np.int64)
    vectors.upsert(data.ids, data.vectors, data.ids, purposes)
    inserted = time.perf_counter() - start
    from pymilvus import utility

    collection = vectors._collection  # the bench reaches in: flush and index build are the server's
    collection.flush(timeout=600)
    utility.wait_for_index_building_complete(vectors.name, using=vectors._alias, timeout=3600)
    collection.release()
    collection.load(timeout=3600)
    vectors.mark(1)
    built = time.perf_counter() - start
    rss = server_rss_mb(pid) - idle

    def search(q: np.ndarray, k: int) -> object:
        return vectors.search(q, k, purpose=0)

    p50, p99 = latency(search, data.queries, queries)
    found = np.concatenate(
        [vectors.search(data.queries[i : i + 100], 1, purpose=0)[0] for i in range(0, queries, 100)]
    )
    lines.append(
        f"| {n:,} | Milvus {index} | {inserted:.1f} | {built:.1f} | {rss:.0f} | "
        f"{p50:.2f} | {p99:.2f} | {recall1(found, truth, data.kinds)} |"
    )

    # consistency: what an erasure and the search after it cost
    strong, marked, mark = [], [], []
    for i in range(10):
        victim = data.ids[i : i + 1]
        vectors.delete(victim)
        t = time.perf_counter()
        collection.search(
            data.queries[:1],
            "vector",
            {"metric_type": "IP", "params": {"ef": 64}},
            limit=10,
            expr="purpose == 0",
            consistency_level="Strong",
        )
        strong.append(time.perf_counter() - t)
        t = time.perf_counter()
        vectors.mark(2 + i)
        mark.append(time.perf_counter() - t)
        t = time.perf_counter()
        search(data.queries[:1], 10)
        marked.append(time.perf_counter() - t)
    lines.append(
        f"|  | consistency at {n:,} | Strong search after a delete {1000 * np.median(strong):.0f} ms; "
        f"marker wait (added to the erasure) {1000 * np.median(mark):.0f} ms; search at the marker's "
        f"guarantee {1000 * np.median(marked):.1f} ms (medians of 10) | | | | | |"
    )
    vectors.drop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--index", default="HNSW")
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="faceprint-milvus-bench."))
    script = ROOT / "scripts" / "milvus.sh"
    url = subprocess.run(
        ["bash", str(script), "start", str(directory)], check=True, capture_output=True, text=True
    )
    try:
        pid = int((directory / "pid").read_text())
        print(
            f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}, "
            f"{os.cpu_count()} cores",
            flush=True,
        )
        print(
            "| templates | engine | insert s | build s | RAM MB | p50 ms | p99 ms | recall@1 genuine / random |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for size in (int(s) for s in args.sizes.split(",")):
            for line in run_size(size, args.index.upper(), args.queries, url.stdout.strip(), pid):
                print(line, flush=True)
        print(f"load average after {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        subprocess.run(["bash", str(script), "destroy", str(directory)], check=False)


if __name__ == "__main__":
    main()
