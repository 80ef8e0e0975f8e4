"""Erasure leaves no bytes behind: not in the database, its WAL, or the vector index files."""

from __future__ import annotations

from pathlib import Path

import faceprint
from faceprint.store import Sample
from faceprint.store.gallery import _pack


def files_under(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_erased_template_bytes_appear_nowhere_on_disk(
    tmp_path: Path, engine: faceprint.Engine, package_samples: dict[str, Sample]
) -> None:
    eileen = [package_samples["astronaut"], package_samples["astronaut_copy"]]
    grace = package_samples["hopper"]
    with faceprint.open_store(tmp_path / "g.db", engine=engine) as store:
        store.enroll("eileen", eileen, purpose="p")
        store.enroll("grace", [grace], purpose="p")
        assert store.search(eileen[1].template, purpose="p").matched
        store.db.checkpoint()
        # positive control: the scan finds a template that is stored
        on_disk = b"".join(files_under(tmp_path).values())
        assert _pack(eileen[0].template) in on_disk

        result = store.erase("eileen")
        assert result.templates == 2 and result.wal_cleared
        assert not store.search(eileen[1].template, purpose="p").matched

        files = files_under(tmp_path)
        for sample in eileen:
            blob = _pack(sample.template)
            for path, data in files.items():
                for start in range(0, len(blob), 64):  # any 64-byte window of the template
                    assert blob[start : start + 64] not in data, f"template bytes left in {path.name}"
        assert _pack(grace.template) in files[tmp_path / "g.db"]  # the other subject is intact

    with faceprint.open_store(tmp_path / "g.db", engine=engine) as reopened:
        assert not reopened.search(eileen[1].template, purpose="p").matched
        assert reopened.search(grace.template, purpose="p").matched
        assert reopened.check().ok
