"""The vector index is a cache: rebuilt when missing or corrupt, caught up when stale, across processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import faceprint
from faceprint.store import Sample
from tests.store.test_crash import WORKER


def test_missing_or_corrupt_index_is_rebuilt(
    tmp_path: Path, engine: faceprint.Engine, package_samples: dict[str, Sample]
) -> None:
    path = tmp_path / "g.db"
    with faceprint.open_store(path, engine=engine) as store:
        store.enroll("eileen", [package_samples["astronaut"]], purpose="p")
    index_dir = path.with_name("g.db.index")
    files = [p for p in index_dir.iterdir() if p.name != "lock"]
    assert files
    for f in files:  # corrupt: truncate every index file
        f.write_bytes(f.read_bytes()[:7])
    with faceprint.open_store(path, engine=engine) as store:
        assert store.search(package_samples["astronaut_copy"].template, purpose="p").matched
        assert store.check().ok
    for f in index_dir.iterdir():
        f.unlink()
    index_dir.rmdir()
    with faceprint.open_store(path, engine=engine) as store:
        assert store.search(package_samples["astronaut_copy"].template, purpose="p").matched
        assert store.rebuild_index() == 1
        assert store.audit(limit=1)[0].operation == "rebuild"


def test_another_writer_is_seen_without_reopening(
    store_location: str | Path, engine: faceprint.Engine, package_samples: dict[str, Sample]
) -> None:
    path = store_location
    with (
        faceprint.open_store(path, engine=engine) as reader,
        faceprint.open_store(path, engine=engine) as writer,
    ):
        probe = package_samples["astronaut_copy"].template
        assert not reader.search(probe, purpose="p").matched
        writer.enroll("eileen", [package_samples["astronaut"]], purpose="p")
        assert reader.search(probe, purpose="p").matched
        writer.erase("eileen")
        assert not reader.search(probe, purpose="p").matched


def test_searches_keep_working_while_another_process_enrols(
    tmp_path: Path, engine: faceprint.Engine, package_samples: dict[str, Sample]
) -> None:
    import numpy as np

    vectors = tmp_path / "v.npy"
    np.save(vectors, np.stack([s.template.vector for s in package_samples.values()]))
    path = tmp_path / "g.db"
    model = package_samples["astronaut"].template.model
    with faceprint.open_store(path, engine=engine) as store:
        store.enroll("first", [package_samples["hopper"]], purpose="p")
        writer = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), str(vectors), model, "200"],
            stdout=subprocess.PIPE,
            text=True,
        )
        searches = errors = 0
        probe = package_samples["hopper"].template

        def search_loop() -> None:
            nonlocal searches, errors
            while writer.poll() is None:
                try:
                    # the per-comparison rule: past 200 subjects the default's cohort rule rightly names
                    # no one when the gallery holds the probe's face under hundreds of names
                    assert store.search(probe, purpose="p", top_k=3, fmr=1e-3).matched
                    searches += 1
                except Exception:
                    errors += 1

        threads = [threading.Thread(target=search_loop) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert writer.wait() == 0
        assert errors == 0 and searches > 10
        assert len(store.indexed_ids()) == 1 + 200 * 3  # caught up from the change feed, no reopen
        assert store.check().ok
