"""The Milvus backend (``FACEPRINT_VECTORS``) against a real server: purposes, decisions equal to the
in-memory index on real templates, erasure seen by no later search on any replica, the feed resumed.

The rest of the store suite runs on Milvus too (``store_location``'s ``milvus`` parameter).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import faceprint
from faceprint import Settings
from faceprint.errors import StoreUnavailable
from faceprint.faces import Template
from faceprint.store import Sample, Store
from faceprint.store.milvus import MilvusVectors
from tests.conftest import sample_of, shared_dir
from tests.milvus import Server, destroy_server, start_server
from tests.postgres import Cluster

MODEL = "dlib-resnet-v1+mirror"


def template(rng: np.random.Generator) -> Template:
    vector = rng.normal(size=128).astype(np.float32)
    return Template(vector / np.linalg.norm(vector), MODEL)


def sample(t: Template, tag: str) -> Sample:
    return Sample(t, hashlib.sha256(tag.encode()).hexdigest())


def open_milvus(location: str, url: str) -> Store:
    return Store(location, settings=Settings.from_env(vectors=url + "?timeout=3"))


@pytest.fixture
def location(postgres: Cluster) -> str:
    return postgres.new_database()


def names(result: faceprint.store.SearchResult) -> list[str]:
    return [m.subject for face in result.faces for m in face.matches]


def test_a_search_touches_only_its_purpose(location: str, milvus: Server) -> None:
    rng = np.random.default_rng(1)
    door = {f"d{i}": template(rng) for i in range(6)}
    kyc = {f"k{i}": template(rng) for i in range(4)}
    with open_milvus(location, milvus.url) as store:
        store.enroll_many([(n, [sample(t, n)]) for n, t in door.items()], purpose="door access")
        store.enroll_many([(n, [sample(t, n)]) for n, t in kyc.items()], purpose="kyc")
        held = store.synced_index()
        assert isinstance(held, MilvusVectors) and len(held) == 10
        view = store.search_index("kyc")
        assert len(view) == 4  # the partition of the purpose, not the collection
        with store.db.read() as conn:
            kyc_ids = {
                int(r[0])
                for r in conn.execute(
                    "SELECT t.id FROM templates t JOIN subjects s ON s.id = t.subject_id WHERE s.purpose = ?",
                    ("kyc",),
                )
            }
        ids, _ = view.search(store.protector.protect(np.stack([door["d0"].vector])), 10)
        assert {int(i) for i in ids[0] if i >= 0} == kyc_ids  # a door probe, searched for kyc
        assert names(store.search(kyc["k2"], purpose="kyc")) == ["k2"]
        assert names(store.search(kyc["k2"], purpose="door access")) == []
        got = held.vectors(np.asarray([*sorted(held.ids().tolist())[:2], 10**9], dtype=np.int64))
        assert got.shape == (3, 128) and not got[2].any() and np.allclose(np.linalg.norm(got[:2], axis=1), 1)
        assert store.check().index_agrees


@pytest.fixture(scope="module")
def lfw_templates(
    engine: faceprint.Engine,
) -> tuple[list[tuple[str, Sample]], list[tuple[str | None, Sample]]]:
    """A gallery of 205 LFW people (one photo each) and 45 probes: 30 of them, 15 strangers."""
    lfw = shared_dir("lfw")
    folders = sorted(d for d in lfw.iterdir() if d.is_dir())
    several = [d for d in folders if len(list(d.glob("*.jpg"))) >= 2]
    single = [d for d in folders if len(list(d.glob("*.jpg"))) == 1]
    people = several[:120] + single[:85]
    gallery = [(d.name, sample_of(engine, sorted(d.glob("*.jpg"))[0])) for d in people]
    mated: list[tuple[str | None, Sample]] = [
        (d.name, sample_of(engine, sorted(d.glob("*.jpg"))[1])) for d in several[:30]
    ]
    strangers: list[tuple[str | None, Sample]] = [
        (None, sample_of(engine, d.glob("*.jpg").__next__())) for d in single[85:100]
    ]
    return gallery, mated + strangers


def test_decisions_equal_the_in_memory_index_on_real_templates(
    location: str,
    milvus: Server,
    lfw_templates: tuple[list[tuple[str, Sample]], list[tuple[str | None, Sample]]],
) -> None:
    gallery, probes = lfw_templates
    with Store(location) as memory, open_milvus(location, milvus.url) as remote:  # one database
        memory.enroll_many([(name, [s]) for name, s in gallery], purpose="kyc")
        assert isinstance(remote.synced_index(), MilvusVectors)
        for rule in ({}, {"fmr": 1e-3}, {"fpir": 0.1}):
            for _, probe in probes:
                a = memory.search(probe.template, purpose="kyc", top_k=5, **rule)
                b = remote.search(probe.template, purpose="kyc", top_k=5, **rule)
                assert (a.threshold, a.rule, a.fmr, a.fpir, a.eligible) == (
                    b.threshold,
                    b.rule,
                    b.fmr,
                    b.fpir,
                    b.eligible,
                )
                assert names(a) == names(b)
                for ma, mb in zip(a.faces[0].matches, b.faces[0].matches, strict=True):
                    assert ma.similarity == pytest.approx(mb.similarity, abs=1e-5)
                    assert ma.fmr == pytest.approx(mb.fmr, rel=1e-3)
        assert "cohort" in a.rule or "cohort" in remote.search(probes[0][1].template, purpose="kyc").rule
        # recall@1 of the engine itself against exact search over the same protected vectors
        held = remote.synced_index()
        ids = held.ids()
        matrix = held.vectors(ids)
        queries = remote.protector.protect(np.stack([p.template.vector for _, p in probes]))
        exact = ids[np.argmax(queries @ matrix.T, axis=1)]
        found, _ = remote.search_index("kyc").search(queries, 1)
        assert float(np.mean(found[:, 0] == exact)) >= 0.99
        named = sum(
            1 for want, p in probes if want and names(remote.search(p.template, purpose="kyc"))[:1] == [want]
        )
        assert named >= 20  # the mated probes mostly named (a sanity check of the real templates)


def test_an_erased_subject_is_never_seen_again_from_either_replica_100_times(
    location: str, milvus: Server
) -> None:
    rng = np.random.default_rng(7)
    crowd = {f"c{i}": template(rng) for i in range(30)}
    doomed = {f"x{i}": template(rng) for i in range(100)}
    with open_milvus(location, milvus.url) as a, open_milvus(location, milvus.url) as b:
        a.enroll_many([(n, [sample(t, n)]) for n, t in {**crowd, **doomed}.items()], purpose="door")
        assert names(b.search(doomed["x0"], purpose="door")) == ["x0"]  # the other replica sees it
        for i, (name, t) in enumerate(doomed.items()):
            eraser, other = (a, b) if i % 2 == 0 else (b, a)
            erased = set(eraser.synced_index().ids().tolist())
            eraser.erase(name)
            erased -= set(eraser.synced_index().ids().tolist())
            assert len(erased) == 1
            query = eraser.protector.protect(np.stack([t.vector]))
            for replica in (eraser, other):  # at once, from both replicas
                assert name not in names(replica.search(t, purpose="door", fmr=0.5))
                ids, _ = replica.search_index("door").search(query, 20)  # Milvus itself, not only the join
                assert not erased & set(ids[0].tolist())
        assert len(a.synced_index()) == len(b.synced_index()) == 30


def test_the_feed_resumes_where_milvus_left_it(location: str, milvus: Server) -> None:
    rng = np.random.default_rng(3)
    people = {f"p{i}": template(rng) for i in range(12)}
    with open_milvus(location, milvus.url) as remote:
        remote.enroll_many([(n, [sample(t, n)]) for n, t in list(people.items())[:6]], purpose="door")
        generation = remote.synced_index().name
    # writes that never reached Milvus: a replica without it, as if the writer died before applying
    with Store(location) as offline:
        offline.enroll_many([(n, [sample(t, n)]) for n, t in list(people.items())[6:]], purpose="door")
        offline.erase("p1")
    with open_milvus(location, milvus.url) as remote:  # a restarted replica: applies only what is missing
        held = remote.synced_index()
        assert held.name == generation and len(held) == 11  # no rebuild
        assert names(remote.search(people["p8"], purpose="door")) == ["p8"]
        assert names(remote.search(people["p1"], purpose="door", fmr=0.5)) == []
        assert held.marked_seq() == held.seq
        assert remote.rebuild_index() == 11  # faceprint store reindex: a new collection from PostgreSQL
        assert remote.synced_index().name != generation and remote.check().index_agrees
        assert not MilvusVectors.exists(held.config, generation)  # the old one is dropped


@pytest.fixture
def own_server() -> Iterator[Server]:
    server = start_server()
    try:
        yield server
    finally:
        destroy_server(server)


def test_a_milvus_that_goes_away_loses_nothing_and_is_caught_up(
    location: str, own_server: Server, tmp_path: Path
) -> None:
    rng = np.random.default_rng(5)
    people = {f"p{i}": template(rng) for i in range(8)}
    with open_milvus(location, own_server.url) as remote:
        remote.enroll_many([(n, [sample(t, n)]) for n, t in people.items()], purpose="door")
        assert names(remote.search(people["p2"], purpose="door")) == ["p2"]
        own_server.stop()  # SIGKILL
        with pytest.raises(StoreUnavailable, match="vector engine"):
            remote.search(people["p2"], purpose="door")
        with pytest.raises(StoreUnavailable, match="vector engine"):
            remote.erase("p2")  # committed in PostgreSQL; Milvus is caught up before any search answers
        assert "p2" not in {s.name for s in remote.subjects()} and len(remote.subjects()) == 7
    # the server comes back empty (a fresh data directory): the collection is rebuilt from PostgreSQL
    fresh = start_server()
    try:
        with open_milvus(location, fresh.url) as remote:
            assert names(remote.search(people["p2"], purpose="door", fmr=0.5)) == []
            assert names(remote.search(people["p3"], purpose="door")) == ["p3"]
            assert len(remote.synced_index()) == 7 and remote.check().index_agrees
    finally:
        destroy_server(fresh)


def test_vectors_needs_a_postgresql_store(tmp_path: Path) -> None:
    with pytest.raises(faceprint.errors.InvalidInput, match="PostgreSQL"):
        Store(tmp_path / "g.db", settings=Settings.from_env(vectors="milvus://127.0.0.1:1"))
    with pytest.raises(faceprint.errors.InvalidInput, match="milvus://HOST:PORT"):
        Store(tmp_path / "g.db", settings=Settings.from_env(vectors="http://x"))


def test_crowding_reorders_alike_on_milvus(location: str, milvus: Server) -> None:
    """From 500 eligible subjects crowding (index.vectors and neighbour searches) reorders the subjects
    that pass: the same order and crowding values on both engines, with another purpose beside."""
    rng = np.random.default_rng(11)
    centre = template(rng).vector
    people = {}
    for i in range(520):  # a crowded cone: many subjects pass a loose threshold
        v = centre + rng.normal(size=128).astype(np.float32) * 0.025
        people[f"s{i}"] = Template(v / np.linalg.norm(v), MODEL)
    others = {f"o{i}": template(rng) for i in range(30)}
    with Store(location) as memory, open_milvus(location, milvus.url) as remote:
        memory.enroll_many([(n, [sample(t, n)]) for n, t in people.items()], purpose="kyc")
        memory.enroll_many([(n, [sample(t, n)]) for n, t in others.items()], purpose="door")
        reordered = 0
        for name in ("s1", "s7", "s99"):
            a = memory.search(people[name], purpose="kyc", top_k=8, fmr=0.5).faces[0]
            b = remote.search(people[name], purpose="kyc", top_k=8, fmr=0.5).faces[0]
            assert [m.subject for m in a.matches] == [m.subject for m in b.matches]
            for ma, mb in zip(a.matches, b.matches, strict=True):
                assert ma.similarity == pytest.approx(mb.similarity, abs=1e-5)
                assert (ma.crowding is None) == (mb.crowding is None)
                if ma.crowding is not None:
                    reordered += 1
                    assert ma.crowding == pytest.approx(mb.crowding, abs=1e-4)
        assert reordered
