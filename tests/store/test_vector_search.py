"""The vector-search protocol: the shipped faiss index and the fake beside it answer alike."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.errors import InvalidInput
from faceprint.store.vector_index import VectorIndex
from faceprint.store.vector_search import FakeVectorSearch, VectorSearch


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("make", [lambda d: VectorIndex(d), FakeVectorSearch], ids=["faiss", "fake"])
def test_both_engines_follow_the_protocol(make: type) -> None:
    engine = make(8)
    assert isinstance(engine, VectorSearch)
    rng = np.random.default_rng(0)
    vectors = _unit(rng, 50, 8)
    engine.add(np.arange(50, dtype=np.int64), vectors, seq=3)
    assert len(engine) == 50 and engine.seq == 3
    ids, sims = engine.search(vectors[:2], 3)
    assert ids[:, 0].tolist() == [0, 1] and np.allclose(sims[:, 0], 1.0, atol=1e-5)
    engine.remove(np.array([0], dtype=np.int64), seq=4)
    assert len(engine) == 49 and engine.search(vectors[:1], 1)[0][0, 0] != 0
    with pytest.raises(InvalidInput):
        engine.remove(np.array([1], dtype=np.int64), seq=2)  # the feed never goes back
    ids, sims = engine.search(vectors[:1], 60)  # more than held: padded
    assert (ids[0, 49:] == -1).all() and np.isneginf(sims[0, 49:]).all()
    held = engine.vectors(np.array([7, 0, 49], dtype=np.int64))  # 0 was removed: a zero row
    assert held.shape == (3, 8) and np.allclose(held[[0, 2]], vectors[[7, 49]]) and not held[1].any()


def test_the_fake_ranks_exactly_like_the_faiss_index() -> None:
    rng = np.random.default_rng(1)
    vectors, queries = _unit(rng, 300, 16), _unit(rng, 20, 16)
    ids = rng.permutation(10_000)[:300].astype(np.int64)
    real, fake = VectorIndex(16), FakeVectorSearch(16)
    for engine in (real, fake):
        engine.add(ids, vectors, seq=1)
    real_ids, real_sims = real.search(queries, 10)
    fake_ids, fake_sims = fake.search(queries, 10)
    assert (real_ids == fake_ids).all()
    assert np.allclose(real_sims, fake_sims, atol=1e-5)
