"""Bulk enrolment's batched path (PostgreSQL) gives the same rows and results as the per-subject
path (SQLite, and PostgreSQL batches naming an existing subject): both backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceprint import Store
from faceprint.faces import Template
from faceprint.store import Sample

MODEL = "dlib-resnet-v1+mirror"


def test_a_batch_of_new_subjects_then_one_with_an_existing_subject(store_location: str | Path) -> None:
    rng = np.random.default_rng(3)
    vecs = rng.standard_normal((6, 128)).astype(np.float32)
    sample = [Sample(Template(v, MODEL), f"h{i}") for i, v in enumerate(vecs)]
    with Store(store_location) as store:
        first = store.enroll_many(
            [("ada", [sample[0], sample[1], sample[0]]), ("bob", [sample[2]])], purpose="p"
        )
        assert [(r.subject, r.created, r.added, r.skipped) for r in first] == [
            ("ada", True, 2, 1),
            ("bob", True, 1, 0),
        ]
        second = store.enroll_many([("bob", [sample[2], sample[3]]), ("cy", [sample[4]])], purpose="p")
        assert [(r.subject, r.created, r.added, r.skipped) for r in second] == [
            ("bob", False, 1, 1),
            ("cy", True, 1, 0),
        ]
        assert {s.name: s.templates for s in store.subjects()} == {"ada": 2, "bob": 2, "cy": 1}
        assert sorted(e.subjects[0] for e in store.audit() if e.operation == "enroll") == [
            "ada",
            "bob",
            "bob",
            "cy",
        ]
        found = store.search(Template(vecs[1], MODEL), purpose="p", fmr=1e-3)
        assert [m.subject for m in found.faces[0].matches] == ["ada"]
        assert store.check().ok
        store.erase("ada")
        assert store.rebuild_index() == 3
