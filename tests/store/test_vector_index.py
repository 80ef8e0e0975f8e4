"""VectorIndex: exact and approximate search, erasure down to the saved bytes, persistence, threads."""

from __future__ import annotations

import json
import struct
import threading
from pathlib import Path

import faiss
import numpy as np
import pytest
from faiss.contrib.inspect_tools import get_invlist
from numpy.typing import NDArray

from faceprint.errors import InvalidInput
from faceprint.store.vector_index import FILE_NAME, VectorIndex, exact_search

DIM = 32


def unit(x: NDArray[np.float64] | NDArray[np.float32]) -> NDArray[np.float32]:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, per: int = 5, seed: int = 0, dim: int = DIM) -> NDArray[np.float32]:
    """``n // per`` random identities with ``per`` noisy near-duplicates each (cosine ~0.85 apart)."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((n // per, dim)))
    return unit(np.repeat(centres, per, axis=0) + 0.42 / np.sqrt(dim) * rng.standard_normal((n, dim)))


def noisy(x: NDArray[np.float32], seed: int = 1) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    return unit(x + 0.3 / np.sqrt(x.shape[1]) * rng.standard_normal(x.shape))


@pytest.fixture(scope="module")
def data() -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    vectors = clustered(30_000)
    ids = np.arange(len(vectors), dtype=np.int64) * 3 + 1000  # ids are not row numbers
    return ids, vectors


@pytest.fixture(scope="module")
def approx(data: tuple[NDArray[np.int64], NDArray[np.float32]]) -> VectorIndex:
    index = VectorIndex(DIM, exact_below=5_000, nprobe=16)
    index.add(*data, seq=1)
    return index


def brute(
    ids: NDArray[np.int64], vectors: NDArray[np.float32], queries: NDArray[np.float32], k: int
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    scores = queries @ vectors.T
    order = np.argsort(-scores, axis=1)[:, :k]
    return ids[order], np.take_along_axis(scores, order, axis=1)


def test_exact_search_matches_a_full_sort_across_chunks() -> None:
    vectors = clustered(1_000, seed=3)
    queries = noisy(vectors[:40])
    rows, scores = exact_search(vectors, queries, 7, chunk=64)
    want_rows, want_scores = brute(np.arange(1_000, dtype=np.int64), vectors, queries, 7)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_allclose(scores, want_scores, rtol=0, atol=1e-6)


def test_empty_index_and_padding_when_fewer_than_k() -> None:
    index = VectorIndex(DIM)
    assert len(index) == 0 and index.seq == 0 and not index.approximate
    ids, scores = index.search(clustered(10)[:2], 3)
    assert ids.shape == (2, 3) and (ids == -1).all() and np.isneginf(scores).all()
    vectors = clustered(10)
    index.add(np.array([5, 6], dtype=np.int64), vectors[:2], seq=4)
    ids, scores = index.search(vectors[:1], 4)
    assert ids.tolist() == [[5, 6, -1, -1]]
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-6) and np.isneginf(scores[0, 2:]).all()
    assert index.seq == 4 and len(index) == 2 and 5 in index


def test_approximate_agrees_with_exact_on_clustered_data(
    data: tuple[NDArray[np.int64], NDArray[np.float32]], approx: VectorIndex
) -> None:
    ids, vectors = data
    assert approx.approximate
    queries = noisy(vectors[::30])  # 1000 genuine-like queries
    got_ids, got_scores = approx.search(queries, 10)
    want_ids, _ = brute(ids, vectors, queries, 10)
    assert (got_ids[:, 0] == want_ids[:, 0]).mean() >= 0.99
    recall_5 = np.mean([len(set(a[:5]) & set(b[:5])) / 5 for a, b in zip(got_ids, want_ids, strict=True)])
    assert recall_5 >= 0.9
    # scores are exact, not quantised, and sorted best first
    rows = (got_ids - 1000) // 3
    exact = np.einsum("qkd,qd->qk", vectors[rows], queries)
    np.testing.assert_allclose(got_scores, exact, rtol=0, atol=1e-5)
    assert (np.diff(got_scores, axis=1) <= 0).all()


def test_batched_and_single_queries_give_the_same_answers(
    data: tuple[NDArray[np.int64], NDArray[np.float32]], approx: VectorIndex
) -> None:
    queries = noisy(data[1][:600:2], seed=5)  # more than one query block
    batch_ids, batch_scores = approx.search(queries, 5)
    for i in (0, 1, 299):
        one_ids, one_scores = approx.search(queries[i : i + 1], 5)
        assert one_ids[0].tolist() == batch_ids[i].tolist()
        np.testing.assert_allclose(one_scores[0], batch_scores[i], atol=1e-6)


def test_removed_ids_are_never_returned(data: tuple[NDArray[np.int64], NDArray[np.float32]]) -> None:
    ids, vectors = data
    for exact_below in (10**9, 5_000):
        index = VectorIndex(DIM, exact_below=exact_below)
        index.add(ids, vectors, seq=1)
        removed = np.zeros(len(ids), dtype=bool)
        removed[:2_500:5] = True  # one near-duplicate of each of 500 identities
        gone = ids[removed]
        index.remove(np.concatenate([gone, [10**12]]), seq=2)  # an unknown id is ignored
        assert len(index) == len(ids) - 500 and index.seq == 2
        assert not set(index.ids().tolist()) & set(gone.tolist())
        got, _ = index.search(vectors[removed], 10)  # the removed vectors themselves as queries
        assert not set(got.ravel().tolist()) & set(gone.tolist())
        want, _ = brute(ids[~removed], vectors[~removed], vectors[removed], 1)
        assert (got[:, 0] == want[:, 0]).mean() >= 0.95


def test_add_after_training_does_not_retrain_until_four_times_larger() -> None:
    vectors = clustered(25_000, seed=7)
    ids = np.arange(25_000, dtype=np.int64)
    index = VectorIndex(DIM, exact_below=5_000)
    index.add(ids[:5_000], vectors[:5_000], seq=1)
    trained = index._ann
    index.add(ids[5_000:20_000], vectors[5_000:20_000], seq=2)
    assert index._ann is trained and index._ann.ntotal == 20_000
    index.add(ids[20_000:], vectors[20_000:], seq=3)
    assert index._ann is not trained and index._ann.ntotal == 25_000
    got, _ = index.search(noisy(vectors[::50]), 1)
    assert (got[:, 0] == ids[::50]).mean() >= 0.95
    index.remove(ids[:23_000], seq=4)  # below exact_below / 2: back to exact search
    assert not index.approximate and sorted(index.ids().tolist()) == ids[23_000:].tolist()


def test_reserve_allocates_once() -> None:
    vectors = clustered(3_000, seed=6)
    index = VectorIndex(DIM)
    index.reserve(3_000)
    buffer = index._vectors
    for start in range(0, 3_000, 100):
        index.add(np.arange(start, start + 100, dtype=np.int64), vectors[start : start + 100], seq=start)
    assert index._vectors is buffer and len(index) == 3_000


def test_adding_an_existing_id_replaces_its_vector() -> None:
    vectors = clustered(20, seed=2)
    index = VectorIndex(DIM)
    index.add(np.arange(10, dtype=np.int64), vectors[:10], seq=1)
    index.add(np.array([3], dtype=np.int64), vectors[15:16], seq=2)
    assert len(index) == 10
    got, scores = index.search(vectors[15:16], 1)
    assert got[0, 0] == 3 and scores[0, 0] == pytest.approx(1.0, abs=1e-6)


def test_bad_input_raises_invalid_input() -> None:
    index = VectorIndex(DIM)
    vectors = clustered(10)
    with pytest.raises(InvalidInput):
        index.add(np.arange(10, dtype=np.int64), vectors * 2, seq=1)  # not unit
    with pytest.raises(InvalidInput):
        index.add(np.zeros(10, dtype=np.int64), vectors, seq=1)  # duplicate ids
    with pytest.raises(InvalidInput):
        index.add(np.arange(9, dtype=np.int64), vectors, seq=1)
    with pytest.raises(InvalidInput):
        index.search(np.ones((1, DIM + 1), dtype=np.float32), 1)
    with pytest.raises(InvalidInput):
        index.search(vectors, 0)
    index.add(np.arange(10, dtype=np.int64), vectors, seq=5)
    with pytest.raises(InvalidInput):
        index.remove(np.arange(2, dtype=np.int64), seq=4)  # seq never goes back
    index.advance(9)
    assert index.seq == 9 and len(index) == 10


# -- persistence and erasure ---------------------------------------------------------------------


def ivf_codes(index: VectorIndex, wanted: set[int]) -> dict[int, bytes]:
    """The quantised codes the IVF lists hold for ``wanted`` ids."""
    ivf = faiss.extract_index_ivf(index._ann)
    out: dict[int, bytes] = {}
    for cell in range(ivf.nlist):
        list_ids, codes = get_invlist(ivf.invlists, cell)
        for i, code in zip(list_ids.tolist(), codes, strict=True):
            if i in wanted:
                out[i] = code.tobytes()
    return out


def files_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def test_erased_vectors_and_codes_appear_in_no_saved_byte(
    tmp_path: Path, data: tuple[NDArray[np.int64], NDArray[np.float32]]
) -> None:
    ids, vectors = data
    index = VectorIndex(DIM, exact_below=5_000)
    index.add(ids, vectors, seq=1)
    gone = ids[[0, 1, 2, 777, 29_999]]
    codes = ivf_codes(index, set(gone.tolist()))
    assert len(codes) == 5 and all(len(c) == DIM for c in codes.values())
    index.save(tmp_path)
    blob = files_bytes(tmp_path)
    rows = (gone - 1000) // 3
    assert all(vectors[r].tobytes() in blob for r in rows)  # the scan would see them
    assert all(c in blob for c in codes.values())

    index.remove(gone, seq=2)
    index.save(tmp_path)
    blob = files_bytes(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]
    for r in rows:
        assert vectors[r].tobytes() not in blob
        assert vectors[r, :4].tobytes() not in blob  # not even the first four floats
    for code in codes.values():
        assert code not in blob
    assert not set(ivf_codes(index, set(gone.tolist())))
    loaded = VectorIndex.load(tmp_path, dim=DIM)
    assert loaded is not None and len(loaded) == len(ids) - 5
    assert not set(loaded.ids().tolist()) & set(gone.tolist())


def test_exact_mode_erasure_leaves_no_bytes(tmp_path: Path) -> None:
    vectors = clustered(100, seed=4)
    index = VectorIndex(DIM)
    index.add(np.arange(100, dtype=np.int64), vectors, seq=1)
    index.remove(np.array([0, 50, 99], dtype=np.int64), seq=2)
    index.save(tmp_path)
    blob = files_bytes(tmp_path)
    assert all(vectors[r].tobytes() not in blob for r in (0, 50, 99))
    assert vectors[1].tobytes() in blob


@pytest.mark.parametrize("exact_below", [10**9, 5_000])
def test_save_and_load_round_trip(
    tmp_path: Path, data: tuple[NDArray[np.int64], NDArray[np.float32]], exact_below: int
) -> None:
    ids, vectors = data
    index = VectorIndex(DIM, exact_below=exact_below)
    index.add(ids, vectors, seq=41)
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, dim=DIM, exact_below=exact_below)
    assert loaded is not None
    assert loaded.seq == 41 and len(loaded) == len(ids) and loaded.approximate == index.approximate
    queries = noisy(vectors[::100])
    for (a, sa), (b, sb) in [(index.search(queries, 5), loaded.search(queries, 5))]:
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(sa, sb)
    loaded.add(np.array([1], dtype=np.int64), vectors[:1], seq=42)  # still writable
    loaded.remove(ids[:10], seq=43)
    assert len(loaded) == len(ids) - 9


def test_empty_index_round_trip(tmp_path: Path) -> None:
    VectorIndex(DIM).save(tmp_path / "new" / "dir")
    loaded = VectorIndex.load(tmp_path / "new" / "dir", dim=DIM)
    assert loaded is not None and len(loaded) == 0 and loaded.seq == 0


def rewrite_header(path: Path, **changes: object) -> None:
    """Change header fields and recompute the checksum, so only the field itself is wrong."""
    import hashlib

    raw = path.read_bytes()
    (length,) = struct.unpack("<I", raw[8:12])
    header = json.loads(raw[12 : 12 + length])
    header.update(changes)
    encoded = json.dumps(header).encode()
    body = raw[:8] + struct.pack("<I", len(encoded)) + encoded + raw[12 + length : -32]
    path.write_bytes(body + hashlib.sha256(body).digest())


def test_load_returns_none_for_missing_corrupt_or_foreign_files(tmp_path: Path) -> None:
    vectors = clustered(6_000, seed=9)
    index = VectorIndex(DIM, exact_below=5_000)
    index.add(np.arange(6_000, dtype=np.int64), vectors, seq=3)
    good = tmp_path / "good"
    index.save(good)
    raw = (good / FILE_NAME).read_bytes()
    assert VectorIndex.load(tmp_path / "missing", dim=DIM) is None
    assert VectorIndex.load(good, dim=DIM + 1) is None

    def variant(name: str, content: bytes) -> Path:
        (tmp_path / name).mkdir()
        (tmp_path / name / FILE_NAME).write_bytes(content)
        return tmp_path / name

    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0x40
    cases = {
        "empty": b"",
        "garbage": b"\x00" * 1000,
        "truncated": raw[: len(raw) - 100],
        "header_only": raw[:40],
        "flipped": bytes(flipped),
        "longer": raw + b"\x00",
        "huge_header": raw[:8] + struct.pack("<I", 2**31) + raw[12:],
    }
    for name, content in cases.items():
        assert VectorIndex.load(variant(name, content), dim=DIM) is None, name
    for name, change in {
        "version": {"version": 99},
        "count": {"count": 5_999},
        "negative": {"count": -1},
        "seq_type": {"seq": "x"},
        "missing_field": {"dim": None},
    }.items():
        directory = variant(name, raw)
        rewrite_header(directory / FILE_NAME, **change)
        assert VectorIndex.load(directory, dim=DIM) is None, name
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "a_dir" / FILE_NAME).mkdir()
    assert VectorIndex.load(tmp_path / "a_dir", dim=DIM) is None
    assert VectorIndex.load(good, dim=DIM) is not None


def test_save_replaces_atomically_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    index = VectorIndex(DIM)
    vectors = clustered(50)
    index.add(np.arange(50, dtype=np.int64), vectors, seq=1)
    index.save(tmp_path)
    index.add(np.array([99], dtype=np.int64), vectors[:1], seq=2)
    index.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]
    loaded = VectorIndex.load(tmp_path, dim=DIM)
    assert loaded is not None and loaded.seq == 2 and len(loaded) == 51


# -- threads --------------------------------------------------------------------------------------


def test_searches_run_while_one_writer_adds_and_removes(
    data: tuple[NDArray[np.int64], NDArray[np.float32]],
) -> None:
    ids, vectors = data
    index = VectorIndex(DIM, exact_below=5_000, threads=2)
    index.add(ids[:10_000], vectors[:10_000], seq=1)
    queries = noisy(vectors[:10_000:97])
    errors: list[BaseException] = []
    stop = threading.Event()
    searches = [0]

    def reader() -> None:
        try:
            while not stop.is_set():
                got, scores = index.search(queries, 5)
                assert got.shape == (len(queries), 5) and (np.diff(scores, axis=1) <= 1e-6).all()
                searches[0] += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    seq = 1
    for start in range(10_000, 30_000, 2_000):
        seq += 1
        index.add(ids[start : start + 2_000], vectors[start : start + 2_000], seq=seq)
        seq += 1
        first = (start - 10_000) // 2
        index.remove(ids[first : first + 1_000], seq=seq)
    stop.set()
    for t in threads:
        t.join()
    assert errors == [] and searches[0] > 0
    assert len(index) == 30_000 - 10_000 and index.seq == seq
    got, _ = index.search(vectors[:10_000], 3)
    assert not set(got.ravel().tolist()) & set(ids[:10_000].tolist())
