"""PostgreSQL stopped during a key rotation, a subject creation and an API-key creation: each either
completes or leaves nothing half-written, and succeeds when retried after the server is back.

PostgreSQL only (the SQLite equivalents are the kill -9 tests of test_crash.py and the rotation
kill of test_protection.py). The server is this test's own, stopped with ``pg_ctl stop -m fast``
(scripts/postgres.sh), which disconnects every client at once: what a crash looks like to us.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from faceprint import Store
from faceprint.errors import StoreError
from faceprint.faces import Template
from faceprint.store import Sample
from tests.postgres import Cluster

MODEL = "dlib-resnet-v1+mirror"


def recovered(store: Store, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            len(store)
            return
        except StoreError:
            assert time.monotonic() < deadline, "the store did not recover"
            time.sleep(0.2)


def during_outage(cluster: Cluster, work: Callable[[], object], delay: float) -> BaseException | None:
    """Run ``work`` and stop the server ``delay`` s into it; start it again; ``work``'s error."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except StoreError as exc:
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(delay)
    cluster.stop()
    thread.join(timeout=120)
    cluster.start()
    return failure[0] if failure else None


def test_a_rotation_killed_midway_is_all_or_nothing_and_completes_when_retried(own_cluster: Cluster) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((3000, 128)).astype(np.float32)
    url = own_cluster.new_database()
    with Store(url) as store:
        store.enroll_many(
            [(f"s{i}", [Sample(Template(v, MODEL), f"s{i}")]) for i, v in enumerate(vecs)], purpose="p"
        )
        old_ids = store.protector.key_ids()
        error = during_outage(own_cluster, lambda: store.rotate_keys(storage=True, template=True), delay=0.5)
        recovered(store)
        print(f"\nrotation under an outage: {'failed: ' + type(error).__name__ if error else 'completed'}")
        with Store(url) as reopened:  # opens with the key file as the outage left it
            rotated = reopened.protector.key_ids() != old_ids
            assert rotated or error is not None, "the rotation returned but the keys did not change"
            assert reopened.rebuild_index() == 3000  # every template opens under the keys meta names
            if not rotated:
                assert reopened.rotate_keys(storage=True, template=True) == 3000
            found = reopened.search(Template(vecs[7], MODEL), purpose="p", fmr=1e-3)
            assert [m.subject for m in found.faces[0].matches] == ["s7"]
            assert reopened.check().ok


def test_subject_and_api_key_creation_during_an_outage_leave_nothing_and_complete_after(
    own_cluster: Cluster,
) -> None:
    url = own_cluster.new_database()
    with Store(url) as store:
        store.create_subject("first", purpose="p")
        own_cluster.stop()
        with pytest.raises(StoreError):
            store.create_subject("ada", purpose="p")
        with pytest.raises(StoreError):
            store.keys.create("ops", "admin")
        own_cluster.start()
        recovered(store)
        assert [s.name for s in store.subjects()] == ["first"]  # nothing half-written
        assert store.keys.list() == []
        assert [e.operation for e in store.audit()] == ["consent"]
        with store.db.read() as conn:
            assert conn.execute("SELECT count(*) FROM subject_keys").fetchone()[0] == 1
        assert store.create_subject("ada", purpose="p").name == "ada"
        record, key = store.keys.create("ops", "admin")
        assert store.keys.authenticate(key) == record
        assert [e.operation for e in store.audit()] == ["key-create", "consent", "consent"]
