"""Erasure reaches backups (crypto-shredding), on SQLite and PostgreSQL.

Enrol two subjects, take a backup (SQLite: a copy of the database file and its WAL while the store
is open; PostgreSQL: a copy of the stopped server's data directory, by the project's own
scripts/postgres.sh), erase one, then attack the backup with the current key file
(:func:`tests.backup.attack`: every sealed blob found anywhere in the backup's bytes is decrypted
with every key the key file holds and every data key that unwraps from the backup). No template of
the erased subject may come out, while the other subject's must (so the attack can succeed).

The same test runs against the old sealing (``subject_keys`` off: templates under the storage
key) and must fail there: marked ``xfail(strict=True)``, so CI breaks if it ever passes.
tests/library/test_backup_erasure.py does the same for the photo library's faces.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from faceprint import Settings, Store
from faceprint.faces import Template
from faceprint.store import Sample
from faceprint.store.protection import key_file_path
from tests.backup import DIM, attack, recovered_count
from tests.postgres import Cluster

MODEL = "dlib-resnet-v1+mirror"


def templates(seed: int, n: int) -> list[Sample]:
    rng = np.random.default_rng(seed)
    return [
        Sample(Template(rng.standard_normal(DIM).astype(np.float32), MODEL), f"{seed}-{i}") for i in range(n)
    ]


def found(recovered: list[NDArray[np.float32]], store: Store, samples: list[Sample]) -> int:
    """How many of ``samples`` are among the recovered templates."""
    return recovered_count(recovered, store.protector.protect(np.stack([s.template.vector for s in samples])))


SEALINGS = [
    pytest.param(True, id="subject-keys"),
    pytest.param(
        False,
        id="old-sealing",
        marks=pytest.mark.xfail(
            strict=True, reason="storage-key sealing: the backup keeps the erased template"
        ),
    ),
]


@pytest.mark.parametrize("subject_keys", SEALINGS)
def test_sqlite_backup_holds_no_readable_template_of_an_erased_subject(
    tmp_path: Path, subject_keys: bool
) -> None:
    ada, bob = templates(1, 3), templates(2, 2)
    path = tmp_path / "g.db"
    backup = tmp_path / "backup"
    backup.mkdir()
    with Store(path, settings=Settings(subject_keys=subject_keys)) as store:
        store.enroll_many([("ada", ada), ("bob", bob)], purpose="p")
        for suffix in ("", "-wal", "-shm"):  # a copy of the open database: file and WAL
            if Path(f"{path}{suffix}").exists():
                shutil.copy(f"{path}{suffix}", backup / f"g.db{suffix}")
        assert (backup / "g.db-wal").stat().st_size > 0  # the commits are in the WAL copy
        store.erase("ada")
        recovered = attack(backup, key_file_path(path, ""), store.protector.store_id)
        assert found(recovered, store, bob) == len(bob)  # the attack works on what was not erased
        assert found(recovered, store, ada) == 0


@pytest.mark.parametrize("subject_keys", SEALINGS)
def test_postgres_backup_holds_no_readable_template_of_an_erased_subject(
    tmp_path: Path, own_cluster: Cluster, subject_keys: bool
) -> None:
    ada, bob = templates(1, 3), templates(2, 2)
    backup = tmp_path / "backup"
    url = own_cluster.new_database()
    with Store(url, settings=Settings(subject_keys=subject_keys)) as store:
        store.enroll_many([("ada", ada), ("bob", bob)], purpose="p")
        own_cluster.stop()  # a cold copy of the data directory: tables, WAL, everything
        shutil.copytree(own_cluster.directory / "data", backup)
        own_cluster.start()
        store.erase("ada")
        key_file = store.protector.key_file.path
        recovered = attack(backup, key_file, store.protector.store_id)
        assert found(recovered, store, bob) == len(bob)
        assert found(recovered, store, ada) == 0
        # the live server's files after the erasure (dead tuples, WAL) do not open either
        live = attack(own_cluster.directory / "data", key_file, store.protector.store_id)
        assert found(live, store, bob) == len(bob) and found(live, store, ada) == 0
