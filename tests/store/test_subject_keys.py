"""Per-subject data keys: bucket-mates of an erased subject keep working (in this process and in
another that still holds the old keys), old stores migrate without re-enrolment, rotation
replaces the wrapping keys. Both backends (``store_location``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceprint import Settings, Store
from faceprint.faces import Template
from faceprint.privacy import KeyFile, keys_by_id, sealed_key_id
from faceprint.store import Sample
from faceprint.store.subject_keys import BUCKETS

MODEL = "dlib-resnet-v1+mirror"


def vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((n, 128)).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def entries(vecs: np.ndarray, prefix: str = "s") -> list[tuple[str, list[Sample]]]:
    return [(f"{prefix}{i}", [Sample(Template(v, MODEL), f"{prefix}{i}")]) for i, v in enumerate(vecs)]


def key_file(store: Store) -> KeyFile:
    return store.protector.key_file


def subject_id(store: Store, name: str) -> int:
    with store.db.read() as conn:
        return int(conn.execute("SELECT id FROM subjects WHERE name = ?", (name,)).fetchone()[0])


def matched(store: Store, vector: np.ndarray) -> list[str]:
    found = store.search(Template(vector, MODEL), purpose="p", fmr=1e-3)
    return [m.subject for face in found.faces for m in face.matches]


def test_an_erasure_rekeys_its_bucket_and_every_other_subject_still_opens(store_location: str | Path) -> None:
    vecs = vectors(BUCKETS + 3)
    with Store(store_location) as writer, Store(store_location) as other:
        writer.enroll_many(entries(vecs[: BUCKETS + 2]), purpose="p")
        assert matched(other, vecs[5]) == ["s5"]  # the other process holds the keys of now
        first = "s0"
        bucket = subject_id(writer, first) % BUCKETS
        mate = next(f"s{i}" for i in range(1, BUCKETS + 2) if subject_id(writer, f"s{i}") % BUCKETS == bucket)
        with writer.db.read() as conn:
            old_key = str(
                conn.execute("SELECT key_id FROM key_buckets WHERE bucket = ?", (bucket,)).fetchone()[0]
            )
        before = len(key_file(writer).read().wrapping)

        writer.erase(first)

        with writer.db.read() as conn:
            new_key = str(
                conn.execute("SELECT key_id FROM key_buckets WHERE bucket = ?", (bucket,)).fetchone()[0]
            )
            assert conn.execute("SELECT count(*) FROM subject_keys").fetchone()[0] == BUCKETS + 1
        wrapping = key_file(writer).read().wrapping_keys
        assert new_key != old_key and old_key not in wrapping and new_key in wrapping
        assert len(wrapping) == before  # one key replaced, the old one pruned
        # the erased subject's bucket-mate, in this process and in the one with the old keys
        mate_vector = vecs[int(mate[1:])]
        assert matched(writer, mate_vector) == [mate]
        assert matched(other, vecs[0]) == []
        other.rebuild_index()
        assert matched(other, mate_vector) == [mate]  # rebuilt: unwraps with the re-read key file
        # the stale process enrols into the re-keyed bucket's wrapping key (it re-reads the key file)
        other.enroll("late", [Sample(Template(vecs[-1], MODEL), "late")], purpose="p")
        assert matched(writer, vecs[-1]) == ["late"]
        assert writer.check().index_agrees and other.check().index_agrees
    with Store(store_location) as reopened:
        assert reopened.rebuild_index() == BUCKETS + 2


def test_a_store_sealed_the_old_way_migrates_to_subject_keys_on_open(store_location: str | Path) -> None:
    vecs = vectors(4, seed=1)
    with Store(store_location, settings=Settings(subject_keys=False)) as old:
        old.enroll_many(entries(vecs[:3]), purpose="p")
        storage_id = old.protector.keyring.storage_key_id
        with old.db.read() as conn:
            assert conn.execute("SELECT count(*) FROM subject_keys").fetchone()[0] == 0
            blobs = [bytes(r[0]) for r in conn.execute("SELECT vector FROM templates")]
        assert {sealed_key_id(b) for b in blobs} == {storage_id}
    with Store(store_location) as store:  # subject_keys on (the default): migrated at open
        with store.db.read() as conn:
            rows = conn.execute(
                "SELECT t.vector, k.wrapped, t.subject_id FROM templates t JOIN subject_keys k "
                "ON k.subject_id = t.subject_id"
            ).fetchall()
        assert len(rows) == 3
        for blob, wrapped, sid in rows:
            data_key = store.protector.subjects.unwrap(int(sid), wrapped)
            assert sealed_key_id(bytes(blob)) in keys_by_id([data_key])
        assert matched(store, vecs[1]) == ["s1"]
        store.enroll("s3", [Sample(Template(vecs[3], MODEL), "s3")], purpose="p")
        exported = store.export("s1")
        assert len(exported["templates"]) == 1 and [e["operation"] for e in exported["audit"]] == [
            "enroll",
            "search",
        ]
        migrated = [e for e in store.audit() if e.operation == "migrate-subject-keys"]
        assert len(migrated) == 1 and migrated[0].results == 3 and migrated[0].subjects == ()
        assert store.check().index_agrees


def test_storage_rotation_replaces_every_wrapping_key(store_location: str | Path) -> None:
    vecs = vectors(5, seed=2)
    with Store(store_location) as store:
        store.enroll_many(entries(vecs), purpose="p")
        before = set(key_file(store).read().wrapping_keys)
        assert len(before) == BUCKETS  # made at the first enrolment, in one key-file write
        store.rotate_keys(storage=True)
        after = set(key_file(store).read().wrapping_keys)
        assert len(after) == BUCKETS and not before & after
        with store.db.read() as conn:
            named = {str(r[0]) for r in conn.execute("SELECT key_id FROM key_buckets")}
        assert named == after
        assert matched(store, vecs[2]) == ["s2"]
    with Store(store_location) as reopened:
        assert reopened.rebuild_index() == 5
        assert matched(reopened, vecs[4]) == ["s4"]
