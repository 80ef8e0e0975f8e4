"""The gallery's vector index at a million templates: faiss IVF, faiss HNSW, usearch, numpy, one run.

    bash bench/run.sh index [--n 1000000] [--real artifacts/lfw-embeddings-hog.npz] [--configs ...]

Builds ``--n`` synthetic clustered 128-d unit templates (``--per`` noisy near-duplicates of each
random identity) with real dlib templates of LFW mixed in (the first image of each person; from
``--real``, a cached ``{matrix, files}`` npz, else computed from ``--lfw`` with the engine, else
none). Queries: noisy copies of enrolled synthetic templates (genuine-like), other LFW images of
enrolled people (real genuine), and fresh random unit vectors (impostor-like).

For each configuration: time to add everything, RAM (RSS growth and peak while building, above
the data already loaded), search latency for single queries (p50, p99) and per query in one batch,
and recall@1 / @10 against exact search, next to numpy's brute-force scan of the same matrix.
``erase ok`` says whether, after removing vectors and saving, their bytes are gone from the file.
Recall for random queries is the adversarial case (every neighbour is a stranger at a similar
score); for identification what matters is the genuine rows.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from faceprint.store.vector_index import VectorIndex, exact_search

ROOT = Path(__file__).resolve().parents[1]
DIM = 128
K = 10
Floats = NDArray[np.float32]
Ids = NDArray[np.int64]


def unit(x: NDArray[np.floating]) -> Floats:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def rss_mb(field_name: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    """Reset VmHWM (Linux: ``5`` in clear_refs), so the next peak is this build's."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def real_templates(real: Path | None, lfw: Path | None, count: int) -> tuple[Floats, list[str]]:
    """LFW templates and the person of each, from a cached npz or computed with the engine."""
    if real is not None and real.is_file():
        data = np.load(real, allow_pickle=False)
        people = [str(f).split("/")[0] for f in data["files"]]
        return unit(np.asarray(data["matrix"], dtype=np.float32)), people
    if lfw is None or not lfw.is_dir() or count == 0:
        return np.zeros((0, DIM), dtype=np.float32), []
    import faceprint

    files = sorted(lfw.glob("*/*.jpg"))[:count]
    print(f"embedding {len(files)} LFW images (no --real cache) ...", file=sys.stderr)
    faces = faceprint.Engine().embed_many(files, largest_only=True)
    vectors = [f[0].template.vector for f in faces if f]
    people = [p.parent.name for p, f in zip(files, faces, strict=True) if f]
    return unit(np.asarray(vectors, dtype=np.float32).reshape(-1, DIM)), people


@dataclass
class Dataset:
    ids: Ids
    vectors: Floats
    queries: Floats
    kinds: dict[str, NDArray[np.bool_]]  # query kind -> mask
    truth: Ids = field(default_factory=lambda: np.zeros((0, K), dtype=np.int64))


def make_dataset(n: int, per: int, real: Floats, people: list[str], queries: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    first: dict[str, int] = {}
    probes: list[int] = []
    for i, person in enumerate(people):
        if person in first:
            probes.append(i)
        else:
            first[person] = i
    enrolled = real[list(first.values())]
    synthetic = n - len(enrolled)
    centres = unit(rng.standard_normal((synthetic // per + 1, DIM)))
    vectors = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, synthetic, 200_000):  # bounded temporaries
        stop = min(synthetic, start + 200_000)
        noise = rng.standard_normal((stop - start, DIM), dtype=np.float32) * np.float32(0.42 / np.sqrt(DIM))
        vectors[start:stop] = unit(centres[np.arange(start, stop) // per] + noise)
    vectors[synthetic:] = enrolled
    ids = rng.permutation(np.arange(n, dtype=np.int64) * 2 + 7)  # ids are not row numbers
    real_probes = real[probes][: queries // 5]
    n_random = queries // 5
    n_genuine = queries - len(real_probes) - n_random
    picked = rng.choice(synthetic, size=n_genuine, replace=False)
    genuine = unit(vectors[picked] + rng.standard_normal((n_genuine, DIM)) * 0.3 / np.sqrt(DIM))
    fresh = unit(rng.standard_normal((n_random, DIM)))
    q = np.concatenate([genuine, real_probes, fresh]).astype(np.float32)
    kind = np.repeat(np.array(["synthetic", "real", "random"]), [n_genuine, len(real_probes), n_random])
    kinds = {name: kind == name for name in ("synthetic", "real", "random") if (kind == name).any()}
    return Dataset(ids, vectors, q, kinds)


@dataclass
class Row:
    name: str
    insert_s: float = float("nan")
    build_s: float = float("nan")
    rss_mb: float = float("nan")
    peak_mb: float = float("nan")
    p50: float = float("nan")
    p99: float = float("nan")
    batch: float = float("nan")
    recall: dict[str, tuple[float, float]] = field(default_factory=dict)
    erase: str = "-"
    note: str = ""


SearchFn = Callable[[Floats, int], Ids]


def measure(row: Row, data: Dataset, search: SearchFn, singles: int) -> None:
    search(data.queries[:5], K)  # warm up
    order = np.random.default_rng(1).permutation(len(data.queries))[:singles]
    times = []
    for i in order:
        start = time.perf_counter()
        search(data.queries[i : i + 1], K)
        times.append(time.perf_counter() - start)
    row.p50, row.p99 = (float(np.percentile(times, p)) * 1000 for p in (50, 99))
    start = time.perf_counter()
    found = search(data.queries, K)
    row.batch = (time.perf_counter() - start) * 1000 / len(data.queries)
    for kind, mask in data.kinds.items():
        got, want = found[mask], data.truth[mask]
        at1 = float(np.mean(got[:, 0] == want[:, 0]))
        at10 = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(got, want, strict=True)]))
        row.recall[kind] = (at1, at10)


def built(row: Row, build: Callable[[], object]) -> object:
    gc.collect()
    before = rss_mb()
    reset_peak()
    start = time.perf_counter()
    index = build()
    row.build_s = time.perf_counter() - start
    gc.collect()
    row.rss_mb = rss_mb() - before
    row.peak_mb = rss_mb("VmHWM") - before
    return index


def ivf_codes(index: VectorIndex, wanted: set[int]) -> list[bytes]:
    import faiss
    from faiss.contrib.inspect_tools import get_invlist

    ivf = faiss.extract_index_ivf(index._ann)
    codes = []
    for cell in range(ivf.nlist):
        ids, cell_codes = get_invlist(ivf.invlists, cell)
        codes += [c.tobytes() for i, c in zip(ids.tolist(), cell_codes, strict=True) if i in wanted]
    assert len(codes) == len(wanted)
    return codes


def erased(path: Path, patterns: list[bytes]) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    blob = b"".join(p.read_bytes() for p in files)
    return "yes" if not any(p in blob for p in patterns) else "NO"


# -- configurations ------------------------------------------------------------------------------


def run_numpy(data: Dataset, singles: int) -> Row:
    row = Row("numpy brute force (exact)", insert_s=0.0, build_s=0.0, rss_mb=0.0, peak_mb=0.0, erase="yes")

    def search(q: Floats, k: int) -> Ids:
        rows, _ = exact_search(data.vectors, q, k)
        return data.ids[rows]

    measure(row, data, search, min(singles, 100))
    return row


def run_vector_index(data: Dataset, singles: int, encoding: str, nprobes: list[int], tmp: Path) -> list[Row]:
    rows: list[Row] = []
    name = f"VectorIndex IVF-{encoding}, re-rank 64"
    base = Row(name)

    def build() -> VectorIndex:
        index = VectorIndex(DIM, encoding=encoding, threads=os.cpu_count())
        start = time.perf_counter()
        for s in range(0, len(data.ids), 1000):  # the enrolment pattern: small batches
            index.add(data.ids[s : s + 1000], data.vectors[s : s + 1000], seq=s + 1)
        base.insert_s = time.perf_counter() - start
        return index

    index = built(base, build)
    assert isinstance(index, VectorIndex)
    base.build_s = float("nan")
    incremental_nlist = index._ann.nlist
    # the same index trained from scratch on the full set (what `index rebuild` does)
    start = time.perf_counter()
    index.rebuild()
    base.build_s = time.perf_counter() - start
    base.note = f"nlist {index._ann.nlist} (after 1000-row adds: {incremental_nlist})"
    for nprobe in nprobes:
        row = Row(f"{name}, nprobe {nprobe}", base.insert_s, base.build_s, base.rss_mb, base.peak_mb)
        row.note = base.note
        index.nprobe = nprobe

        def search(q: Floats, k: int) -> Ids:
            return index.search(q, k)[0]

        measure(row, data, search, singles)
        rows.append(row)
    # erasure: remove 20 templates, save, scan the file for their float32 bytes and IVF codes
    gone = data.ids[:20]
    patterns = [data.vectors[i].tobytes() for i in range(20)] + ivf_codes(index, set(gone.tolist()))
    start = time.perf_counter()
    index.remove(gone, seq=len(data.ids) + 1)
    index.save(tmp / "vi")
    save_s = time.perf_counter() - start
    size = (tmp / "vi" / "vector-index.fpvi").stat().st_size / 2**20
    start = time.perf_counter()
    loaded = VectorIndex.load(tmp / "vi", dim=DIM)
    load_s = time.perf_counter() - start
    assert loaded is not None and len(loaded) == len(data.ids) - 20
    for row in rows:
        row.erase = erased(tmp / "vi", patterns)
    rows[-1].note += f"; remove+save {save_s:.1f} s, {size:.0f} MiB file, load {load_s:.1f} s"
    return rows


def run_faiss_hnsw(data: Dataset, singles: int, efs: list[int]) -> list[Row]:
    import faiss

    base = Row("faiss HNSW32,Flat (exact scores)")

    def build() -> object:
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        index = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 40
        index.add(data.vectors)
        return index

    index = built(base, build)
    base.insert_s = base.build_s
    rows = []
    for ef in efs:
        row = Row(f"{base.name}, efSearch {ef}", base.insert_s, base.build_s, base.rss_mb, base.peak_mb)
        params = faiss.SearchParametersHNSW()
        params.efSearch = ef

        def search(q: Floats, k: int, params: object = params) -> Ids:
            _, rows_ = index.search(q, k, params=params)
            return data.ids[rows_]

        measure(row, data, search, singles)
        row.erase = "no delete"
        rows.append(row)
    return rows


def run_usearch(data: Dataset, singles: int, dtype: str, tmp: Path) -> Row:
    from usearch.index import Index

    row = Row(f"usearch HNSW {dtype} M16, re-rank 64")

    def build() -> object:
        index = Index(
            ndim=DIM, metric="ip", dtype=dtype, connectivity=16, expansion_add=128, expansion_search=64
        )
        index.add(data.ids, data.vectors, threads=os.cpu_count() or 1)
        return index

    index = built(row, build)
    row.insert_s = row.build_s
    row.note = "RSS excludes the float32 matrix its re-rank needs (+512 MB at 1M)"

    def search(q: Floats, k: int) -> Ids:
        found = index.search(q, 64, threads=1)
        keys = np.asarray(found.keys, dtype=np.int64).reshape(len(q), -1)
        rows_ = np.searchsorted(sorted_ids, keys)
        vecs = data.vectors[order[np.minimum(rows_, len(order) - 1)]]
        scores = np.einsum("qcd,qd->qc", vecs, q)
        top = np.argsort(-scores, axis=1)[:, :k]
        return np.take_along_axis(keys, top, axis=1)

    order = np.argsort(data.ids)
    sorted_ids = data.ids[order]
    measure(row, data, search, singles)
    # erasure: remove 20 keys, save, scan the file for their stored bytes
    stored = np.asarray(index.get(data.ids[:20], dtype=dtype)).reshape(20, -1)
    patterns = [v.tobytes() for v in stored]
    index.remove(data.ids[:20])
    index.save(str(tmp / "usearch.index"))
    row.erase = erased(tmp / "usearch.index", patterns)
    (tmp / "usearch.index").unlink()
    return row


def print_table(rows: list[Row], kinds: list[str]) -> None:
    recall_head = "".join(f" {'R@1 ' + k[:5]:>10} {'R@10 ' + k[:5]:>11}" for k in kinds)
    print(
        f"{'configuration':52} {'insert s':>8} {'build s':>8} {'RSS MB':>7} {'peak MB':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'batch ms/q':>10}{recall_head} {'erase ok':>9}"
    )
    for r in rows:
        recall = "".join(f" {r.recall[k][0]:10.3f} {r.recall[k][1]:11.3f}" for k in kinds)
        print(
            f"{r.name:52} {r.insert_s:8.1f} {r.build_s:8.1f} {r.rss_mb:7.0f} {r.peak_mb:7.0f} "
            f"{r.p50:7.2f} {r.p99:7.2f} {r.batch:10.3f}{recall} {r.erase:>9}"
        )
    for r in rows:
        if r.note:
            print(f"  {r.name}: {r.note}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="templates in the gallery")
    parser.add_argument("--per", type=int, default=5, help="near-duplicates per synthetic identity")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=500, help="queries timed one by one")
    parser.add_argument("--real", type=Path, default=ROOT / "artifacts/lfw-embeddings-hog.npz")
    parser.add_argument("--lfw", type=Path, default=ROOT.parent / "shared/data/lfw")
    parser.add_argument("--real-count", type=int, default=1000, help="LFW images to embed without --real")
    parser.add_argument(
        "--configs",
        default="numpy,ivf-sq8,ivf-pq32,faiss-hnsw,usearch-f16",
        help="comma-separated: numpy, ivf-sq8, ivf-pq32, faiss-hnsw, usearch-f16, usearch-i8",
    )
    parser.add_argument("--nprobe", default="8,16,32")
    args = parser.parse_args()

    real, people = real_templates(args.real, args.lfw, args.real_count)
    data = make_dataset(args.n, args.per, real, people, args.queries, seed=0)
    start = time.perf_counter()
    rows_truth, _ = exact_search(data.vectors, data.queries, K)
    data.truth = data.ids[rows_truth]
    truth_s = time.perf_counter() - start
    load = os.getloadavg()
    print(
        f"{args.n} templates x {DIM} ({len(real) and len(set(people))} real LFW people enrolled), "
        f"{len(data.queries)} queries ({', '.join(f'{k} {int(m.sum())}' for k, m in data.kinds.items())}), "
        f"k={K}, {os.cpu_count()} cores, load average {load[0]:.1f} at start; "
        f"exact ground truth in {truth_s:.1f} s"
    )
    configs = args.configs.split(",")
    nprobes = [int(x) for x in args.nprobe.split(",")]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp_name:
        tmp = Path(tmp_name)
        for config in configs:
            print(f"... {config}", file=sys.stderr, flush=True)
            if config == "numpy":
                rows.append(run_numpy(data, args.singles))
            elif config.startswith("ivf-"):
                rows += run_vector_index(data, args.singles, config[4:].upper(), nprobes, tmp)
            elif config == "faiss-hnsw":
                rows += run_faiss_hnsw(data, args.singles, [64, 128])
            elif config.startswith("usearch-"):
                rows.append(run_usearch(data, args.singles, config.split("-")[1], tmp))
            else:
                parser.error(f"unknown configuration {config!r}")
            gc.collect()
    print_table(rows, list(data.kinds))
    print(f"load average at end {os.getloadavg()[0]:.1f} (other work on this machine slows every row alike)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
