"""Keys at open, rotation, revocability and unlinkability of stored templates."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

import faceprint
from faceprint import Store
from faceprint.errors import StoreError
from faceprint.store import Sample
from faceprint.store.protection import Protector


def stored(store: Store) -> dict[str, np.ndarray]:
    """The protected templates (Q x) as the store holds them, decrypted with its own keys: what a
    thief who copied the database *and* its key file would have."""
    with store.db.read() as conn:
        rows = conn.execute(
            "SELECT s.name, t.vector, s.id, k.wrapped FROM templates t JOIN subjects s ON s.id = t.subject_id "
            "LEFT JOIN subject_keys k ON k.subject_id = s.id"
        ).fetchall()
    keys = store.protector.subjects
    return {
        name: store.protector.open_vector(blob, 128, None if wrapped is None else keys.unwrap(sid, wrapped))
        for name, blob, sid, wrapped in rows
    }


def enrol_all(store: Store, samples: dict[str, Sample]) -> None:
    store.enroll_many([(name, [s]) for name, s in samples.items()], purpose="p")


def same_and_other(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    names = sorted(a)
    sims = np.stack([a[n] for n in names]) @ np.stack([b[n] for n in names]).T
    same = np.diag(sims)
    other = sims[~np.eye(len(names), dtype=bool)]
    return same, other


def test_a_wrong_or_missing_key_file_is_refused_and_changes_nothing(
    store_location: str | Path, tmp_path: Path, engine: faceprint.Engine, package_samples: dict[str, Sample]
) -> None:
    path = store_location
    with faceprint.open_store(path, engine=engine) as store:
        store.enroll("eileen", [package_samples["astronaut"]], purpose="p")
    before = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    other = tmp_path / "other" / "keys.key"
    with faceprint.open_store(tmp_path / "other" / "x.db", settings=faceprint.Settings(key_file=str(other))):
        pass  # a valid key file of another store
    with pytest.raises(StoreError, match="wrong key file"):
        faceprint.open_store(path, settings=faceprint.Settings(key_file=str(other)))
    with pytest.raises(StoreError, match="missing"):
        faceprint.open_store(path, settings=faceprint.Settings(key_file=str(tmp_path / "nowhere.key")))
    after = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.parent == tmp_path}
    assert {k: v for k, v in after.items() if not k.endswith(("-wal", "-shm"))} == {
        k: v for k, v in before.items() if not k.endswith(("-wal", "-shm")) and k in after
    }
    with faceprint.open_store(path, engine=engine) as store:  # the right key still opens it
        assert store.search(package_samples["astronaut_copy"].template, purpose="p").matched


def test_rotating_the_template_key_revokes_stolen_templates(
    store_location: str | Path, engine: faceprint.Engine, face_samples_or_package: dict[str, Sample]
) -> None:
    samples = face_samples_or_package
    with faceprint.open_store(store_location, engine=engine) as store:
        enrol_all(store, samples)
        probe_name = sorted(samples)[0]
        stolen = stored(store)
        assert store.rotate_keys(template=True) == len(samples)
        after = stored(store)
        # every subject still matches their own engine template: accuracy is unchanged
        for name, sample in samples.items():
            assert store.search(sample.template, purpose="p", top_k=1).faces[0].matches[0].subject == name
        same, other = same_and_other(stolen, after)
        threshold = store.engine.calibration.threshold(1e-3)
        assert (same < threshold).all(), "a stolen pre-rotation template still matches"
        # like strangers under two keys, unlike same-person scores in one store (>0.9): the
        # same-person scores cannot be told from other people's. (Their common level is not near 0
        # for every key: templates share a mean direction, and its image under the random new key
        # moves both sets alike, by 0.2 or more for some keys.) The distributions over thousands of
        # LFW people are in bench/bench_privacy.py.
        assert abs(same.mean() - other.mean()) < 0.1 and same.max() < 0.6
        assert probe_name in after


def test_the_same_person_in_two_stores_is_unlinkable(
    tmp_path: Path, engine: faceprint.Engine, face_samples_or_package: dict[str, Sample]
) -> None:
    samples = face_samples_or_package
    with (
        faceprint.open_store(tmp_path / "a.db", engine=engine) as a,
        faceprint.open_store(tmp_path / "b.db", engine=engine) as b,
    ):
        enrol_all(a, samples)
        enrol_all(b, samples)
        same, other = same_and_other(stored(a), stored(b))
        assert (same < a.engine.calibration.threshold(1e-3)).all()
        assert abs(same.mean() - other.mean()) < 0.1 and abs(same.mean()) < 0.2
        # within one store the transform changes nothing: similarities equal the engine's
        vectors = {n: s.template.vector for n, s in samples.items()}
        within_same, _ = same_and_other(stored(a), {n: stored(a)[n] for n in vectors})
        engine_sims = (
            np.stack([vectors[n] for n in sorted(vectors)])
            @ np.stack([vectors[n] for n in sorted(vectors)]).T
        )
        protected = stored(a)
        store_sims = (
            np.stack([protected[n] for n in sorted(vectors)])
            @ np.stack([protected[n] for n in sorted(vectors)]).T
        )
        assert np.abs(engine_sims - store_sims).max() <= 1e-6
        assert np.allclose(within_same, 1.0, atol=1e-5)


def test_storage_key_rotation_reencrypts_and_old_key_is_gone(
    tmp_path: Path, engine: faceprint.Engine, package_samples: dict[str, Sample]
) -> None:
    path = tmp_path / "g.db"
    with faceprint.open_store(path, engine=engine) as store:
        store.enroll("eileen", [package_samples["astronaut"]], purpose="p")
        with store.db.read() as conn:
            (old_blob,) = conn.execute("SELECT vector FROM templates").fetchone()
        old_key = store.protector.keyring.storage[0]
        store.rotate_keys(storage=True)
        assert store.search(package_samples["astronaut_copy"].template, purpose="p").matched
    files = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert bytes(old_blob) not in files and old_key not in files
    keys = json.loads((tmp_path / "g.db.key").read_text())
    assert len(keys["storage"]) == 1 and len(keys["template"]) == 1
    assert base64.b64encode(old_key).decode() not in keys["storage"]
    with faceprint.open_store(path, engine=engine) as store:
        assert store.search(package_samples["astronaut_copy"].template, purpose="p").matched
        assert "rotate-storage-key" in [e.operation for e in store.audit(limit=3)]


def test_a_rotation_that_dies_before_commit_leaves_the_store_readable(
    store_location: str | Path,
    engine: faceprint.Engine,
    package_samples: dict[str, Sample],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = store_location
    with faceprint.open_store(path, engine=engine) as store:
        store.enroll("eileen", [package_samples["astronaut"]], purpose="p")

        def crash(*args: object, **kwargs: object) -> int:
            raise KeyboardInterrupt  # the process dies in the middle of the transaction

        monkeypatch.setattr(Protector, "reprotect", crash)
        with pytest.raises(KeyboardInterrupt):
            store.rotate_keys(storage=True, template=True)
    monkeypatch.undo()
    with faceprint.open_store(path, engine=engine) as store:  # key file holds old and new keys
        assert store.search(package_samples["astronaut_copy"].template, purpose="p").matched
        store.rotate_keys(storage=True, template=True)
        assert store.search(package_samples["astronaut_copy"].template, purpose="p").matched


def test_another_process_rotating_keys_is_followed(
    store_location: str | Path, engine: faceprint.Engine, package_samples: dict[str, Sample]
) -> None:
    path = store_location
    with faceprint.open_store(path, engine=engine) as a, faceprint.open_store(path, engine=engine) as b:
        a.enroll("eileen", [package_samples["astronaut"]], purpose="p")
        assert b.search(package_samples["astronaut_copy"].template, purpose="p").matched
        a.rotate_keys(template=True)
        assert b.search(package_samples["astronaut_copy"].template, purpose="p").matched
        b.enroll("grace", [package_samples["hopper"]], purpose="p")
        assert (
            a.search(package_samples["hopper"].template, purpose="p").faces[0].matches[0].subject == "grace"
        )
