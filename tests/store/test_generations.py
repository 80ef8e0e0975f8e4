"""Template generations on every backend: a store made before them is at generation 1, a pending
generation is invisible to searches and the index, and the switch is followed by every handle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import faceprint
from faceprint import Store
from faceprint.errors import StoreError
from faceprint.faces import Template
from faceprint.store import Sample, generations

OTHER = "other-model-v1"  # templates of another model, 64 values long


def _other_samples(count: int, seed: int) -> list[Sample]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [Sample(Template(v, OTHER), f"photo-{seed}-{i}") for i, v in enumerate(vectors)]


def _subject_ids(store: Store) -> dict[str, int]:
    with store.db.read() as conn:
        return {str(r[1]): int(r[0]) for r in conn.execute("SELECT id, name FROM subjects")}


def test_a_pending_generation_is_invisible_until_the_switch(
    store: Store, store_location: str | Path, face_samples: dict[str, Sample], engine: faceprint.Engine
) -> None:
    names = sorted(face_samples)[:3]
    for i, name in enumerate(names):
        store.enroll(f"s{i}", [face_samples[name]], purpose="p")
    with store.db.read() as conn:
        assert generations.template_space_in(conn).generation == 1 and generations.pending(conn) is None
    old_ids = store.indexed_ids()
    with faceprint.open_store(store_location, engine=engine) as other:  # another handle, index loaded
        assert other.indexed_ids() == old_ids
        pending, abandoned = generations.begin(store.db, OTHER, 64, store.write_audit, "test")
        assert abandoned is None and pending == generations.Pending(2, OTHER, 64)
        ids = _subject_ids(store)
        written = generations.write_pending(
            store.db, store.protector, pending, [(ids["s0"], _other_samples(2, 0))], store.now()
        )
        assert written == 2 and generations.migrated_subjects(store.db, pending) == {ids["s0"]}
        # nothing of it is seen: not by the index, the subjects' counts, or the search
        assert other.indexed_ids() == old_ids and store.check().index_agrees
        assert [s.templates for s in store.subjects()] == [1, 1, 1]
        top = store.search(face_samples[names[1]].template, purpose="p").faces[0].matches[0]
        assert top.subject == "s1"
        with pytest.raises(StoreError, match="2 subject"):  # s1 and s2 have no new template yet
            generations.switch(
                store.db, store.protector, pending, store.write_audit, "test", drop_missing=False
            )
        assert store.model_id == engine.model_id
        batch = [(ids["s1"], _other_samples(1, 1)), (ids["s2"], _other_samples(3, 2))]
        generations.write_pending(store.db, store.protector, pending, batch, store.now())
        result = generations.switch(
            store.db, store.protector, pending, store.write_audit, "test", drop_missing=False
        )
        assert (result.model, result.templates, result.removed, result.dropped) == (OTHER, 6, 3, ())
        assert store.model_id == OTHER and [s.templates for s in store.subjects()] == [2, 1, 3]
        # both handles follow: their indexes are rebuilt at the new dimension
        for handle in (store, other):
            assert handle.check().index_agrees and handle.synced_index().dim == 64
            assert not handle.indexed_ids() & old_ids and len(handle.indexed_ids()) == 6
        # a search that read the old model before the switch is refused, not answered from the new one
        with pytest.raises(StoreError, match=r"switched from .* during the search"):
            other.search_index("p", engine.model_id)
        # the new templates are what the index finds (s2's second one, itself)
        probe = store.protector.protect(_other_samples(3, 2)[1].template.vector[None, :])
        found, scores = other.synced_index().search(probe, 1)
        with store.db.read() as conn:
            row = conn.execute(
                "SELECT s.name, t.model_id FROM templates t JOIN subjects s ON s.id = t.subject_id "
                "WHERE t.id = ?",
                (int(found[0][0]),),
            ).fetchone()
        assert tuple(row) == ("s2", OTHER) and float(scores[0][0]) > 0.999
    with store.db.read() as conn:
        assert generations.template_space_in(conn).generation == 2 and generations.pending(conn) is None
