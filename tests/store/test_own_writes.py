"""A writer's own enrolments reach its index without a read of the feed, and only when they are
all the index lacks (another writer in between: caught up from the feed as always)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

import faceprint
from faceprint.store import Sample


def _count_reads(store: faceprint.Gallery, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    reads = [0]
    original: Callable[..., AbstractContextManager[Any]] = store.db.read

    def counted(**kwargs: Any) -> AbstractContextManager[Any]:
        reads[0] += 1
        return original(**kwargs)

    monkeypatch.setattr(store.db, "read", counted)
    return reads


def test_own_enrolments_skip_the_catch_up_and_another_writer_is_still_seen(
    store_location: str | Path,
    engine: faceprint.Engine,
    package_samples: dict[str, Sample],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b, c = (package_samples[k] for k in ("astronaut", "hopper", "astronaut_copy"))

    def best(template: Any) -> tuple[str, float]:
        first = store.search(template, purpose="p", top_k=1).faces[0].matches[0]
        return first.subject, first.similarity

    with (
        faceprint.open_store(store_location, engine=engine) as store,
        faceprint.open_store(store_location, engine=engine) as other,
    ):
        store.enroll("eileen", [a], purpose="p")
        assert best(a.template)[0] == "eileen"  # the index is loaded
        other.enroll("grace", [b], purpose="p")  # the index of `store` is now behind the feed
        # not all it lacks (unless the PostgreSQL listener caught up already): caught up from the feed
        store.enroll("copy", [c], purpose="p")
        assert [best(t)[0] for t in (a.template, b.template, c.template)] == ["eileen", "grace", "copy"]
        store.erase("copy")
        reads = _count_reads(store, monkeypatch)
        store.enroll("copy", [c], purpose="p")  # nothing in between: its own rows, as they are
        if "milvus" not in str(store_location):  # the Milvus collection is written from the feed
            assert reads[0] == 0
        before = [best(t) for t in (a.template, b.template, c.template)]
        assert [s for s, _ in before] == ["eileen", "grace", "copy"]
        assert store.rebuild_index() == 3  # the index built from the table gives the same answers
        after = [best(t) for t in (a.template, b.template, c.template)]
        assert [s for s, _ in after] == [s for s, _ in before]
        assert all(abs(x - y) < 1e-5 for (_, x), (_, y) in zip(after, before, strict=True))
        assert store.check().ok
