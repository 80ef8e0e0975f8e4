"""Gallery crowding: several subjects passing a search are ordered by similarity less half their
crowding, computed from the gallery as it is now, within the search's purpose."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import faceprint
from faceprint import Store
from faceprint.faces import Template
from faceprint.store import crowding
from faceprint.store.records import Sample

FMR = 0.05  # loose, so that many subjects pass and the order is what is tested


def around(base: np.ndarray, n: int, scale: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = base[None, :] + rng.normal(0, scale, (n, base.size)).astype(np.float32)
    return np.asarray(out / np.linalg.norm(out, axis=1, keepdims=True), dtype=np.float32)


def enrol(store: Store, vectors: np.ndarray, model: str, prefix: str, purpose: str) -> None:
    store.enroll_many(
        [(f"{prefix}{i}", [Sample(Template(v, model), f"{prefix}{i}")]) for i, v in enumerate(vectors)],
        purpose=purpose,
    )


def expected_crowding(store: Store, name: str, purpose: str) -> float:
    """Brute force: mean of the K best similarities of ``name``'s template to other subjects of ``purpose``."""
    index = store.synced_index()
    with store.db.read() as conn:
        rows = conn.execute(
            "SELECT t.id, s.name FROM templates t JOIN subjects s ON s.id = t.subject_id WHERE s.purpose = ?",
            (purpose,),
        ).fetchall()
    ids = np.array([int(r[0]) for r in rows], dtype=np.int64)
    names = [str(r[1]) for r in rows]
    vectors = index.vectors(ids)
    mine = vectors[names.index(name)]
    sims = sorted((float(mine @ v) for v, n in zip(vectors, names, strict=True) if n != name), reverse=True)
    return float(np.mean(sims[: crowding.K]))


@pytest.fixture
def gallery(store: Store, package_samples: dict[str, Sample]) -> tuple[Store, np.ndarray, str]:
    """``crowding.MIN_SUBJECTS`` + 50 subjects of purpose "p" around the astronaut's real template."""
    probe = package_samples["astronaut"].template
    enrol(store, around(probe.vector, crowding.MIN_SUBJECTS + 50, 0.035, seed=1), probe.model, "s", "p")
    return store, probe.vector, probe.model


def test_subjects_that_pass_are_ordered_by_crowding_corrected_similarity(
    gallery: tuple[Store, np.ndarray, str],
) -> None:
    store, probe, model = gallery
    plain = store.search(Template(probe, model), purpose="p", fmr=FMR, top_k=20).faces[0].matches
    assert len(plain) == 20  # many pass at this loose rate
    head = plain[: crowding.RERANKED]
    assert all(m.crowding is not None for m in head) and all(
        m.crowding is None for m in plain[crowding.RERANKED :]
    )
    for m in head:
        assert m.crowding == pytest.approx(expected_crowding(store, m.subject, "p"), abs=1e-5)
    corrected = [m.similarity - (m.crowding or 0.0) / 2 for m in head]
    assert corrected == sorted(corrected, reverse=True)
    # only the order changes: the same subjects pass, each with its raw similarity and FMR
    by_similarity = sorted(head, key=lambda m: m.similarity, reverse=True)
    assert {m.subject for m in head} == {m.subject for m in by_similarity}
    assert all(
        b.similarity >= c.similarity for b, c in zip(by_similarity, plain[crowding.RERANKED :], strict=False)
    )
    assert plain[0].to_json()["crowding"] == pytest.approx(plain[0].crowding, abs=1e-6)


def test_a_hub_loses_its_lead_to_a_lonelier_subject_and_gets_it_back_when_its_crowd_is_erased(
    gallery: tuple[Store, np.ndarray, str], store_location: str | Path
) -> None:
    store, probe, model = gallery
    rng = np.random.default_rng(7)
    side = rng.normal(size=probe.size).astype(np.float32)
    side -= (side @ probe) * probe
    side /= np.linalg.norm(side)
    hub = probe + 0.28 * side
    hub /= np.linalg.norm(hub)
    other = rng.normal(size=probe.size).astype(np.float32)
    other -= (other @ probe) * probe + (other @ side) * side
    other /= np.linalg.norm(other)
    lonely = probe - 0.30 * other
    lonely /= np.linalg.norm(lonely)
    assert probe @ hub > probe @ lonely  # the hub is the raw best
    enrol(store, np.stack([hub, lonely]), model, "x", "p")
    crowd = around(hub + 0.35 * side, 40, 0.01, seed=3)  # people near the hub, not near the probe
    enrol(store, crowd, model, "crowd", "p")
    first = store.search(Template(probe, model), purpose="p", fmr=FMR).faces[0].matches[0]
    assert first.subject == "x1"  # the lonely subject: the hub's crowding costs it the lead
    raw = dataclasses.replace(store.settings, crowding=False)
    with faceprint.open_store(store_location, settings=raw) as plain:  # FACEPRINT_CROWDING=0
        matches = plain.search(Template(probe, model), purpose="p", fmr=FMR).faces[0].matches
        assert matches[0].subject == "x0" and all(m.crowding is None for m in matches)
    for i in range(len(crowd)):
        store.erase(f"crowd{i}")
    assert store.search(Template(probe, model), purpose="p", fmr=FMR).faces[0].matches[0].subject == "x0"


def test_other_purposes_never_take_part_and_small_galleries_keep_the_raw_order(
    gallery: tuple[Store, np.ndarray, str],
) -> None:
    store, probe, model = gallery
    before = store.search(Template(probe, model), purpose="p", fmr=FMR).faces[0].matches
    enrol(store, around(probe, 200, 0.01, seed=5), model, "q", "q")  # a dense cluster, another purpose
    after = store.search(Template(probe, model), purpose="p", fmr=FMR).faces[0].matches
    assert [(m.subject, m.crowding) for m in after] == [(m.subject, m.crowding) for m in before]
    small = store.search(Template(probe, model), purpose="q", fmr=FMR).faces[0].matches  # 200 subjects
    assert len(small) >= 2 and all(m.crowding is None for m in small)
    assert [m.similarity for m in small] == sorted((m.similarity for m in small), reverse=True)
