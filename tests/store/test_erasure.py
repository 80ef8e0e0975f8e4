"""No plaintext template on disk; after erasure not even the erased subject's ciphertext."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import faceprint
from faceprint import Store
from faceprint.store import Sample


def files_under(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def windows(blob: bytes, size: int = 32) -> list[bytes]:
    return [blob[i : i + size] for i in range(0, len(blob) - size + 1, size)]


def plaintexts(store: Store, sample: Sample) -> list[bytes]:
    """The template as the engine made it and as the store protects it (Q x), as float32 bytes."""
    raw = np.ascontiguousarray(sample.template.vector, dtype="<f4")
    protected = store.protector.protect(raw[None, :])[0]
    return [raw.tobytes(), np.ascontiguousarray(protected, dtype="<f4").tobytes()]


def ciphertexts(store: Store, subject: str) -> list[bytes]:
    with store.db.read() as conn:
        rows = conn.execute(
            "SELECT t.vector FROM templates t JOIN subjects s ON s.id = t.subject_id WHERE s.name = ?",
            (subject,),
        ).fetchall()
    return [bytes(r[0]) for r in rows]


def assert_absent(files: dict[Path, bytes], blobs: list[bytes], what: str) -> None:
    for blob in blobs:
        for window in windows(blob):
            for path, data in files.items():
                assert window not in data, f"{what} found in {path.name}"


def test_no_plaintext_template_and_no_erased_ciphertext_on_disk(
    tmp_path: Path, engine: faceprint.Engine, package_samples: dict[str, Sample]
) -> None:
    eileen = [package_samples["astronaut"], package_samples["astronaut_copy"]]
    grace = package_samples["hopper"]
    with faceprint.open_store(tmp_path / "g.db", engine=engine) as store:
        store.enroll("eileen", eileen, purpose="p")
        store.enroll("grace", [grace], purpose="p")
        assert store.search(eileen[1].template, purpose="p").matched
        store.close()  # index saved
    with faceprint.open_store(tmp_path / "g.db", engine=engine) as store:
        store.db.checkpoint()
        files = files_under(tmp_path)
        assert any(p.name == "vector-index.fpvi" for p in files)
        for sample in [*eileen, grace]:
            assert_absent(files, plaintexts(store, sample), "a plaintext template")
        sealed = ciphertexts(store, "eileen")
        assert len(sealed) == 2 and all(c in files[tmp_path / "g.db"] for c in sealed)  # the scan can find

        result = store.erase("eileen")
        assert result.templates == 2 and result.wal_cleared
        assert not store.search(eileen[1].template, purpose="p").matched
        files = files_under(tmp_path)
        assert_absent(files, sealed, "the erased subject's ciphertext")
        for sample in eileen:
            assert_absent(files, plaintexts(store, sample), "a plaintext template")
        assert all(c in files[tmp_path / "g.db"] for c in ciphertexts(store, "grace"))

    with faceprint.open_store(tmp_path / "g.db", engine=engine) as reopened:
        assert not reopened.search(eileen[1].template, purpose="p").matched
        assert reopened.search(grace.template, purpose="p").matched
        assert reopened.check().ok
